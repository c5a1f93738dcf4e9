//! What ships beside the binary, checked as it will be used: the container image's runtime
//! contract (its default command run as its user in its working directory, the health check,
//! `/version`, `/metrics` through `promtool`), `--version`, the systemd unit, the Kubernetes
//! manifests, the Prometheus alert rules, docker-compose's health checks and the settings table
//! of docs/OPERATIONS.md. Every tool these need is installed by `scripts/test`; a missing tool
//! fails the test, it never skips it.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use clap::CommandFactory;

const BIN: &str = env!("CARGO_BIN_EXE_buoycast");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The lint findings of `promtool check metrics` that SPEC §9 makes us keep: the gauge of open
/// streams is named `sse_connections_total`, and the broadcast latency is in milliseconds
/// (docs/OPERATIONS.md, "Metric names promtool flags").
const ALLOWED_PROMTOOL_FINDINGS: [&str; 2] = [
    "sse_connections_total non-counter metrics should not have \"_total\" suffix",
    "sse_broadcast_latency_ms metric names should not contain abbreviated units",
];

fn path(relative: &str) -> PathBuf {
    Path::new(ROOT).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Runs a tool, failing the test with a hint when it is not installed.
fn run(cmd: &mut Command) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output()
        .unwrap_or_else(|e| panic!("{program} could not run ({e}); scripts/test installs it"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---- The container image ----------------------------------------------------------------

/// One instruction of a Dockerfile stage: keyword and the rest (continuation lines joined).
#[derive(Debug)]
struct Instruction {
    keyword: String,
    rest: String,
}

/// The Dockerfile's stages, each a list of instructions (comments dropped).
fn dockerfile_stages() -> Vec<Vec<Instruction>> {
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let full = std::mem::take(&mut pending);
        let (keyword, rest) = full.split_once(' ').unwrap_or((full.as_str(), ""));
        let instruction = Instruction {
            keyword: keyword.to_uppercase(),
            rest: rest.trim().to_owned(),
        };
        if instruction.keyword == "FROM" {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("the Dockerfile starts with FROM")
            .push(instruction);
    }
    stages
}

/// The runtime contract of the image's final stage.
#[derive(Debug)]
struct Image {
    user: (u32, u32),
    workdir: String,
    volumes: Vec<String>,
    env: Vec<(String, String)>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
    /// Where the binary is copied to.
    binary: String,
    /// Directories the image creates with `install -d -o UID -g GID -m MODE DIR`.
    dirs: Vec<(String, u32, u32, u32)>,
}

fn json_array(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not an exec-form JSON array: {s}: {e}"))
}

fn image() -> Image {
    let stages = dockerfile_stages();
    let last = stages.last().expect("a stage");
    let one = |keyword: &str| -> &str {
        let found: Vec<&Instruction> = last.iter().filter(|i| i.keyword == keyword).collect();
        assert_eq!(found.len(), 1, "the final stage has one {keyword}");
        &found[0].rest
    };
    let (uid, gid) = one("USER")
        .split_once(':')
        .expect("USER is numeric UID:GID (Kubernetes' runAsNonRoot can check only a number)");
    let user = (
        uid.parse().expect("numeric uid"),
        gid.parse().expect("numeric gid"),
    );
    let env = last
        .iter()
        .filter(|i| i.keyword == "ENV")
        .map(|i| {
            let (k, v) = i.rest.split_once('=').expect("ENV KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let healthcheck = one("HEALTHCHECK");
    let (_, check) = healthcheck
        .split_once(" CMD ")
        .expect("HEALTHCHECK [OPTIONS] CMD [...]");
    let binary = last
        .iter()
        .filter(|i| i.keyword == "COPY" && i.rest.starts_with("--from="))
        .find_map(|i| {
            i.rest
                .split_whitespace()
                .last()
                .filter(|d| d.ends_with("/buoycast"))
        })
        .expect("COPY --from=build ... /…/buoycast")
        .to_owned();
    let mut dirs = Vec::new();
    for run in last.iter().filter(|i| i.keyword == "RUN") {
        let words: Vec<&str> = run.rest.split_whitespace().collect();
        for w in words.windows(9) {
            if w[0] == "install" && w[1] == "-d" && w[2] == "-o" && w[4] == "-g" && w[6] == "-m" {
                dirs.push((
                    w[8].to_owned(),
                    w[3].parse().expect("uid"),
                    w[5].parse().expect("gid"),
                    u32::from_str_radix(w[7], 8).expect("octal mode"),
                ));
            }
        }
    }
    Image {
        user,
        workdir: one("WORKDIR").to_owned(),
        volumes: json_array(one("VOLUME")),
        env,
        entrypoint: json_array(one("ENTRYPOINT")),
        cmd: json_array(one("CMD")),
        healthcheck: json_array(check),
        binary,
        dirs,
    }
}

/// An HTTP/1.0 GET (no chunked body), returning the status and the body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// Kills the server if the test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on `host` (a port free on 127.0.0.1 may be taken on 0.0.0.0).
fn free_port(host: &str) -> u16 {
    std::net::TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn the_image_runs_its_default_command_as_its_user_and_reports_healthy() {
    let image = image();
    assert_ne!(image.user.0, 0, "the image runs as a non-root user");
    assert_ne!(image.user.1, 0, "and group");
    assert!(
        image.volumes.contains(&image.workdir),
        "the working directory (where the default sqlite://buoycast.db lands) is the data \
         volume: {image:?}"
    );
    let volume_dir =
        image.dirs.iter().find(|d| d.0 == image.workdir).expect(
            "the image creates the data directory with its ownership (install -d -o -g -m)",
        );
    assert_eq!(
        (volume_dir.1, volume_dir.2),
        image.user,
        "the data directory belongs to the image's user"
    );

    // The image's filesystem, as far as the server touches it.
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let inside = |p: &str| root.path().join(p.trim_start_matches('/'));
    let binary = inside(&image.binary);
    std::fs::create_dir_all(binary.parent().expect("bin dir")).expect("bin dir");
    std::fs::copy(BIN, &binary).expect("copy the binary");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data = inside(&image.workdir);
    std::fs::create_dir_all(&data).expect("data dir");
    for ancestor in data
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(root.path()))
    {
        std::fs::set_permissions(ancestor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::os::unix::fs::chown(&data, Some(volume_dir.1), Some(volume_dir.2)).expect("chown");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(volume_dir.3)).expect("chmod");

    // The image's environment, on a free port (the address's host part is the image's).
    let listen = image
        .env
        .iter()
        .find(|(k, _)| k == "BUOYCAST_LISTEN")
        .map(|(_, v)| v.clone())
        .expect("the image sets BUOYCAST_LISTEN");
    let port = free_port(listen.rsplit_once(':').expect("HOST:PORT").0);
    let mut env: Vec<(String, String)> = vec![(
        "PATH".into(),
        format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            binary.parent().expect("bin dir").display()
        ),
    )];
    for (k, v) in &image.env {
        let v = if k == "BUOYCAST_LISTEN" {
            let (host, _) = v.rsplit_once(':').expect("HOST:PORT");
            format!("{host}:{port}")
        } else {
            v.clone()
        };
        env.push((k.clone(), v));
    }
    let as_user = |program: &[String]| {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={}", image.user.0))
            .arg(format!("--regid={}", image.user.1))
            .arg("--clear-groups")
            .arg("--")
            .args(program)
            .current_dir(&data)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
        c
    };

    let logs = root.path().join("server.log");
    let log_file = std::fs::File::create(&logs).expect("log file");
    let program: Vec<String> = image.entrypoint.iter().chain(&image.cmd).cloned().collect();
    let mut server = Server(
        as_user(&program)
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .expect("setpriv could not run; scripts/test installs util-linux"),
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.0.try_wait().expect("wait") {
            panic!(
                "`{}` as {:?} in {} exited with {status}:\n{}",
                program.join(" "),
                image.user,
                image.workdir,
                std::fs::read_to_string(&logs).unwrap_or_default()
            );
        }
        if let Ok((200, _)) = get(addr, "/health") {
            break;
        }
        assert!(Instant::now() < deadline, "no /health within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The image's HEALTHCHECK, run as the image would run it.
    let check = run(&mut as_user(&image.healthcheck));
    assert!(
        check.status.success(),
        "HEALTHCHECK failed: {}",
        text(&check.stderr)
    );

    // The store was created in the volume, owned by the image's user.
    let db = data.join("buoycast.db");
    let meta = std::fs::metadata(&db).expect("buoycast.db in the data volume");
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), image.user);

    // /version names this build.
    let (status, body) = get(addr, "/version").expect("/version");
    assert_eq!(status, 200, "{body}");
    let version: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(version["commit"], expected_commit(), "{body}");
    assert!(version["features"].is_array(), "{body}");

    // /metrics: process metrics, build info, and nothing promtool objects to beyond SPEC §9.
    let (status, metrics) = get(addr, "/metrics").expect("/metrics");
    assert_eq!(status, 200);
    for series in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(
            metrics.lines().any(|l| l.starts_with(series)),
            "{series}missing:\n{metrics}"
        );
    }
    let build_info = format!(
        "buoycast_build_info{{version=\"{}\",commit=\"{}\",features=\"\"}} 1",
        env!("CARGO_PKG_VERSION"),
        expected_commit()
    );
    assert!(
        metrics.lines().any(|l| l == build_info),
        "{build_info} missing:\n{metrics}"
    );
    assert_promtool_accepts(&metrics);

    // SIGTERM stops it cleanly.
    let pid = server.0.id().to_string();
    assert!(
        run(Command::new("kill").args(["-TERM", &pid]))
            .status
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(&logs).unwrap_or_default()
    );
}

/// `promtool check metrics` finds nothing but [`ALLOWED_PROMTOOL_FINDINGS`].
fn assert_promtool_accepts(metrics: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool could not run; scripts/test installs it (Debian package prometheus)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    let findings: BTreeSet<String> = text(&out.stdout)
        .lines()
        .chain(text(&out.stderr).lines())
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let unexpected: Vec<&String> = findings
        .iter()
        .filter(|f| !ALLOWED_PROMTOOL_FINDINGS.contains(&f.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool check metrics: {unexpected:#?}\n(allowed: {ALLOWED_PROMTOOL_FINDINGS:#?})"
    );
    // 0: clean; 3: lint findings only (all allowed above). 1 would be a parse error.
    match out.status.code() {
        Some(0) => assert!(findings.is_empty()),
        Some(3) => assert!(!findings.is_empty()),
        other => panic!("promtool check metrics exited with {other:?}: {findings:?}"),
    }
}

#[test]
fn promtool_flags_what_it_should_and_the_allowance_is_exact() {
    // The allowance is no blanket: an unlisted finding still fails.
    let text = "# TYPE sse_connections_total gauge\nsse_connections_total 1\n\
                # HELP queue_depth_total Depth.\n# TYPE queue_depth_total gauge\nqueue_depth_total 1\n";
    let result = std::panic::catch_unwind(|| assert_promtool_accepts(text));
    assert!(result.is_err(), "an unlisted finding must fail the check");
}

/// The commit `build.rs` should have recorded.
fn expected_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(ROOT)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[test]
fn version_flag_names_the_commit() {
    let out = run(Command::new(BIN).arg("--version"));
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!(
            "buoycast {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            expected_commit()
        )
    );
}

#[test]
fn the_dependency_layer_holds_every_manifest_and_a_placeholder_for_every_target() {
    let stages = dockerfile_stages();
    let build = &stages[0];
    let copy_all = build
        .iter()
        .position(|i| i.keyword == "COPY" && i.rest == ". .")
        .expect("the build stage copies the sources (COPY . .)");
    let layer: String = build[..copy_all]
        .iter()
        .map(|i| format!("{} {}\n", i.keyword, i.rest))
        .collect();
    assert!(layer.contains("cargo build --release --locked"), "{layer}");
    let metadata = run(Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(ROOT));
    assert!(metadata.status.success(), "{}", text(&metadata.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).expect("JSON");
    for package in metadata["packages"].as_array().expect("packages") {
        let manifest = package["manifest_path"].as_str().expect("manifest");
        let manifest = manifest
            .strip_prefix(&format!("{ROOT}/"))
            .unwrap_or(manifest);
        assert!(
            layer.contains(manifest),
            "{manifest} is not copied before the dependency build"
        );
        for target in package["targets"].as_array().expect("targets") {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .expect("kind")
                .iter()
                .filter_map(|k| k.as_str())
                .collect();
            if !kinds
                .iter()
                .any(|k| ["lib", "bin", "bench", "custom-build"].contains(k))
            {
                continue;
            }
            let src = target["src_path"].as_str().expect("src_path");
            let src = src.strip_prefix(&format!("{ROOT}/")).unwrap_or(src);
            assert!(
                layer.contains(src),
                "{src} ({kinds:?}) has no placeholder in the dependency layer:\n{layer}"
            );
        }
    }
}

// ---- docker-compose ---------------------------------------------------------------------

/// A YAML file (one or more documents) as JSON, through Python's yaml (installed with
/// kubernetes-validate).
fn yaml_documents(relative: &str) -> Vec<serde_json::Value> {
    let out = run(Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(path(relative)));
    assert!(out.status.success(), "{relative}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn compose_checks_the_health_of_every_server() {
    let compose = &yaml_documents("docker-compose.yml")[0];
    let services = compose["services"].as_object().expect("services");
    let mut servers = 0;
    for (name, service) in services {
        let command = service["command"].as_array();
        let serves = command.is_some_and(|c| c.iter().any(|a| a == "serve" || a == "run"));
        if service["image"] == "buoycast" && serves {
            servers += 1;
            let test = service["healthcheck"]["test"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} has no health check"));
            assert!(
                test.iter()
                    .any(|a| a.as_str().is_some_and(|a| a.contains("/health"))),
                "{name}'s health check asks /health"
            );
        }
    }
    assert!(servers >= 2, "compose runs at least two servers");
    // The proxy waits for healthy servers.
    let depends = &services["nginx"]["depends_on"];
    for (name, condition) in depends.as_object().expect("depends_on with conditions") {
        if services[name]["image"] == "buoycast" {
            assert_eq!(condition["condition"], "service_healthy", "nginx → {name}");
        }
    }
}

// ---- systemd ----------------------------------------------------------------------------

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = read("deploy/buoycast.service");
    for setting in [
        "ExecStart=/usr/local/bin/buoycast run",
        "DynamicUser=yes",
        "StateDirectory=buoycast",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "LimitNOFILE=",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(setting)),
            "{setting} missing"
        );
    }
    // `verify` also checks that ExecStart's binary exists: point it at the one just built.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("buoycast.service");
    std::fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/local/bin/buoycast ",
            &format!("ExecStart={BIN} "),
        ),
    )
    .expect("write");
    let verify = run(Command::new("systemd-analyze").arg("verify").arg(&copy));
    assert!(
        verify.status.success() && verify.stderr.is_empty() && verify.stdout.is_empty(),
        "systemd-analyze verify: {}{}",
        text(&verify.stdout),
        text(&verify.stderr)
    );
    // Exposure 2.0 or lower ("OK" in systemd's scale of 0 to 10).
    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&copy));
    assert!(
        security.status.success(),
        "systemd-analyze security: {}{}",
        text(&security.stdout),
        text(&security.stderr)
    );
}

// ---- Kubernetes -------------------------------------------------------------------------

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(path("deploy/k8s"))
        .expect("deploy/k8s")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn kubernetes_manifests_match_the_schemas() {
    let out = run(Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .args(manifests()));
    assert!(
        out.status.success(),
        "kubernetes-validate: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn kubernetes_workloads_probe_health_and_readiness_and_embedded_sqlite_has_one_writer() {
    let mut kinds = Vec::new();
    for file in manifests() {
        let relative = file.strip_prefix(ROOT).expect("inside").to_string_lossy();
        let relative = relative.trim_start_matches('/').to_owned();
        for doc in yaml_documents(&relative) {
            let kind = doc["kind"].as_str().expect("kind").to_owned();
            kinds.push((relative.clone(), kind.clone()));
            let pod = &doc["spec"]["template"]["spec"];
            if kind == "StatefulSet" || kind == "Deployment" {
                assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{relative}");
                assert_eq!(
                    pod["securityContext"]["runAsUser"],
                    image().user.0,
                    "{relative}: the image's user"
                );
                let container = &pod["containers"][0];
                let args = container["args"].as_array().expect("args");
                if args.iter().any(|a| a == "serve" || a == "run") {
                    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
                    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
                }
            }
            if kind == "StatefulSet" {
                assert_eq!(doc["spec"]["replicas"], 1, "SQLite has one writer");
                assert!(doc["spec"]["volumeClaimTemplates"].is_array(), "a PVC");
            }
        }
    }
    for (file, kind) in [
        ("deploy/k8s/embedded.yaml", "StatefulSet"),
        ("deploy/k8s/embedded.yaml", "Service"),
        ("deploy/k8s/embedded.yaml", "PodDisruptionBudget"),
        ("deploy/k8s/distributed.yaml", "Deployment"),
        ("deploy/k8s/distributed.yaml", "Service"),
        ("deploy/k8s/distributed.yaml", "PodDisruptionBudget"),
    ] {
        assert!(
            kinds.iter().any(|(f, k)| f == file && k == kind),
            "{file} has no {kind}"
        );
    }
}

// ---- Prometheus rules -------------------------------------------------------------------

#[test]
fn alert_rules_check_and_pass_their_unit_tests() {
    let check = run(Command::new("promtool")
        .args(["check", "rules"])
        .arg(path("deploy/prometheus/alerts.yml")));
    assert!(
        check.status.success(),
        "promtool check rules: {}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    let test = run(Command::new("promtool")
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(path("deploy/prometheus")));
    assert!(
        test.status.success(),
        "promtool test rules: {}{}",
        text(&test.stdout),
        text(&test.stderr)
    );
}

// ---- docs/OPERATIONS.md -----------------------------------------------------------------

const SETTINGS_BEGIN: &str = "<!-- settings:begin (generated by tests/deploy.rs) -->";
const SETTINGS_END: &str = "<!-- settings:end -->";

/// The settings table rendered from the command line's definition: every flag of every
/// subcommand, its environment variable, default and help.
fn settings_table() -> String {
    struct Row {
        flag: String,
        env: String,
        default: String,
        help: String,
        commands: Vec<String>,
    }
    let mut rows: Vec<Row> = Vec::new();
    let cli = buoycast::config::Cli::command();
    let mut commands: Vec<(String, &clap::Command)> = Vec::new();
    for sub in cli.get_subcommands() {
        commands.push((sub.get_name().to_owned(), sub));
        for nested in sub.get_subcommands() {
            commands.push((format!("{} {}", sub.get_name(), nested.get_name()), nested));
        }
    }
    for (name, command) in commands {
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if arg.is_hide_set() || long == "help" || long == "version" {
                continue;
            }
            let flag = format!("`--{long}`");
            if let Some(row) = rows.iter_mut().find(|r| r.flag == flag) {
                row.commands.push(name.clone());
                continue;
            }
            let env = arg
                .get_env()
                .map(|e| format!("`{}`", e.to_string_lossy()))
                .unwrap_or_default();
            let default: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let default = if default.is_empty() {
                String::new()
            } else {
                format!("`{}`", default.join(","))
            };
            let mut help = arg
                .get_help()
                .map(|h| h.to_string())
                .unwrap_or_default()
                .replace('\n', " ")
                .replace('|', "\\|");
            if !help.is_empty() && !help.ends_with('.') {
                help.push('.');
            }
            if !arg.get_action().takes_values() {
                help.push_str(
                    " A switch (off unless given; the variable takes `true` or `false`).",
                );
            } else {
                let values: Vec<String> = arg
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| format!("`{}`", v.get_name()))
                    .collect();
                if !values.is_empty() {
                    help.push_str(&format!(" One of {}.", values.join(", ")));
                }
            }
            rows.push(Row {
                flag,
                env,
                default,
                help,
                commands: vec![name.clone()],
            });
        }
    }
    let mut table =
        String::from("| flag | environment | default | commands | what |\n|---|---|---|---|---|\n");
    for r in rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.flag,
            r.env,
            r.default,
            r.commands.join(", "),
            r.help.trim()
        ));
    }
    table
}

#[test]
fn operations_doc_lists_every_setting_as_the_binary_defines_it() {
    let doc_path = path("docs/OPERATIONS.md");
    let doc = read("docs/OPERATIONS.md");
    let start = doc.find(SETTINGS_BEGIN).expect("settings begin marker") + SETTINGS_BEGIN.len();
    let end = doc.find(SETTINGS_END).expect("settings end marker");
    let expected = format!("\n{}", settings_table());
    if doc[start..end] != expected {
        // BUOYCAST_REGENERATE_DOCS=1 cargo test --test deploy operations_doc
        if std::env::var_os("BUOYCAST_REGENERATE_DOCS").is_some() {
            let updated = format!("{}{}{}", &doc[..start], expected, &doc[end..]);
            std::fs::write(&doc_path, updated).expect("write docs/OPERATIONS.md");
        } else {
            panic!(
                "docs/OPERATIONS.md's settings table differs from the command line's definition; \
                 regenerate it with\n  BUOYCAST_REGENERATE_DOCS=1 cargo test --test deploy \
                 operations_doc\nexpected:\n{expected}"
            );
        }
    }
}
