//! The `msgpush.*` php.ini settings: each declared once below (name, default,
//! who may change it), registered at module startup, and read at each use by
//! direct lookup (`ini_set()` and php-fpm's `php_value` may change them per
//! request).

use std::ffi::{CStr, CString};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ext_php_rs::ffi::zend_ini_entry;
use ext_php_rs::flags::IniEntryPermission;
use ext_php_rs::zend::{ExecutorGlobals, IniEntryDef};
use msgpush_protocol::defaults;

use crate::error::PushError;

/// One php.ini setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Its name in php.ini.
    pub name: &'static str,
    default: DefaultValue,
    /// Whether scripts and php-fpm pools may change it (`ini_set()`,
    /// `php_value`), or only php.ini.
    per_request: bool,
}

/// A default value, from the protocol crate's defaults.
#[derive(Debug, Clone, Copy)]
enum DefaultValue {
    Text(&'static str),
    Number(u64),
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaultValue::Text(text) => f.write_str(text),
            DefaultValue::Number(n) => write!(f, "{n}"),
        }
    }
}

/// Path of msgpushd's Unix socket.
pub const SOCKET: Setting =
    Setting { name: "msgpush.socket", default: DefaultValue::Text(defaults::SOCKET_PATH), per_request: true };
/// Connect plus reply timeout of `push()`, in milliseconds.
pub const TIMEOUT_MS: Setting =
    Setting { name: "msgpush.timeout_ms", default: DefaultValue::Number(defaults::TIMEOUT_MS), per_request: true };
/// Largest frame `push()`/`queue()` send, in bytes; keep it at most msgpushd's
/// `--max-frame-bytes`.
pub const MAX_MESSAGE_BYTES: Setting = Setting {
    name: "msgpush.max_message_bytes",
    default: DefaultValue::Number(defaults::MAX_FRAME_BYTES as u64),
    per_request: true,
};
/// Messages the fire-and-forget queue holds before `queue()` refuses more.
/// The queue is created once per process, so its size is php.ini's alone.
pub const QUEUE_SIZE: Setting = Setting {
    name: "msgpush.queue_size",
    default: DefaultValue::Number(defaults::QUEUE_SIZE as u64),
    per_request: false,
};
/// How long the end of a request (and of the process) waits for queued
/// messages to be answered, in milliseconds.
pub const FLUSH_TIMEOUT_MS: Setting = Setting {
    name: "msgpush.flush_timeout_ms",
    default: DefaultValue::Number(defaults::FLUSH_TIMEOUT_MS),
    per_request: true,
};

/// How long `queue()` waits for room in a full queue, in milliseconds: `auto`
/// waits [`CLI_QUEUE_WAIT`] under the CLI (a bulk job would rather slow down
/// than drop) and never under a web server's SAPI (a request must not stall);
/// 0 never waits.
pub const QUEUE_WAIT_MS: Setting =
    Setting { name: "msgpush.queue_wait_ms", default: DefaultValue::Text("auto"), per_request: true };

/// What `auto` waits under the CLI.
const CLI_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Every setting, in the order `php --ri msgpush` shows them.
pub const ALL: [Setting; 6] = [SOCKET, TIMEOUT_MS, MAX_MESSAGE_BYTES, QUEUE_SIZE, QUEUE_WAIT_MS, FLUSH_TIMEOUT_MS];

/// Registers [`ALL`] with the engine. Called once, from module startup; the
/// engine keeps pointing at the table, so it lives for the process.
pub fn register(module_number: i32) {
    let leak =
        |s: String| -> &'static CStr { Box::leak(CString::new(s).expect("no NUL in settings").into_boxed_c_str()) };
    let entries: Vec<IniEntryDef> = ALL
        .iter()
        .map(|s| {
            let permission = if s.per_request { IniEntryPermission::All } else { IniEntryPermission::System };
            IniEntryDef::new(leak(s.name.to_owned()), leak(s.default.to_string()), permission)
        })
        .chain([IniEntryDef::end()])
        .collect();
    IniEntryDef::register(Box::leak(entries.into_boxed_slice()), module_number);
}

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
            socket: PathBuf::from(SOCKET.value().unwrap_or_default()),
            timeout: Duration::from_millis(TIMEOUT_MS.positive()? as u64),
            max_message_bytes: MAX_MESSAGE_BYTES.positive()?,
            queue_size: QUEUE_SIZE.positive()?,
            flush_timeout: Duration::from_millis(FLUSH_TIMEOUT_MS.positive()? as u64),
        })
    }
}

/// [`MAX_MESSAGE_BYTES`] alone, for `queue()`, which needs no other setting
/// on each call.
pub fn max_message_bytes() -> Result<usize, PushError> {
    MAX_MESSAGE_BYTES.positive()
}

/// The wait [`QUEUE_WAIT_MS`] sets for this process's SAPI.
pub fn queue_wait() -> Result<Duration, PushError> {
    let value = QUEUE_WAIT_MS.value().unwrap_or_default();
    match value.trim() {
        "auto" | "" => {
            let cli = ext_php_rs::zend::php_sapi_name().is_some_and(|name| name == "cli");
            Ok(if cli { CLI_QUEUE_WAIT } else { Duration::ZERO })
        }
        number => number.parse::<u64>().map(Duration::from_millis).map_err(|_| {
            PushError::Invalid(format!(
                "{} must be auto or a number of milliseconds, not '{value}'",
                QUEUE_WAIT_MS.name
            ))
        }),
    }
}

impl Setting {
    /// The current value, as a string.
    pub fn value(&self) -> Option<String> {
        self.with_bytes(|bytes| String::from_utf8_lossy(bytes).into_owned())
    }

    /// `read` of the current value's bytes, copied nowhere.
    fn with_bytes<R>(&self, read: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let globals = ExecutorGlobals::get();
        // SAFETY: `EG(ini_directives)` is set up at engine startup and lives for
        // the process; its entries are `zend_ini_entry` pointers owned by it,
        // and the value is not replaced while `read` runs (this thread is the
        // engine's).
        unsafe {
            let table = globals.ini_directives.as_ref()?;
            let entry = table.get(self.name)?.ptr::<zend_ini_entry>()?.as_ref()?;
            Some(read(entry.value.as_ref()?.as_bytes()))
        }
    }

    fn positive(&self) -> Result<usize, PushError> {
        let parsed = self.with_bytes(|bytes| std::str::from_utf8(bytes).ok()?.trim().parse::<usize>().ok());
        match parsed.flatten() {
            Some(n) if n > 0 => Ok(n),
            _ => Err(PushError::Invalid(format!(
                "{} must be a positive integer, not '{}'",
                self.name,
                self.value().unwrap_or_default()
            ))),
        }
    }
}
