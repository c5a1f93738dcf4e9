//! Configuration: one typed definition gives the flags, their `BUOYCAST_*` environment
//! variables and `--help`. Nothing else in the crate reads the environment.

pub mod file;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::{AddressRanges, TrustedProxies};

pub use values::{
    DEFAULT_LISTEN, Secret, parse_listen, parse_port, parse_replay_speed, redact_url, seconds,
};

/// Stations ingested when none are configured: a few well-known NDBC buoys on both coasts.
pub const DEFAULT_STATIONS: &str = "44009,44013,46026,46042,41002,51001";

/// Command line of the `buoycast` binary.
#[derive(Debug, Parser)]
#[command(
    name = "buoycast",
    version = crate::build_info::LONG_VERSION,
    about = "Streams live ocean-buoy observations over Server-Sent Events"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Threads the async runtime should have (`--worker-threads`, or its default); `None`
    /// where the subcommand does not serve (the runtime's own default then).
    pub fn worker_threads(&self) -> Option<usize> {
        let server = match &self.command {
            Command::Run(args) => &args.server,
            Command::Serve(args) => &args.server,
            _ => return None,
        };
        Some(match (server.worker_threads, server.reuse_port) {
            (Some(n), _) => usize::from(n),
            (None, true) => 1,
            (None, false) => std::thread::available_parallelism().map_or(1, usize::from),
        })
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process: HTTP server and ingest (embedded mode by default).
    Run(RunArgs),
    /// HTTP server only (live data comes from the bus and the publish API).
    Serve(ServeArgs),
    /// Ingest only: fetch, store and publish observations (distributed mode).
    Ingest(IngestOnlyArgs),
    /// Parse NDBC realtime2 files of any product and print their entries as JSON lines, oldest first.
    Parse(ParseArgs),
    /// Apply the store's migrations and exit.
    Migrate(MigrateArgs),
    /// Bridge the event stream to other software (`bridge osc`: OSC over UDP for audio software).
    Bridge(BridgeArgs),
    /// The settings in effect (`config print`).
    Config(ConfigArgs),
}

/// `buoycast config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do with the settings.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// `buoycast config` actions.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the settings `buoycast run` would use with these flags, environment and config
    /// file, as TOML (secrets redacted), each with where it came from.
    Print(PrintArgs),
}

/// `buoycast config print`.
#[derive(Debug, Args)]
pub struct PrintArgs {
    /// The same settings as `buoycast run`.
    #[command(flatten)]
    pub run: RunArgs,
    /// The settings as TOML, rendered when the command line is loaded (which knows where each
    /// value came from).
    #[arg(skip)]
    pub effective: String,
}

/// `buoycast run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub config: ConfigFileArgs,
}

/// `buoycast serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub config: ConfigFileArgs,
}

/// `buoycast ingest`.
#[derive(Debug, Args)]
pub struct IngestOnlyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub bus: BusArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub config: ConfigFileArgs,
}

/// `buoycast bridge`.
#[derive(Debug, Args)]
pub struct BridgeArgs {
    /// Which bridge.
    #[command(subcommand)]
    pub kind: BridgeKind,
}

/// The bridges.
#[derive(Debug, Subcommand)]
pub enum BridgeKind {
    /// Follow a server's stream and send each observation as an OSC bundle over UDP
    /// (SuperCollider, Pure Data, Max); schema in docs/AUDIO_CLIENTS.md.
    Osc(OscBridgeArgs),
}

/// `buoycast bridge osc`.
#[derive(Debug, Args)]
pub struct OscBridgeArgs {
    /// Base URL of the buoycast server (or its stream URL), e.g. `http://127.0.0.1:8080`.
    #[arg(long, env = "BUOYCAST_BRIDGE_URL")]
    pub url: String,
    /// Where OSC goes, `HOST:PORT` over UDP (SuperCollider's sclang listens on 57120).
    #[arg(long, env = "BUOYCAST_OSC_TARGET")]
    pub target: String,
    /// Only these stations (comma-separated ids); default: all.
    #[arg(long, env = "BUOYCAST_BRIDGE_STATIONS")]
    pub stations: Option<String>,
    /// Kinds to send (comma-separated, e.g. `observation,spectrum`, or `*`); default:
    /// `observation` only. Each kind's addresses are in docs/AUDIO_CLIENTS.md.
    #[arg(long, env = "BUOYCAST_BRIDGE_KINDS")]
    pub kinds: Option<String>,
    /// First part of every OSC address.
    #[arg(long, env = "BUOYCAST_OSC_PREFIX", default_value = "/buoy")]
    pub prefix: String,
    /// Start after this event id (replaying what came after it); default: live from now.
    #[arg(long, env = "BUOYCAST_BRIDGE_LAST_EVENT_ID")]
    pub last_event_id: Option<u64>,
    /// Seconds with no data at all (heartbeats included) after which the stream counts as dead.
    #[arg(long, env = "BUOYCAST_BRIDGE_IDLE_TIMEOUT_SECS", default_value_t = 45, allow_negative_numbers = true, value_parser = seconds(1, 86400))]
    pub idle_timeout_secs: u64,
    /// Subscriber token (JWT) for a server with subscriber auth; sent as `Authorization: Bearer`.
    #[arg(long, env = "BUOYCAST_BRIDGE_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,
    /// Longest wait between two reconnection attempts, seconds.
    #[arg(long, env = "BUOYCAST_BRIDGE_MAX_BACKOFF_SECS", default_value_t = 30, allow_negative_numbers = true, value_parser = seconds(1, 3600))]
    pub max_backoff_secs: u64,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub config: ConfigFileArgs,
}

/// `buoycast migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub config: ConfigFileArgs,
}

/// `buoycast parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Files to parse, each named `<STATION>.<ext>` as NDBC names them (`44009.txt`, `44013.swdir`):
    /// the name gives the product and the station. A station's spectral files given together
    /// are joined into `spectrum` entries.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Station id to use instead of the file name.
    #[arg(long)]
    pub station: Option<String>,
}

/// Where observations are stored.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Store URL: `sqlite://FILE` or a path with a `/` or a `.db`/`.sqlite`/`.sqlite3` ending
    /// (embedded, the default), or `postgres://USER:PASSWORD@HOST:PORT/DB` (distributed).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://buoycast.db",
        hide_env_values = true
    )]
    pub database_url: Secret,
    /// Seconds PostgreSQL and Redis get to answer at start-up (retried meanwhile) before the
    /// process gives up with the cause; later outages are waited out.
    #[arg(long, env = "BUOYCAST_CONNECT_TIMEOUT_SECS", default_value_t = 10, allow_negative_numbers = true, value_parser = seconds(1, 600))]
    pub connect_timeout_secs: u64,
}

impl StoreArgs {
    /// [`StoreArgs::connect_timeout_secs`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

/// How servers are notified.
#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// Redis URL for the distributed bus (`redis://[:PASSWORD@]HOST:PORT`); without it the
    /// in-process bus is used.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,
}

/// The HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address to listen on: `PORT` (on 127.0.0.1), `:PORT` (all interfaces), `HOST:PORT`
    /// (`0.0.0.0:8080`, `localhost:8080`) or `[IPv6]:PORT` (`[::]:8080`). Default:
    /// `127.0.0.1:8080`, or `0.0.0.0:$PORT` when the `PORT` variable is set.
    #[arg(long, env = "BUOYCAST_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    pub listen: Option<SocketAddr>,
    /// `PORT`, as container platforms set it; used only when no listen address is given.
    #[arg(long, env = "PORT", hide = true, value_parser = parse_port)]
    pub port: Option<u16>,
    /// TLS certificate chain (PEM, the server's certificate first): with --tls-key, connections
    /// are TLS and HTTP/2 or HTTP/1.1 is chosen by ALPN. Without both, plain HTTP/1.1.
    #[arg(
        long,
        env = "BUOYCAST_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1) of the certificate in --tls-cert.
    #[arg(
        long,
        env = "BUOYCAST_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Most streams (requests) open at once on one HTTP/2 connection.
    #[arg(long, env = "BUOYCAST_H2_MAX_STREAMS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub h2_max_streams: u32,
    /// Share the listen address with other `serve` processes (`SO_REUSEPORT`): the kernel
    /// spreads connections over them (one process holds at most ~19,900 streams here).
    #[arg(long, env = "BUOYCAST_REUSE_PORT")]
    pub reuse_port: bool,
    /// Threads of the async runtime. Default: one per CPU; with --reuse-port, 1 (run one
    /// process per CPU, as the processes sharing the port would otherwise compete for the
    /// same cores).
    #[arg(long, env = "BUOYCAST_WORKER_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,
    /// Serve event streams through hyper like other requests, instead of the lean stream path
    /// (which keeps no HTTP buffers per stream; see docs/BENCHMARKS.md).
    #[arg(long, env = "BUOYCAST_HYPER_STREAMS")]
    pub hyper_streams: bool,
    /// Seconds between heartbeat events on every stream.
    #[arg(long, env = "BUOYCAST_HEARTBEAT_SECS", default_value_t = 15, allow_negative_numbers = true, value_parser = seconds(1, 3600))]
    pub heartbeat_secs: u64,
    /// Most open streams; 0 = as many as the open-file limit allows.
    #[arg(long, env = "BUOYCAST_MAX_STREAMS", default_value_t = 0)]
    pub max_streams: usize,
    /// Most events replayed to one resuming client; an older resume point gets a `reset` event.
    #[arg(long, env = "BUOYCAST_MAX_REPLAY", default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_replay: u32,
    /// Events a stream may fall behind by before it is disconnected (to resume from the store).
    #[arg(long, env = "BUOYCAST_STREAM_BACKLOG", default_value_t = 4096)]
    pub stream_backlog: usize,
    /// Broadcast channels the streams are spread over.
    #[arg(long, env = "BUOYCAST_HUB_SHARDS", default_value_t = 16)]
    pub hub_shards: usize,
    /// Seconds open streams and requests get to finish on shutdown.
    #[arg(long, env = "BUOYCAST_SHUTDOWN_GRACE_SECS", default_value_t = 5, allow_negative_numbers = true, value_parser = seconds(0, u64::MAX))]
    pub shutdown_grace_secs: u64,
    /// Seconds a connection may accept no data before it is closed (a stuck client).
    #[arg(long, env = "BUOYCAST_WRITE_TIMEOUT_SECS", default_value_t = 30, allow_negative_numbers = true, value_parser = seconds(1, u64::MAX))]
    pub write_timeout_secs: u64,
    /// Seconds a connection gets to send a complete request head; a silent or slow client is
    /// closed after it. Also how long an idle keep-alive connection is kept between requests.
    #[arg(long, env = "BUOYCAST_HEAD_TIMEOUT_SECS", default_value_t = 10, allow_negative_numbers = true, value_parser = seconds(1, 300))]
    pub head_timeout_secs: u64,
    /// Most connections open at once; 0 = as many as the open-file limit allows, less
    /// descriptors kept for the store, the bus and new requests. When full, the connection that
    /// has waited longest (no request sent yet, or idle between keep-alive requests) is closed
    /// to make room.
    #[arg(long, env = "BUOYCAST_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
    /// Most connections one client address may hold (streams or not); 0 = no limit. Trusted
    /// proxies (--trusted-proxies) are exempt.
    #[arg(
        long,
        env = "BUOYCAST_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 2000
    )]
    pub max_connections_per_client: usize,
    /// `SO_SNDBUF` of client sockets in bytes; 0 leaves the kernel's autotuning on.
    #[arg(long, env = "BUOYCAST_SEND_BUFFER_BYTES", default_value_t = 0)]
    pub send_buffer_bytes: usize,
    /// Longest long poll (`GET /v1/observations?wait=`) this server grants, seconds.
    #[arg(long, env = "BUOYCAST_MAX_WAIT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=60))]
    pub max_wait_secs: u32,
    /// Most streams one client address may hold; 0 = no per-client limit.
    #[arg(long, env = "BUOYCAST_MAX_STREAMS_PER_CLIENT", default_value_t = 500)]
    pub max_streams_per_client: usize,
    /// Proxies whose `X-Forwarded-For` is believed: comma-separated addresses or CIDR ranges
    /// (`10.0.0.0/8,fd00::/8`). From such a peer the client address (for the per-client stream
    /// limit) is the rightmost forwarded address that is not itself a trusted proxy. Default:
    /// none, the client is always the TCP peer.
    #[arg(long, env = "BUOYCAST_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<TrustedProxies>,
    /// Browser origins allowed cross-origin: `*` (read only), `none`, or a list of origins (read
    /// and publish). Default: `*` in embedded mode, `none` in distributed mode.
    #[arg(long, env = "BUOYCAST_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Bearer token of the publish API (`POST /v1/observations`); unset disables it.
    #[arg(long, env = "BUOYCAST_PUBLISH_TOKEN", hide_env_values = true)]
    pub publish_token: Option<Secret>,
    /// Subscriber auth with an HS256 shared secret (at least 32 bytes): every read of
    /// observation data then needs a valid JWT. Off unless this, --jwt-public-key or --jwt-jwks
    /// is given (one of them).
    #[arg(long, env = "BUOYCAST_JWT_SECRET", hide_env_values = true, conflicts_with_all = ["jwt_public_key", "jwt_jwks"])]
    pub jwt_secret: Option<Secret>,
    /// Subscriber auth with a PEM public key file: RSA (RS256), EC P-256/P-384 (ES256/ES384) or
    /// Ed25519 (EdDSA).
    #[arg(
        long,
        env = "BUOYCAST_JWT_PUBLIC_KEY",
        value_name = "FILE",
        conflicts_with = "jwt_jwks"
    )]
    pub jwt_public_key: Option<PathBuf>,
    /// Subscriber auth with a JWKS file: each token names its key with `kid`.
    #[arg(long, env = "BUOYCAST_JWT_JWKS", value_name = "FILE")]
    pub jwt_jwks: Option<PathBuf>,
    /// Audience subscriber tokens must carry in `aud` (needs a JWT key).
    #[arg(long, env = "BUOYCAST_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Issuer subscriber tokens must carry in `iss` (needs a JWT key).
    #[arg(long, env = "BUOYCAST_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Bearer token `/metrics` then requires (Prometheus: `authorization.credentials`); unset
    /// leaves `/metrics` open.
    #[arg(long, env = "BUOYCAST_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// Client addresses and CIDR ranges that may read `/metrics` without the token
    /// (`127.0.0.1,10.0.0.0/8`). Set, it closes `/metrics` to everyone else (the client address is
    /// the TCP peer, or the forwarded one behind `--trusted-proxies`).
    #[arg(long, env = "BUOYCAST_METRICS_ALLOW")]
    pub metrics_allow: Option<AddressRanges>,
}

impl ServerArgs {
    /// The address to listen on: `--listen`/`BUOYCAST_LISTEN`, else all interfaces on `PORT`,
    /// else [`DEFAULT_LISTEN`].
    pub fn listen_addr(&self) -> SocketAddr {
        match (self.listen, self.port) {
            (Some(addr), _) => addr,
            (None, Some(port)) => SocketAddr::from(([0, 0, 0, 0], port)),
            (None, None) => DEFAULT_LISTEN,
        }
    }
}

/// Where observations come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    /// Poll NDBC realtime2 files over HTTP.
    Ndbc,
    /// Play a directory of realtime2 files forward in time.
    Replay,
    /// No ingest (publish API or another process only).
    None,
}

/// Ingest.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Source of observations.
    #[arg(long, env = "BUOYCAST_SOURCE", value_enum, default_value_t = SourceKind::Ndbc)]
    pub source: SourceKind,
    /// Stations to poll (comma-separated NDBC ids), or `all`: every station NDBC reports, followed
    /// through one file (`<base>/data/latest_obs/latest_obs.txt`) per interval, each station's
    /// history fetched once at first sight.
    #[arg(long, env = "BUOYCAST_STATIONS", default_value = DEFAULT_STATIONS)]
    pub stations: String,
    /// Kinds to ingest (SPEC §3a), comma-separated (`observation,spectrum,tsunami`) or `*`: each
    /// kind's realtime2 files of the stations are fetched (and, with `--source replay`, read).
    #[arg(long, env = "BUOYCAST_KINDS", default_value = "observation")]
    pub kinds: String,
    /// Base URL of NDBC (files are fetched from `<base>/data/realtime2/<STATION>.txt`).
    #[arg(
        long,
        env = "BUOYCAST_NDBC_BASE_URL",
        default_value = "https://www.ndbc.noaa.gov"
    )]
    pub ndbc_base_url: String,
    /// Seconds between two polls of one station.
    #[arg(long, env = "BUOYCAST_POLL_INTERVAL_SECS", default_value_t = 300, allow_negative_numbers = true, value_parser = seconds(1, u64::MAX))]
    pub poll_interval_secs: u64,
    /// Stations fetched at the same time.
    #[arg(long, env = "BUOYCAST_FETCH_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub fetch_concurrency: u64,
    /// Seconds before a fetch is abandoned.
    #[arg(long, env = "BUOYCAST_FETCH_TIMEOUT_SECS", default_value_t = 30, allow_negative_numbers = true, value_parser = seconds(1, u64::MAX))]
    pub fetch_timeout_secs: u64,
    /// Directory of realtime2 files (`<STATION>.<ext>`) for `--source replay`: the files of the
    /// `--kinds` asked for are played together in time order.
    #[arg(long, env = "BUOYCAST_REPLAY_DIR")]
    pub replay_dir: Option<PathBuf>,
    /// Replay speed: observation time passes this many times faster than real time (0 = no waiting).
    #[arg(long, env = "BUOYCAST_REPLAY_SPEED", default_value_t = 60.0, allow_negative_numbers = true, value_parser = parse_replay_speed)]
    pub replay_speed: f64,
}

/// Log output.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// `json` (one object per line) or `pretty` (for humans, coloured on a terminal unless
    /// `NO_COLOR` is set). Default: `pretty` when standard output is a terminal, else `json`.
    /// The level is set by `RUST_LOG` (default `info`).
    #[arg(long, env = "BUOYCAST_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// `NO_COLOR` (no-color.org): set and not empty, pretty logs have no colours.
    #[arg(long, env = "NO_COLOR", hide = true)]
    pub no_color: Option<String>,
}

impl LogArgs {
    /// Whether the user asked for no colours.
    pub fn no_color(&self) -> bool {
        self.no_color.as_deref().is_some_and(|v| !v.is_empty())
    }
}

/// The optional configuration file.
#[derive(Debug, Clone, Args)]
pub struct ConfigFileArgs {
    /// TOML file of settings, keys named as the flags (`listen = ":8080"`, `database_url`,
    /// `heartbeat_secs = 15`); flags and environment variables override it. See
    /// docs/DEPLOYMENT.md; `buoycast config print` shows the result.
    #[arg(long = "config", env = "BUOYCAST_CONFIG", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn trusted_proxies_are_parsed_on_the_command_line() {
        let run = |args: &[&str]| {
            Cli::try_parse_from(["buoycast", "run"].iter().chain(args)).map(|cli| {
                match cli.command {
                    Command::Run(run) => run.server.trusted_proxies,
                    _ => panic!("not run"),
                }
            })
        };
        assert_eq!(run(&[]).unwrap(), None);
        let proxies = run(&["--trusted-proxies", "10.0.0.0/8,fd00::/8"])
            .unwrap()
            .unwrap();
        assert_eq!(proxies.to_string(), "10.0.0.0/8,fd00::/8");
        let help = Cli::command()
            .find_subcommand_mut("run")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("--trusted-proxies <CIDRS>") && help.contains("BUOYCAST_TRUSTED_PROXIES"),
            "{help}"
        );
        let err = run(&["--trusted-proxies", "10.0.0.0/8,10.0.0.0/40"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        let message = err.to_string();
        assert!(
            message.contains("--trusted-proxies") && message.contains("\"10.0.0.0/40\""),
            "{message}"
        );
    }
}
