//! Real Redis and PostgreSQL servers for tests, on free loopback ports in temporary directories.
//!
//! A server is started, waited for until it answers, and killed when dropped. A missing binary
//! or a server that does not come up panics with a clear message: the test fails, never skips.
//! `scripts/test` installs both (`apt-get install -y redis-server postgresql`) when missing.
//!
//! PostgreSQL refuses to run as root, so as root `initdb` and `postgres` run as the `postgres`
//! user (`runuser`), in a data directory owned by it. The server runs under a small shell
//! watchdog that stops it (and removes its directory) as soon as the test process goes away,
//! even when nothing is dropped (a server shared by every test of a binary lives in a static).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A free TCP port on 127.0.0.1 (free when asked; servers bind it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Whether this process runs as root (PostgreSQL then runs as the `postgres` user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The first executable called `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {sig} {pid} failed");
}

/// The last lines of a log file, for failure messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A `redis-server` on a free loopback port, without persistence.
#[derive(Debug)]
pub struct RedisServer {
    /// The port; kept across restarts so clients reconnect to the same address.
    port: u16,
    /// Working directory and log; removed on drop.
    dir: tempfile::TempDir,
    /// The running server, `None` while stopped.
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL): clients see their connections drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`Self::stop`]), empty.
    pub fn restart(&mut self) {
        self.stop();
        let binary = on_path("redis-server")
            .or_else(|| Some(PathBuf::from("/usr/bin/redis-server")).filter(|p| p.is_file()))
            .unwrap_or_else(|| {
                panic!(
                    "redis-server is not installed (not on PATH): install it with \
                     `apt-get install -y redis-server` (scripts/test does this)"
                )
            });
        let log = self.dir.path().join("redis.log");
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers_ping() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "redis-server exited at start ({status}); its log:\n{}",
                    tail(&log)
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "redis-server did not answer PING within {START_TIMEOUT:?}; its log:\n{}",
                tail(&log)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes the process (SIGSTOP): connections stay open but nothing answers, as with a
    /// dead peer behind an open TCP connection.
    pub fn pause(&self) {
        if let Some(child) = &self.child {
            signal(child.id(), "-STOP");
        }
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        if let Some(child) = &self.child {
            signal(child.id(), "-CONT");
        }
    }

    fn answers_ping(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The directory of PostgreSQL's server binaries: Debian's `/usr/lib/postgresql/<ver>/bin`
/// (the newest), else `PATH`.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("initdb").is_file())
                .then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    match (on_path("postgres"), on_path("initdb")) {
        (Some(p), Some(_)) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        _ => panic!(
            "PostgreSQL's server binaries (initdb, postgres) are not installed: not in \
             /usr/lib/postgresql/<version>/bin nor on PATH; install them with \
             `apt-get install -y postgresql` (scripts/test does this)"
        ),
    }
}

/// Shell watchdog around `postgres`: stops it with a fast shutdown when its standard input
/// closes (the test process dropped it or exited), then removes the directory `$1` unless a
/// `keep` file says the server is only being restarted.
const WATCHDOG: &str = r#"dir="$1"; shift
"$@" &
pg=$!
trap 'kill -INT $pg 2>/dev/null' TERM INT
cat >/dev/null
kill -INT $pg 2>/dev/null
wait $pg
[ -e "$dir/keep" ] || rm -rf "$dir"
"#;

/// A PostgreSQL server (trust authentication, user `postgres`) on a free loopback port.
#[derive(Debug)]
pub struct PostgresServer {
    /// The port; kept across restarts.
    port: u16,
    /// Server binaries.
    bin: PathBuf,
    /// Data directory and socket directory (`data/`, `sock/`); owned by the server's user.
    root: PathBuf,
    /// Removes `root` on drop when the watchdog did not (it runs as another user).
    _dir: tempfile::TempDir,
    /// The watchdog process, `None` while stopped.
    child: Option<Child>,
    /// Its standard input: closing it stops the server.
    stdin: Option<ChildStdin>,
}

/// Databases created so far by this process (for unique names).
static DATABASES: AtomicUsize = AtomicUsize::new(0);

impl PostgresServer {
    /// Creates a cluster with `initdb` and starts the server.
    pub fn start() -> Self {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("temp dir for postgres");
        let root = dir.path().join("pg");
        std::fs::create_dir_all(root.join("sock")).expect("creating the socket directory");
        if is_root() {
            // The server's user must own its directories and reach them.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("running chown");
            assert!(
                status.success(),
                "chown postgres {} failed",
                dir.path().display()
            );
        }
        let output = Self::command(&bin.join("initdb"))
            .arg("-D")
            .arg(root.join("data"))
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync", "--no-instructions"])
            .output()
            .unwrap_or_else(|e| panic!("running {}/initdb: {e}", bin.display()));
        assert!(
            output.status.success(),
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut server = Self {
            port: free_port(),
            bin,
            root,
            _dir: dir,
            child: None,
            stdin: None,
        };
        server.restart();
        server
    }

    /// `initdb`/`postgres` as the right user.
    fn command(program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// A URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a new, empty database (through the `postgres` maintenance database) and returns
    /// its URL.
    pub async fn create_database(&self) -> String {
        use sqlx::Connection;
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connecting to the postgres maintenance database");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        self.url(&name)
    }

    /// Stops the server (fast shutdown: connections are closed, new ones refused), keeping its
    /// data for [`Self::restart`].
    pub fn stop(&mut self) {
        std::fs::write(self.root.join("keep"), b"").expect("writing the keep marker");
        self.shut_down();
    }

    fn shut_down(&mut self) {
        drop(self.stdin.take()); // the watchdog sees end of input and stops the server
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and data, and waits until it accepts queries.
    pub fn restart(&mut self) {
        self.shut_down();
        let _ = std::fs::remove_file(self.root.join("keep"));
        let log = self.root.join("server.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("opening the server log");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "sh", "-c", WATCHDOG, "sh"]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", WATCHDOG, "sh"]);
            c
        };
        let mut child = command
            .arg(&self.root)
            .arg(self.bin.join("postgres"))
            .arg("-D")
            .arg(self.root.join("data"))
            .arg("-k")
            .arg(self.root.join("sock"))
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}/postgres: {e}", self.bin.display()));
        self.stdin = child.stdin.take();
        self.child = Some(child);
        let started = Instant::now();
        while !self.is_ready() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "postgres exited at start ({status}); its log:\n{}",
                    tail(&log)
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "postgres did not accept connections within {START_TIMEOUT:?}; its log:\n{}",
                tail(&log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn is_ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-t", "1"])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// One PostgreSQL server for every test of this test binary (each test creates its own
/// database on it). It is stopped by its watchdog when the process exits.
pub fn shared_postgres() -> &'static PostgresServer {
    static SHARED: OnceLock<PostgresServer> = OnceLock::new();
    SHARED.get_or_init(PostgresServer::start)
}
