//! The `php --ri msgpush` / `phpinfo()` section: version, effective settings,
//! this process's connection and queue, and the daemon's version (asked
//! with a ping, so a mismatch shows where it is looked for).

use ext_php_rs::zend::ModuleEntry;
use ext_php_rs::{info_table_end, info_table_row, info_table_start};

use crate::{auth, client, queue, settings};

/// The module's info function.
pub extern "C" fn module_info(_module: *mut ModuleEntry) {
    // Nothing may unwind into PHP from here.
    let _ = std::panic::catch_unwind(print_table);
}

fn print_table() {
    let text = |s: String| s.replace('\0', "");
    info_table_start!();
    info_table_row!("msgpush support", "enabled");
    info_table_row!("version", env!("CARGO_PKG_VERSION"));
    info_table_row!("protocol version", msgpush_protocol::PROTOCOL_VERSION.to_string());
    info_table_row!("classes", crate::CLASSES.join(", "));
    for setting in settings::ALL {
        info_table_row!(setting.name, text(setting.value().unwrap_or_default()));
    }
    info_table_row!("connection", text(client::describe()));
    info_table_row!("msgpushd", text(client::daemon_version()));
    info_table_row!("login tokens minted", auth::minted().to_string());
    match queue::stats() {
        None => info_table_row!("queue", "not started"),
        Some(s) => {
            info_table_row!(
                "queue",
                format!(
                    "{} queued, {} answered, {} refused, {} dropped (queue full), {} waited for room",
                    s.queued, s.answered, s.failed, s.dropped, s.waited
                )
            );
            if let Some(e) = s.last_error {
                info_table_row!("queue last error", text(e));
            }
        }
    }
    info_table_end!();
}
