//! The `buoycast` binary: load the command line (and config file), start the runtime sized by
//! it, hand over to the library.

fn main() -> std::process::ExitCode {
    let cli = buoycast::config::Cli::load();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = cli.worker_threads() {
        runtime.worker_threads(threads);
    }
    let runtime = match runtime.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(buoycast::cli::main(cli));
    // Log lines are written in batches: the last ones before exiting.
    buoycast::telemetry::flush();
    code
}
