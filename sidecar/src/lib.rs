//! msgpushd: real-time push for PHP applications. Browsers connect with
//! Socket.IO and log in with a login token naming their uid (and maybe
//! groups); PHP pushes to uids, groups or everyone, puts users in groups and
//! asks who is online, through the Unix socket (the `msgpush` extension) or
//! the HTTP API; the daemon emits to the tabs addressed. With `--redis-url`
//! several daemons form a cluster: every node reaches every node's tabs, and
//! answers for all of them.
//!
//! # Layout
//! The folders stack in layers, lowest first; each imports only folders
//! above it in this list (`folders_import_only_lower_layers` checks it).
//! - `telemetry`: the Prometheus metrics every part counts into, log set-up,
//!   and logging refusals once per interval.
//! - `net`: the network plumbing: serving HTTP on a TCP port with deadlines,
//!   a connection cap and TLS; the descriptor limit; shutdown signals.
//! - `settings`: flags, environment variables and the settings file.
//! - `auth`: the token secret's file, login tokens, the HTTP API key.
//! - `state`: state that knows nothing of the server: who is online and in
//!   which groups, memberships, arrivals and departures, the online-count
//!   message, recently published message ids, pushes waiting for
//!   acknowledgements.
//! - `store`: what survives a single daemon's restart: each stream's
//!   history, the offline inbox, receipts and memberships, in an embedded
//!   redb file.
//! - `cluster`: the Redis driver, the census of who is online across the
//!   nodes, memberships, history, inboxes and receipts in Redis, the bus of
//!   orders between nodes, and the directory that answers from the census
//!   or this node.
//! - `webhooks`: events to the application: the signed, batched and
//!   retried POSTs to `--webhook-url`, the pages' messages to it, and the
//!   check of a request's signature.
//! - `browser`: what faces the browser: the Socket.IO server and its
//!   handlers, rooms, the task that changes this node's sockets, what a
//!   tab's acknowledgements do, session caps, origins, client addresses,
//!   message rates, emitting to sockets, the browser port's routes.
//! - `hub`: the shared state tying those together; every request from PHP
//!   is one of its methods.
//! - `ingress`: what faces PHP: the Unix socket, web-msg-sender's HTTP API,
//!   the demo page's form.
//! - `ops`: health checks, `/metrics` and the `/status` page.
//! - `daemon`: starting every part, reloading settings on SIGHUP, stopping.

#![warn(missing_docs)]

mod auth;
mod browser;
mod cluster;
mod daemon;
mod hub;
mod ingress;
mod net;
mod ops;
mod settings;
mod state;
mod store;
mod telemetry;
mod webhooks;

pub use daemon::reload::Reloader;
pub use daemon::{check, run};
pub use net::fd_limit::raise as raise_fd_limit;
pub use net::shutdown::on_signal;
pub use settings::file::{effective, load, SettingsError};
pub use settings::flags::Config;
pub use telemetry::logging::init as init_logging;

#[cfg(test)]
mod layers {
    //! The folders' layering, read from the sources.

    use std::path::Path;

    /// The folders, lowest layer first, as the crate map lists them.
    const LAYERS: [&str; 13] = [
        "telemetry",
        "net",
        "settings",
        "auth",
        "state",
        "store",
        "cluster",
        "webhooks",
        "browser",
        "hub",
        "ingress",
        "ops",
        "daemon",
    ];

    /// Every module named right after `crate::` in a source file, also in
    /// grouped imports (`crate::{a::X, b::{Y, Z}}` names `a` and `b`).
    fn imports(source: &str) -> Vec<String> {
        let ident =
            |s: &str| -> String { s.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
        let mut found = Vec::new();
        for (i, _) in source.match_indices("crate::") {
            let rest = &source[i + "crate::".len()..];
            let Some(group) = rest.strip_prefix('{') else {
                found.push(ident(rest));
                continue;
            };
            let (mut depth, mut item_start) = (0, 0);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push(ident(&group[item_start..]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(ident(&group[item_start..]));
                        item_start = j + 1;
                    }
                    _ => {}
                }
            }
        }
        found.retain(|name| !name.is_empty());
        found
    }

    #[test]
    fn folders_import_only_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut checked = 0;
        for (layer, folder) in LAYERS.iter().enumerate() {
            for entry in std::fs::read_dir(src.join(folder)).unwrap() {
                let path = entry.unwrap().path();
                let source = std::fs::read_to_string(&path).unwrap();
                for name in imports(&source) {
                    let Some(target) = LAYERS.iter().position(|l| *l == name) else {
                        continue;
                    };
                    assert!(
                        target <= layer,
                        "{} imports crate::{name}, a layer above {folder}",
                        path.strip_prefix(&src).unwrap().display()
                    );
                }
                checked += 1;
            }
        }
        let folders = std::fs::read_dir(&src).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
        assert_eq!(folders, LAYERS.len(), "every folder has its place in LAYERS");
        assert!(checked > LAYERS.len());
    }

    #[test]
    fn grouped_and_plain_imports_are_both_read() {
        let source = "use crate::{hub::{Hub, Figures}, state};\nuse crate::net::tls;\nfn f() { crate::ops::x() }";
        assert_eq!(imports(source), ["hub", "state", "net", "ops"]);
    }
}
