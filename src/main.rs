//! The `buoycast` binary: load the command line (and config file), hand over to the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    buoycast::cli::main(buoycast::config::Cli::load()).await
}
