//! The publishable crates package and build from their packages: `cargo package` (with its
//! verification build, offline from the local registry cache) for `ndbc` and `buoycast`, the
//! metadata crates.io asks for, the licence files in each package, and the crates that must not
//! be published marked so.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The workspace's packages as `cargo metadata` describes them.
fn packages() -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(ROOT)
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    metadata["packages"].as_array().expect("packages").clone()
}

/// Whether crates.io may receive the package (`publish` unset).
fn publishable(package: &serde_json::Value) -> bool {
    package["publish"].is_null()
}

#[test]
fn publishable_crates_carry_the_metadata_and_licences_crates_io_needs() {
    let packages = packages();
    let names: Vec<&str> = packages
        .iter()
        .filter(|p| publishable(p))
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "buoycast and ndbc are published: {names:?}");
    for package in packages.iter().filter(|p| publishable(p)) {
        let name = package["name"].as_str().expect("name");
        for field in ["description", "license", "readme"] {
            assert!(package[field].is_string(), "{name}: no {field}");
        }
        assert!(
            !package["keywords"].as_array().expect("keywords").is_empty(),
            "{name}: no keywords"
        );
        let dir = Path::new(package["manifest_path"].as_str().expect("path"))
            .parent()
            .expect("dir")
            .to_owned();
        for file in ["LICENSE-MIT", "LICENSE-APACHE", "README.md"] {
            assert!(dir.join(file).is_file(), "{name}: {file} missing");
        }
        for dependency in package["dependencies"].as_array().expect("deps") {
            if dependency["path"].is_string() && dependency["kind"].is_null() {
                assert!(
                    dependency["req"] != "*",
                    "{name}: the path dependency {} needs a version to be published",
                    dependency["name"]
                );
            }
        }
    }
    let loadgen = packages
        .iter()
        .find(|p| p["name"] == "buoycast-loadgen")
        .expect("loadgen");
    assert_eq!(
        loadgen["publish"],
        serde_json::json!([]),
        "the load generator is not published"
    );
}

#[test]
fn cargo_package_builds_each_publishable_crate_from_its_package() {
    // Offline from the local registry cache; the verification build unpacks each package and
    // builds it (ndbc through a local overlay of the registry, as it is not on crates.io yet).
    // It shares the workspace's target directory: its dependencies are the ones a plain
    // `cargo build` needs (scripts/test builds them anyway for the browser tests), so it adds
    // about a minute, not a cold build. Cargo gives the packaged crates the same artifact names
    // as the workspace's, so the next build of the workspace recompiles `buoycast` and `ndbc`
    // (the sources are the same files).
    forget_extracted_overlays();
    let out = Command::new(env!("CARGO"))
        .args([
            "package",
            "--offline",
            "--locked",
            "--allow-dirty",
            "-p",
            "ndbc",
            "-p",
            "buoycast",
        ])
        .current_dir(ROOT)
        .output()
        .expect("cargo package");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo package failed:\n{stderr}");
    for name in ["ndbc", "buoycast"] {
        assert!(
            stderr.contains(&format!("Verifying {name} v")),
            "{name} was not verified:\n{stderr}"
        );
    }
    // The packaged files: sources, licences, README; no tests, benches or tooling.
    let list = Command::new(env!("CARGO"))
        .args([
            "package",
            "--offline",
            "--allow-dirty",
            "--list",
            "-p",
            "buoycast",
        ])
        .current_dir(ROOT)
        .output()
        .expect("cargo package --list");
    let files = String::from_utf8_lossy(&list.stdout);
    for file in [
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "README.md",
        "CHANGELOG.md",
        "build.rs",
        "src/main.rs",
        "web/index.html",
        "migrations/sqlite/0001_observations.sql",
    ] {
        assert!(files.lines().any(|l| l == file), "{file} not packaged");
    }
    for line in files.lines() {
        assert!(
            !(line.starts_with("tests/")
                || line.starts_with("benches/")
                || line.starts_with("fuzz/")
                || line.contains("node_modules")),
            "{line} should not be packaged"
        );
    }
}

/// Removes cargo's extracted copies of earlier packages of this workspace's crates. The local
/// overlay registry of `cargo package` is extracted under `$CARGO_HOME/registry/src/-<hash of
/// its path>/`, and cargo does not extract a package again where a copy of the same version
/// already is: a checkout at a path packaged before (a CI clone at the same place) would verify
/// against the sources of that earlier package. Only overlay directories (their names start
/// with `-`) are touched; cargo extracts the current package again.
fn forget_extracted_overlays() {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let Ok(registries) = std::fs::read_dir(home.join("registry/src")) else {
        return;
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(copies) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for copy in copies.flatten() {
            let name = copy.file_name().to_string_lossy().into_owned();
            if name.starts_with("ndbc-") || name.starts_with("buoycast-") {
                std::fs::remove_dir_all(copy.path())
                    .unwrap_or_else(|e| panic!("removing {}: {e}", copy.path().display()));
            }
        }
    }
}
