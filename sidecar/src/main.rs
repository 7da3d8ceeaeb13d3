//! The `msgpushd` executable: flags, logging, runtime, then [`msgpushd::run`].

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use msgpushd::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// jemalloc, with its background threads on: memory freed after a burst of
/// short-lived sessions goes back to the system within seconds (glibc's
/// malloc kept it, and grew with each burst).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let config = Config::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("MSGPUSHD_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match msgpushd::fd_limit::raise() {
        Ok(limit) => tracing::debug!("open descriptor limit: {limit}"),
        Err(e) => tracing::warn!("cannot raise the open descriptor limit: {e}"),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("msgpushd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = msgpushd::shutdown::on_signal()?;
        msgpushd::run(config, shutdown).await
    });
    // Tasks still stuck on a client after the grace period are dropped, not awaited.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msgpushd: {e}");
            ExitCode::FAILURE
        }
    }
}
