//! The `msgpush` PHP extension: `MsgPush\PushEvent` sends pushes to
//! msgpushd, and `MsgPush\Auth` asks it for login tokens, over a persistent
//! Unix-socket connection per PHP process.
//!
//! # Layout
//! - `push_event`: the class `MsgPush\PushEvent` (API in `msgpush.stub.php`).
//! - `auth`: the class `MsgPush\Auth`: login tokens, logging users out.
//! - `group`: the class `MsgPush\Group`: memberships, members of a group.
//! - `presence`: the class `MsgPush\Presence`: who is online.
//! - `inbox`: the class `MsgPush\Inbox`: messages kept for a user.
//! - `receipt`: the class `MsgPush\Receipt`: who acknowledged a message.
//! - `webhook`: the class `MsgPush\Webhook`: the events msgpushd posts to
//!   the application, checked.
//! - `values`: PHP values to protocol values (uids, content, JSON).
//! - `client`: `push()`'s request/reply over the process's connection.
//! - `connection`: one socket with deadlines, `MSG_NOSIGNAL`, fork checks.
//! - `process`: which process this is (forks counted), without a system call.
//! - `queue`: the fire-and-forget mode and its writer thread.
//! - `settings`: the `msgpush.*` php.ini settings.
//! - `error`: `MsgPush\PushException` and its causes.
//! - `info`: the `php --ri msgpush` section.
//!
//! Nothing here connects or starts a thread at module startup: php-fpm forks
//! its workers after that, and each worker connects on its first push.

#![warn(missing_docs)]
#![cfg_attr(windows, feature(abi_vectorcall))]

mod auth;
mod client;
mod connection;
mod error;
mod group;
mod ids;
mod inbox;
mod info;
mod presence;
mod process;
mod push_event;
mod queue;
mod receipt;
mod settings;
mod values;
mod webhook;

use std::panic::catch_unwind;

use ext_php_rs::class::RegisteredClass;
use ext_php_rs::prelude::*;

use crate::auth::Auth;
use crate::group::Group;
use crate::inbox::Inbox;
use crate::presence::Presence;
use crate::push_event::PushEvent;
use crate::receipt::Receipt;
use crate::webhook::Webhook;

const SUCCESS: i32 = 0;
const FAILURE: i32 = -1;

/// Module startup: registers the settings and the exception class, and
/// starts counting forks.
pub fn startup(_type: i32, module_number: i32) -> i32 {
    let registered = catch_unwind(|| {
        settings::register(module_number);
        error::register_exception_class().is_ok() && process::watch_forks()
    });
    if matches!(registered, Ok(true)) {
        SUCCESS
    } else {
        FAILURE
    }
}

/// End of a request: give queued messages up to `msgpush.flush_timeout_ms`.
extern "C" fn request_shutdown(_type: i32, _module_number: i32) -> i32 {
    flush_queue();
    SUCCESS
}

/// End of the process: the same, last chance for queued messages.
extern "C" fn module_shutdown(_type: i32, _module_number: i32) -> i32 {
    flush_queue();
    SUCCESS
}

fn flush_queue() {
    let _ = catch_unwind(|| {
        if queue::has_pending() {
            let timeout = settings::Settings::current().map(|s| s.flush_timeout);
            let fallback = std::time::Duration::from_millis(msgpush_protocol::defaults::FLUSH_TIMEOUT_MS);
            queue::flush(timeout.unwrap_or(fallback));
        }
    });
}

/// The classes the module registers, for `php --ri msgpush`.
const CLASSES: [&str; 8] = [
    <PushEvent as RegisteredClass>::CLASS_NAME,
    <Auth as RegisteredClass>::CLASS_NAME,
    <Group as RegisteredClass>::CLASS_NAME,
    <Presence as RegisteredClass>::CLASS_NAME,
    <Inbox as RegisteredClass>::CLASS_NAME,
    <Receipt as RegisteredClass>::CLASS_NAME,
    <Webhook as RegisteredClass>::CLASS_NAME,
    error::CLASS_NAME,
];

/// The module entry PHP asks for when loading the extension.
#[php_module]
#[php(startup = "startup")]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    module
        .class::<PushEvent>()
        .class::<Auth>()
        .class::<Group>()
        .class::<Presence>()
        .class::<Inbox>()
        .class::<Receipt>()
        .class::<Webhook>()
        .request_shutdown_function(request_shutdown)
        .shutdown_function(module_shutdown)
        .info_function(info::module_info)
}
