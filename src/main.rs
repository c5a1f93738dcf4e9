//! The `buoycast` binary: parse the command line, hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    buoycast::cli::main(buoycast::config::Cli::parse()).await
}
