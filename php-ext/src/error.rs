//! `MsgPush\PushException` and the causes behind it. Each cause has its own
//! exception code (a class constant), so PHP code can tell a daemon that is
//! down from a message that is too large.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::Duration;

use ext_php_rs::builders::ClassBuilder;
use ext_php_rs::exception::PhpException;
use ext_php_rs::flags::ConstantFlags;
use ext_php_rs::zend::{ce, ClassEntry};

/// The PHP name of the exception class.
pub const CLASS_NAME: &str = "MsgPush\\PushException";

/// Why a push failed.
#[derive(Debug)]
pub enum PushError {
    /// The daemon's socket could not be connected to.
    Unreachable(String),
    /// The daemon did not answer in time.
    Timeout(String),
    /// The daemon answered with an error.
    Refused(String),
    /// The input (or a setting) breaks a rule; nothing was sent.
    Invalid(String),
    /// The connection broke, or the daemon answered out of protocol.
    ConnectionLost(String),
    /// The extension could not do its own part (start the queue's writer
    /// thread); nothing was sent.
    Internal(String),
    /// The daemon is at one of its bounds for this kind of request (pushes
    /// waiting for acknowledgements); nothing was sent: try later.
    Busy(String),
}

/// The exception codes, as `PushException` constants. Values are API: never
/// renumber one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    /// See [`PushError::Unreachable`].
    Unreachable = 1,
    /// See [`PushError::Timeout`].
    Timeout = 2,
    /// See [`PushError::Refused`].
    Refused = 3,
    /// See [`PushError::Invalid`].
    InvalidInput = 4,
    /// See [`PushError::ConnectionLost`].
    ConnectionLost = 5,
    /// See [`PushError::Internal`].
    Internal = 6,
    /// See [`PushError::Busy`].
    Busy = 7,
}

impl Code {
    /// Every code, for registering the constants.
    const ALL: [Code; 7] = [
        Code::Unreachable,
        Code::Timeout,
        Code::Refused,
        Code::InvalidInput,
        Code::ConnectionLost,
        Code::Internal,
        Code::Busy,
    ];

    /// The constant's name on `PushException`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Unreachable => "UNREACHABLE",
            Code::Timeout => "TIMEOUT",
            Code::Refused => "REFUSED",
            Code::InvalidInput => "INVALID_INPUT",
            Code::ConnectionLost => "CONNECTION_LOST",
            Code::Internal => "INTERNAL",
            Code::Busy => "BUSY",
        }
    }
}

impl PushError {
    /// The connect failure for `path`, with a hint that fits the cause.
    pub fn unreachable(path: &Path, e: &io::Error) -> Self {
        let hint = match e.kind() {
            io::ErrorKind::PermissionDenied => {
                "this PHP user may not write to the socket: start msgpushd with \
                 --socket-group set to this user's group (for example www-data)"
            }
            io::ErrorKind::TimedOut => "msgpushd is not accepting connections (overloaded?)",
            _ => "is msgpushd running? msgpush.socket must be its --socket path",
        };
        PushError::Unreachable(format!("cannot connect to msgpushd at {}: {e} ({hint})", path.display()))
    }

    /// The timeout failure for `path`, after `msgpush.timeout_ms` and the
    /// `waited` for acknowledgements.
    pub fn timeout(path: &Path, after: Duration, waited: Duration) -> Self {
        let why = match waited.is_zero() {
            true => "msgpush.timeout_ms".to_owned(),
            false => format!("msgpush.timeout_ms plus the push's ack timeout of {} ms", waited.as_millis()),
        };
        PushError::Timeout(format!(
            "msgpushd at {} did not answer within {} ms ({why})",
            path.display(),
            (after + waited).as_millis()
        ))
    }

    /// The exception code PHP code tells the causes apart by.
    pub fn code(&self) -> Code {
        match self {
            PushError::Unreachable(_) => Code::Unreachable,
            PushError::Timeout(_) => Code::Timeout,
            PushError::Refused(_) => Code::Refused,
            PushError::Invalid(_) => Code::InvalidInput,
            PushError::ConnectionLost(_) => Code::ConnectionLost,
            PushError::Internal(_) => Code::Internal,
            PushError::Busy(_) => Code::Busy,
        }
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Unreachable(m)
            | PushError::Timeout(m)
            | PushError::Refused(m)
            | PushError::Invalid(m)
            | PushError::ConnectionLost(m)
            | PushError::Internal(m)
            | PushError::Busy(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PushError {}

/// The registered `PushException` class entry, set once at module startup.
static EXCEPTION_CLASS: AtomicPtr<ClassEntry> = AtomicPtr::new(std::ptr::null_mut());

impl From<PushError> for PhpException {
    fn from(e: PushError) -> Self {
        // SAFETY: the pointer is null or the engine's class entry, which lives
        // for the whole process.
        let class = unsafe { EXCEPTION_CLASS.load(Ordering::Acquire).as_ref() };
        PhpException::new(e.to_string(), e.code() as i32, class.unwrap_or_else(ce::exception))
    }
}

/// `\RuntimeException`, found in the compiler's class table: at module
/// startup the executor's table (which `ClassEntry::try_find` reads) does not
/// exist yet, but SPL's classes are already in the compiler's.
fn runtime_exception() -> &'static ClassEntry {
    // SAFETY: NTS PHP; the compiler globals and their class table live for the
    // process, and class-table values are class-entry pointers.
    let found = unsafe {
        let table = (*std::ptr::addr_of!(ext_php_rs::ffi::compiler_globals)).class_table.as_ref();
        table
            .and_then(|t| t.get("runtimeexception"))
            .and_then(|zval| zval.ptr::<ClassEntry>())
            .and_then(|class| class.as_ref())
    };
    found.unwrap_or_else(ce::exception)
}

/// Registers `MsgPush\PushException extends \RuntimeException` with its code
/// constants. Called from module startup.
pub fn register_exception_class() -> ext_php_rs::error::Result<()> {
    let mut builder = ClassBuilder::new(CLASS_NAME).extends((runtime_exception, "\\RuntimeException")).registration(
        |class, arg_info| {
            // The engine may point into the argument tables for the life of
            // the process (they are empty here: the class adds no methods).
            std::mem::forget(arg_info);
            EXCEPTION_CLASS.store(class, Ordering::Release);
        },
    );
    for code in Code::ALL {
        builder = builder.constant(code.name(), code as i64, &[], ConstantFlags::Public)?;
    }
    builder.register()
}
