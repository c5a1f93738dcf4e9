//! Entry point of `buoycast-loadgen`: parse arguments, raise the open-file limit, run, report.

use anyhow::Context;
use buoycast_loadgen::{args::Args, run};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The hard limit cannot be raised here; the soft one can, up to it.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    // Size the descriptor table for every client now: growing it later, by doubling, stalls
    // every thread of this process for an RCU grace period (10–20 ms) each time, which would
    // show as slow connections of whichever server is measured (the server does the same).
    let wanted = (args.clients as u64 / args.procs.max(1) as u64 + 256).min(limit);
    if wanted > 1024
        && let Ok(null) = std::fs::File::open("/dev/null")
        && let Ok(top) = i32::try_from(wanted - 1)
    {
        drop(rustix::io::fcntl_dupfd_cloexec(&null, top));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.clamp(1, 64))
        .enable_all()
        .build()
        .context("building the runtime")?;
    let child = args.child;
    let json_path = args.json.clone();
    let connect_log_path = args.connect_log.clone();
    if connect_log_path.is_some() {
        buoycast_loadgen::stats::keep_connect_log();
    }
    let report = runtime.block_on(run::run(args))?;
    let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
    if child {
        println!(
            "REPORT {}",
            serde_json::to_string(&report).context("encoding the report")?
        );
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = connect_log_path {
        let mut lines = String::new();
        for (start, us) in buoycast_loadgen::stats::connect_log() {
            lines.push_str(&format!("{start},{us}\n"));
        }
        std::fs::write(&path, lines).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = json_path {
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}
