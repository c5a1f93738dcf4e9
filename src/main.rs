//! The `buoycast` binary: load the command line (and config file), hand over to the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let code = buoycast::cli::main(buoycast::config::Cli::load()).await;
    // Log lines are written in batches: the last ones before exiting.
    buoycast::telemetry::flush();
    code
}
