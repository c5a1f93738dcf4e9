//! The command line's actions: maps parsed flags onto [`Settings`] and runs them.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::CorsOrigins;
use crate::api::auth::{JwtConfig, JwtKey};
use crate::app::{Application, IngestSource, ServerSettings, Settings};
use crate::bridge::{OscBridgeConfig, OscPrefix, SubscriptionConfig};
use crate::config::{
    BridgeKind, Cli, Command, ConfigAction, IngestArgs, OscBridgeArgs, ParseArgs, Secret,
    ServerArgs, SourceKind, StoreArgs,
};
use crate::domain::{Entry, Kind, KindSet, Seq, StationFilter, StationId};
use crate::hub::HubConfig;
use crate::ingest::ndbc::NdbcConfig;
use crate::ingest::replay::{self, ReplayConfig};
use crate::ingest::to_entry;
use crate::server::tls::TlsFiles;
use crate::telemetry;

/// Runs a parsed command line; errors are printed and turn into a failing exit code.
pub async fn main(cli: Cli) -> ExitCode {
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(
                event = "fatal",
                error = format!("{e:#}"),
                "buoycast stopped on an error"
            );
            eprintln!("buoycast: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            telemetry::init(&args.log);
            let distributed = args.bus.redis_url.is_some();
            let server = Some(server_settings(&args.server, distributed)?);
            let ingest = ingest_source(&args.ingest)?;
            let settings = settings(&args.store, args.bus.redis_url, server, ingest);
            serve(settings).await
        }
        Command::Serve(args) => {
            telemetry::init(&args.log);
            let distributed = args.bus.redis_url.is_some();
            let server = Some(server_settings(&args.server, distributed)?);
            let settings = settings(&args.store, args.bus.redis_url, server, None);
            serve(settings).await
        }
        Command::Ingest(args) => {
            telemetry::init(&args.log);
            let Some(redis_url) = args.bus.redis_url else {
                anyhow::bail!(
                    "`buoycast ingest` runs beside separate servers and needs the distributed bus \
                     (--redis-url / REDIS_URL); for one process use `buoycast run`"
                );
            };
            let ingest = ingest_source(&args.ingest)?;
            let settings = settings(&args.store, Some(redis_url), None, ingest);
            serve(settings).await
        }
        Command::Migrate(args) => {
            telemetry::init(&args.log);
            crate::app::connect_store(&args.store.database_url, args.store.connect_timeout())
                .await?;
            tracing::info!(event = "migrated", "store migrations applied");
            Ok(())
        }
        // No logger: stdout carries the JSON lines, stderr the summary.
        Command::Parse(args) => parse_files(&args),
        Command::Bridge(args) => match args.kind {
            BridgeKind::Osc(args) => {
                telemetry::init(&args.log);
                osc_bridge(&args).await
            }
        },
        Command::Config(args) => match args.action {
            ConfigAction::Print(print) => {
                print!("{}", print.effective);
                Ok(())
            }
        },
    }
}

/// A process's settings: the store and bus of every subcommand, with what it runs.
fn settings(
    store: &StoreArgs,
    redis_url: Option<Secret>,
    server: Option<ServerSettings>,
    ingest: Option<IngestSource>,
) -> Settings {
    Settings {
        database_url: store.database_url.clone(),
        redis_url,
        connect_timeout: store.connect_timeout(),
        server,
        ingest,
    }
}

fn server_settings(args: &ServerArgs, distributed: bool) -> anyhow::Result<ServerSettings> {
    let cors = CorsOrigins::parse(args.cors_origins.as_deref(), distributed)
        .map_err(anyhow::Error::msg)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        _ => anyhow::bail!("give both --tls-cert and --tls-key, or neither"),
    };
    Ok(ServerSettings {
        listen: args.listen_addr(),
        tls,
        h2_max_streams: args.h2_max_streams,
        reuse_port: args.reuse_port,
        lean_streams: !args.hyper_streams,
        heartbeat: Duration::from_secs(args.heartbeat_secs),
        max_streams: args.max_streams,
        max_replay: args.max_replay,
        hub: HubConfig {
            shards: args.hub_shards.max(1),
            backlog: args.stream_backlog.max(16),
        },
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        write_timeout: Duration::from_secs(args.write_timeout_secs),
        head_timeout: Duration::from_secs(args.head_timeout_secs),
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_client,
        send_buffer: (args.send_buffer_bytes > 0).then_some(args.send_buffer_bytes),
        publish_token: args.publish_token.clone(),
        subscriber_auth: subscriber_auth(args)?,
        metrics_token: args.metrics_token.clone(),
        metrics_allow: args.metrics_allow.clone().unwrap_or_default(),
        max_streams_per_client: args.max_streams_per_client,
        max_wait_secs: args.max_wait_secs,
        trusted_proxies: args.trusted_proxies.clone().unwrap_or_default(),
        cors: Some(cors),
    })
}

/// Subscriber auth from the `--jwt-*` flags (the key is checked by the application's build).
fn subscriber_auth(args: &ServerArgs) -> anyhow::Result<Option<JwtConfig>> {
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (audience, issuer) = (non_empty(&args.jwt_audience), non_empty(&args.jwt_issuer));
    let key = match (&args.jwt_secret, &args.jwt_public_key, &args.jwt_jwks) {
        (None, None, None) => {
            anyhow::ensure!(
                audience.is_none() && issuer.is_none(),
                "--jwt-audience and --jwt-issuer need a key: --jwt-secret, --jwt-public-key or --jwt-jwks"
            );
            return Ok(None);
        }
        (Some(secret), None, None) => JwtKey::Secret(secret.clone()),
        (None, Some(path), None) => JwtKey::PublicKeyPem(
            std::fs::read(path)
                .with_context(|| format!("--jwt-public-key: reading {}", path.display()))?,
        ),
        (None, None, Some(path)) => JwtKey::Jwks(
            std::fs::read_to_string(path)
                .with_context(|| format!("--jwt-jwks: reading {}", path.display()))?,
        ),
        _ => anyhow::bail!("give only one of --jwt-secret, --jwt-public-key and --jwt-jwks"),
    };
    Ok(Some(JwtConfig {
        key,
        audience,
        issuer,
    }))
}

fn ingest_source(args: &IngestArgs) -> anyhow::Result<Option<IngestSource>> {
    let kinds = KindSet::parse(&args.kinds).context("--kinds")?;
    Ok(match args.source {
        SourceKind::None => None,
        SourceKind::Ndbc => {
            let all_stations = args.stations.trim().eq_ignore_ascii_case("all");
            let stations = args
                .stations
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !all_stations)
                .map(StationId::parse)
                .collect::<Result<Vec<_>, _>>()
                .context("--stations")?;
            Some(IngestSource::Ndbc(NdbcConfig {
                base_url: args.ndbc_base_url.clone(),
                stations,
                all_stations,
                kinds,
                interval: Duration::from_secs(args.poll_interval_secs),
                concurrency: args.fetch_concurrency as usize,
                timeout: Duration::from_secs(args.fetch_timeout_secs),
                retry_base: Duration::from_secs(1),
            }))
        }
        SourceKind::Replay => {
            let dir = args
                .replay_dir
                .clone()
                .context("--source replay needs --replay-dir DIR")?;
            anyhow::ensure!(
                dir.is_dir(),
                "--replay-dir {}: {}",
                dir.display(),
                if dir.exists() {
                    "not a directory"
                } else {
                    "no such directory"
                }
            );
            if !has_station_files(&dir, kinds) {
                tracing::warn!(
                    event = "replay_dir_empty",
                    dir = %dir.display(),
                    kinds = %kinds.names().join(","),
                    "--replay-dir {} holds no {} files: nothing will be replayed",
                    dir.display(),
                    replayed_names(kinds)
                );
            }
            anyhow::ensure!(
                args.replay_speed.is_finite() && args.replay_speed >= 0.0,
                "--replay-speed must be a number ≥ 0"
            );
            Some(IngestSource::Replay(ReplayConfig {
                dir,
                speed: args.replay_speed,
                kinds,
            }))
        }
    })
}

/// The names of the files the replay source plays for `kinds`, for messages:
/// `<STATION>.txt`, `<STATION>.txt or <STATION>.dart`, …
fn replayed_names(kinds: KindSet) -> String {
    if kinds.is_all() {
        return "<STATION>.<ext> (any product)".to_owned();
    }
    kinds
        .kinds()
        .flat_map(ndbc::Kind::products)
        .map(|p| format!("<STATION>.{}", p.extension()))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Whether a replay directory holds any file the replay source plays: a `<STATION>.<ext>` of
/// a product whose kind is in `kinds`.
fn has_station_files(dir: &std::path::Path, kinds: KindSet) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry
                .file_name()
                .to_str()
                .and_then(replay::product_file)
                .is_some_and(|(_, product)| kinds.contains(product.kind()))
        })
    })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings, None).await?;
    let cancel = app.shutdown_token();
    tokio::spawn(cancel_on_signal(cancel));
    app.run_until_stopped().await
}

/// `buoycast bridge osc`: runs until Ctrl-C or SIGTERM.
async fn osc_bridge(args: &OscBridgeArgs) -> anyhow::Result<()> {
    let stations = match args.stations.as_deref() {
        Some(raw) => StationFilter::parse(raw).context("--stations")?.map(|f| {
            f.iter()
                .map(StationId::as_str)
                .collect::<Vec<_>>()
                .join(",")
        }),
        None => None,
    };
    let kinds = match args.kinds.as_deref() {
        Some(raw) => Some(KindSet::parse(raw).context("--kinds")?.names().join(",")),
        None => None,
    };
    let after = args
        .last_event_id
        .map(|id| i64::try_from(id).map(Seq::new))
        .transpose()
        .context("--last-event-id is too large")?;
    let config = OscBridgeConfig {
        subscription: SubscriptionConfig {
            url: args.url.clone(),
            stations,
            kinds,
            after,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(args.max_backoff_secs),
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            token: args.token.clone(),
        },
        target: args.target.clone(),
        prefix: OscPrefix::parse(&args.prefix).map_err(|e| anyhow::anyhow!("--prefix: {e}"))?,
    };
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    crate::bridge::osc::run(config, cancel).await
}

/// Cancels the token on Ctrl-C or SIGTERM.
async fn cancel_on_signal(cancel: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        () = term => {},
    }
    tracing::info!(event = "shutdown_requested", "shutting down");
    cancel.cancel();
}

/// `buoycast parse`: one JSON line per entry of any kind (as [`Entry`] serialises, the stream's
/// `data:`), oldest first across all files (then station, then kind); a summary on stderr. The
/// product of each file comes from its name (`<STATION>.<ext>`); the spectral files of one
/// station are joined into `spectrum` entries. Rows are printed as parsed, without the ingest
/// validation.
fn parse_files(args: &ParseArgs) -> anyhow::Result<()> {
    let station_override = args
        .station
        .as_deref()
        .map(StationId::parse)
        .transpose()
        .context("--station")?;
    let mut entries: Vec<Entry> = Vec::new();
    // The parsed rows of each station's spectral files, joined once all are read.
    let mut spectral: BTreeMap<StationId, Vec<ndbc::Entry>> = BTreeMap::new();
    let mut failed = false;
    for path in &args.files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some((stem, product)) = ndbc::Product::split_file_name(name) else {
            eprintln!(
                "{}: not the name of an NDBC product file (<STATION>.<ext>, e.g. 44013.txt, 44013.swdir)",
                path.display()
            );
            failed = true;
            continue;
        };
        let station = match station_override
            .clone()
            .map_or_else(|| StationId::parse(stem), Ok)
        {
            Ok(id) => id,
            Err(e) => {
                eprintln!(
                    "{}: cannot tell the station from the file name ({e}); pass --station ID",
                    path.display()
                );
                failed = true;
                continue;
            }
        };
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let parsed = match ndbc::parse_product(product, &bytes) {
            Ok(parsed) => parsed,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed = true;
                continue;
            }
        };
        eprintln!(
            "{}: {} {}, {} rows skipped",
            path.display(),
            parsed.records.len(),
            rows_label(product),
            parsed.skipped.len()
        );
        for row in &parsed.skipped {
            eprintln!("  skipped {row}");
        }
        if product.kind() == Kind::Spectrum {
            spectral.entry(station).or_default().extend(parsed.records);
        } else {
            entries.extend(
                parsed
                    .records
                    .into_iter()
                    .filter_map(|row| to_entry(&station, row)),
            );
        }
    }
    for (station, parts) in spectral {
        let joined = ndbc::join_spectra(parts);
        eprintln!("{station}: {} spectra joined", joined.len());
        entries.extend(joined.into_iter().filter_map(|row| to_entry(&station, row)));
    }
    entries.sort_by(|a, b| {
        (a.timestamp(), a.station_id(), a.kind()).cmp(&(b.timestamp(), b.station_id(), b.kind()))
    });
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for entry in &entries {
        serde_json::to_writer(&mut out, entry)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    anyhow::ensure!(!failed, "some files could not be parsed");
    Ok(())
}

/// What the rows of a product's file are called in the summary.
fn rows_label(product: ndbc::Product) -> String {
    match product.kind() {
        Kind::Observation => "observations".to_owned(),
        Kind::Spectrum => format!("{} rows", product.extension()),
        kind => format!("{kind} entries"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_directory_has_station_files_of_the_kinds_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let kinds = |text: &str| KindSet::parse(text).unwrap();
        assert!(!has_station_files(dir.path(), KindSet::ALL));
        std::fs::write(dir.path().join("notes.md"), "not a station file").unwrap();
        std::fs::write(dir.path().join("44013_old.txt"), "not an NDBC name").unwrap();
        std::fs::write(dir.path().join("41421.dart"), "").unwrap();
        assert!(!has_station_files(dir.path(), KindSet::OBSERVATION));
        assert!(has_station_files(dir.path(), kinds("tsunami")));
        assert!(has_station_files(dir.path(), KindSet::ALL));
        std::fs::write(dir.path().join("44013.swr2"), "").unwrap();
        assert!(has_station_files(dir.path(), kinds("spectrum")));
        std::fs::write(dir.path().join("TPLM2.TXT"), "").unwrap();
        assert!(has_station_files(dir.path(), KindSet::OBSERVATION));
    }

    #[test]
    fn replayed_file_names_for_messages() {
        assert_eq!(replayed_names(KindSet::OBSERVATION), "<STATION>.txt");
        assert_eq!(
            replayed_names(KindSet::parse("tsunami,observation").unwrap()),
            "<STATION>.txt or <STATION>.dart"
        );
        assert_eq!(
            replayed_names(KindSet::ALL),
            "<STATION>.<ext> (any product)"
        );
    }
}
