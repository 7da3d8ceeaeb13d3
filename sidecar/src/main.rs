//! The `msgpushd` executable: settings, logging, runtime, then [`msgpushd::run`].

use std::ffi::OsString;
use std::process::ExitCode;

use msgpushd::{Reloader, SettingsError};

/// jemalloc, with its background threads on: memory freed after a burst of
/// short-lived sessions goes back to the system within seconds (glibc's
/// malloc kept it, and grew with each burst). Its decay times are set where
/// it is built, in `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit status for settings that are wrong (as clap uses for usage errors).
const BAD_SETTINGS: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let config = match msgpushd::load(&args) {
        Ok(config) => config,
        Err(SettingsError::Usage(e)) => e.exit(),
        Err(SettingsError::File(why)) => {
            eprintln!("msgpushd: {why}");
            return ExitCode::from(BAD_SETTINGS);
        }
    };
    if config.check_config {
        return match msgpushd::check(&config) {
            Ok(()) => {
                print!("{}", msgpushd::effective(&config));
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("msgpushd: {why}");
                ExitCode::from(BAD_SETTINGS)
            }
        };
    }
    let logs = msgpushd::init_logging(config.log_format, &config.log_level);
    match msgpushd::raise_fd_limit() {
        Ok(limit) => tracing::debug!(limit, "open descriptor limit"),
        Err(e) => tracing::warn!(cause = %e, "cannot raise the open descriptor limit"),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("msgpushd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let shutdown = msgpushd::on_signal()?;
        msgpushd::run(config, Reloader { args, logs }, shutdown).await
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
