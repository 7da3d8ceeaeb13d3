//! The `msgpush.*` php.ini settings: their declarations, and reading their
//! current values (which `ini_set()` and php-fpm's `php_value` may change per
//! request, so they are read at each use, by direct lookup).

use std::path::PathBuf;
use std::time::Duration;

use ext_php_rs::ffi::zend_ini_entry;
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::zend::{ExecutorGlobals, IniEntryDef, IniEntryDefs};

use crate::error::PushError;

/// Path of msgpushd's Unix socket.
pub const SOCKET: &str = "msgpush.socket";
/// Connect plus reply timeout of `push()`, in milliseconds.
pub const TIMEOUT_MS: &str = "msgpush.timeout_ms";
/// Largest frame `push()`/`queue()` send, in bytes; keep it at most msgpushd's
/// `--max-frame-bytes`.
pub const MAX_MESSAGE_BYTES: &str = "msgpush.max_message_bytes";
/// Messages the fire-and-forget queue holds before `queue()` refuses more.
pub const QUEUE_SIZE: &str = "msgpush.queue_size";
/// How long the end of a request (and of the process) waits for queued
/// messages to be answered, in milliseconds.
pub const FLUSH_TIMEOUT_MS: &str = "msgpush.flush_timeout_ms";

/// The declarations registered at module startup.
pub static INI_ENTRIES: IniEntryDefs<6> = IniEntryDefs::new([
    IniEntryDef::new(c"msgpush.socket", c"/run/msgpush/msgpushd.sock", IniEntryPermission::All),
    IniEntryDef::new(c"msgpush.timeout_ms", c"1000", IniEntryPermission::All),
    IniEntryDef::new(c"msgpush.max_message_bytes", c"1048576", IniEntryPermission::All),
    // The queue is created once per process, so its size cannot change per request.
    IniEntryDef::new(c"msgpush.queue_size", c"10000", IniEntryPermission::System),
    IniEntryDef::new(c"msgpush.flush_timeout_ms", c"1000", IniEntryPermission::All),
    IniEntryDef::end(),
]);

/// The settings in force for the current request.
#[derive(Debug, Clone)]
pub struct Settings {
    /// See [`SOCKET`].
    pub socket: PathBuf,
    /// See [`TIMEOUT_MS`].
    pub timeout: Duration,
    /// See [`MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
    /// See [`QUEUE_SIZE`].
    pub queue_size: usize,
    /// See [`FLUSH_TIMEOUT_MS`].
    pub flush_timeout: Duration,
}

impl Settings {
    /// Reads every setting; a value that is not a positive number is an error
    /// naming the setting.
    pub fn current() -> Result<Settings, PushError> {
        Ok(Settings {
            socket: PathBuf::from(raw(SOCKET).unwrap_or_default()),
            timeout: Duration::from_millis(positive(TIMEOUT_MS)? as u64),
            max_message_bytes: positive(MAX_MESSAGE_BYTES)?,
            queue_size: positive(QUEUE_SIZE)?,
            flush_timeout: Duration::from_millis(positive(FLUSH_TIMEOUT_MS)? as u64),
        })
    }
}

/// The current value of a setting, as a string.
pub fn raw(name: &str) -> Option<String> {
    let globals = ExecutorGlobals::get();
    // SAFETY: `EG(ini_directives)` is set up at engine startup and lives for
    // the process; its entries are `zend_ini_entry` pointers owned by it.
    unsafe {
        let table = globals.ini_directives.as_ref()?;
        let entry = table.get(name)?.ptr::<zend_ini_entry>()?.as_ref()?;
        let value = entry.value.as_ref()?;
        Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
    }
}

fn positive(name: &str) -> Result<usize, PushError> {
    let value = raw(name).unwrap_or_default();
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(PushError::Invalid(format!("{name} must be a positive integer, not '{value}'"))),
    }
}
