//! Reloading the settings on SIGHUP (`systemctl reload msgpushd`): the
//! flags, environment and settings file are read again; what can change
//! safely while running is applied, the rest is named in the log as needing
//! a restart. The TLS certificate is re-read at every reload.
//!
//! Applied at once: `log_level`, `online_count_template` (broadcast at the
//! next check), the session caps (for new handshakes),
//! `max_client_messages_per_sec` (for new sockets) and the retention of
//! history and inboxes (the stores trim to it as they go).

use std::ffi::OsString;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::browser::sessions::{Caps, Sessions};
use crate::net::tls::Tls;
use crate::settings::file;
use crate::settings::flags::Config;
use crate::state::online_count::OnlineCount;
use crate::store::retention::{Limits, Retention};
use crate::telemetry::logging::LogLevel;

/// The settings a reload applies.
const RELOADABLE: &[&str] = &[
    "log_level",
    "online_count_template",
    "max_sessions",
    "max_sessions_per_address",
    "max_pending_sessions",
    "max_pending_sessions_per_address",
    "max_client_messages_per_sec",
    "history_size",
    "history_ttl_secs",
    "history_max_bytes",
    "inbox_size",
    "inbox_max_bytes",
    "receipt_ttl_secs",
    "max_receipts_per_message",
];

/// How to read the settings again, and where to apply them.
#[derive(Debug)]
pub struct Reloader {
    /// The command line the daemon was started with.
    pub args: Vec<OsString>,
    /// The log level's handle.
    pub logs: LogLevel,
}

/// The parts of the running daemon a reload changes.
#[derive(Debug)]
pub struct Live {
    /// The session caps.
    pub sessions: Arc<Sessions>,
    /// The `update_online_count` template.
    pub online: Arc<OnlineCount>,
    /// The message rate given to new sockets.
    pub messages_per_sec: Arc<AtomicU32>,
    /// The certificate, if --listen serves TLS.
    pub tls: Option<Arc<Tls>>,
    /// The bounds of history and inboxes.
    pub retention: Arc<Retention>,
}

/// SIGHUP, listened for from the start so that an early one is not fatal.
pub fn hangups() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}

/// Reloads at each SIGHUP until shutdown; `running` is the settings in use.
pub async fn run(
    mut hangups: Signal,
    reloader: Reloader,
    live: Live,
    mut running: Config,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            Some(()) = hangups.recv() => {}
            _ = shutdown.cancelled() => return,
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
        tracing::info!("SIGHUP received, reloading the settings");
        match file::load(&reloader.args) {
            Ok(new) => apply(&reloader, &live, &mut running, &new),
            Err(file::SettingsError::File(why)) => tracing::error!(cause = %why, "settings unchanged"),
            Err(file::SettingsError::Usage(e)) => {
                tracing::error!(cause = %e.render().to_string().trim(), "settings unchanged")
            }
        }
        if let Some(tls) = &live.tls {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate re-read"),
                Err(why) => tracing::error!(cause = %why, "TLS certificate unchanged"),
            }
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    }
}

/// Applies what changed from `running` to `new` and can change now; the
/// settings applied become the running ones.
fn apply(reloader: &Reloader, live: &Live, running: &mut Config, new: &Config) {
    let changed = changed(running, new);
    if changed.is_empty() {
        tracing::info!("settings reloaded: nothing changed");
        return;
    }
    let (now, later): (Vec<&str>, Vec<&str>) = changed.iter().map(String::as_str).partition(|k| RELOADABLE.contains(k));
    let mut applied = Vec::new();
    for key in now {
        let done = match key {
            "log_level" => reloader.logs.set(&new.log_level).map(|()| running.log_level.clone_from(&new.log_level)),
            "online_count_template" => {
                live.online.set_template(new.online_count_template.clone());
                running.online_count_template.clone_from(&new.online_count_template);
                Ok(())
            }
            "max_client_messages_per_sec" => {
                live.messages_per_sec.store(new.max_client_messages_per_sec, Ordering::Relaxed);
                running.max_client_messages_per_sec = new.max_client_messages_per_sec;
                Ok(())
            }
            "history_size"
            | "history_ttl_secs"
            | "history_max_bytes"
            | "inbox_size"
            | "inbox_max_bytes"
            | "receipt_ttl_secs"
            | "max_receipts_per_message" => {
                running.history_size = new.history_size;
                running.history_ttl_secs = new.history_ttl_secs;
                running.history_max_bytes = new.history_max_bytes;
                running.inbox_size = new.inbox_size;
                running.inbox_max_bytes = new.inbox_max_bytes;
                running.receipt_ttl_secs = new.receipt_ttl_secs;
                running.max_receipts_per_message = new.max_receipts_per_message;
                live.retention.set(Limits::of(running));
                Ok(())
            }
            _ => {
                running.max_sessions = new.max_sessions;
                running.max_sessions_per_address = new.max_sessions_per_address;
                running.max_pending_sessions = new.max_pending_sessions;
                running.max_pending_sessions_per_address = new.max_pending_sessions_per_address;
                live.sessions.set_caps(Caps::of(running));
                Ok(())
            }
        };
        match done {
            Ok(()) => applied.push(key),
            Err(why) => tracing::error!(setting = key, cause = %why, "setting not applied"),
        }
    }
    if !later.is_empty() {
        tracing::warn!(settings = %later.join(", "), "changed settings need a restart to apply");
    }
    tracing::info!(applied = %applied.join(", "), "settings reloaded");
}

/// The settings (by key) whose values differ.
fn changed(running: &Config, new: &Config) -> Vec<String> {
    let table = |config: &Config| toml::Table::try_from(config).expect("the settings serialize to TOML");
    let (old, new_table) = (table(running), table(new));
    let mut keys: Vec<String> =
        old.keys().chain(new_table.keys()).filter(|key| old.get(*key) != new_table.get(*key)).cloned().collect();
    // Secrets serialize hidden: compared here.
    if running.http_api_key != new.http_api_key {
        keys.push("http_api_key".into());
    }
    if running.redis_url != new.redis_url {
        keys.push("redis_url".into());
    }
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn changes_are_found_by_key_secrets_included() {
        let old = Config::parse_from(["msgpushd"]);
        let new = Config::parse_from([
            "msgpushd",
            "--max-sessions",
            "5",
            "--listen",
            "127.0.0.1:9",
            "--http-api-key",
            "k",
            "--log-level",
            "info",
        ]);
        assert_eq!(changed(&old, &new), ["http_api_key", "listen", "max_sessions"]);
        assert!(changed(&new, &new).is_empty());
    }
}
