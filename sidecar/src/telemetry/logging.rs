//! Log lines to stderr, as text or JSON, at a level a reload can change.

use std::io::IsTerminal;

use clap::ValueEnum;
use serde::Serialize;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event, for people.
    Text,
    /// One JSON object per line, with its fields, for log shippers.
    Json,
}

/// Changes the level of the logs set up by [`init`].
#[derive(Debug, Clone)]
pub struct LogLevel(reload::Handle<EnvFilter, Registry>);

/// Sets up the process's logs; `level` as `--log-level` takes it.
pub fn init(format: LogFormat, level: &str) -> LogLevel {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    // The journal (systemd) stamps each line itself.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let stderr = std::io::stderr;
    let output = match format {
        LogFormat::Text if journal => fmt::layer().with_writer(stderr).with_ansi(false).without_time().boxed(),
        LogFormat::Text => fmt::layer().with_writer(stderr).with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => fmt::layer().json().flatten_event(true).with_writer(stderr).boxed(),
    };
    tracing_subscriber::registry().with(filter).with(output).init();
    LogLevel(handle)
}

impl LogLevel {
    /// Logs at `level` from now on.
    pub fn set(&self, level: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}
