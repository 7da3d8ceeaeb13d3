//! The test kit: starts the real `msgpushd` binary on free loopback ports,
//! real socket.io clients (node, npm `socket.io-client` 4.x and 2.x), the
//! real `php` with the built extension, php-fpm and nginx, and talks to the
//! daemon over its Unix socket (with the protocol crate) and HTTP. The
//! end-to-end tests (`tests/`) and the benchmarks (`bench/`) both use it.
//!
//! The binaries are found beside the running executable (`target/<profile>/`),
//! so `cargo build` of the workspace must run first (the Makefile does this).
//!
//! # Layout
//! - [`paths`]: the repository root and the built artifacts.
//! - [`wait`]: how long a test waits for something, and polling for it.
//! - [`scratch`]: temporary directories; [`ports`]: free loopback ports.
//! - [`skip`]: saying that a step cannot run on this machine.
//! - [`process`]: a child process stopped when its guard is dropped.
//! - [`fd_limit`]: raising this process's descriptor limit.
//! - [`daemon`]: a running msgpushd; [`metrics`]: its Prometheus metrics;
//!   [`tls`]: test certificates for it.
//! - [`redis`]: a private redis-server, for clusters of daemons.
//! - [`unix_client`]: a blocking client of its Unix socket.
//! - [`http`]: HTTP/1.1 requests, one-shot or on a keep-alive connection.
//! - [`browser`]: node processes running socket.io clients.
//! - [`npm_pack`]: files of npm packages npm cannot install (old browser bundles).
//! - [`php`]: the php CLI with the extension, one-shot or interactive.
//! - [`fake_daemon`]: a misbehaving stand-in for msgpushd.
//! - [`php_fpm`], [`nginx`], [`fastcgi`]: the example site's web stack.

#![warn(missing_docs)]

pub mod browser;
pub mod daemon;
pub mod fake_daemon;
pub mod fastcgi;
pub mod fd_limit;
pub mod http;
pub mod metrics;
pub mod nginx;
pub mod npm_pack;
pub mod paths;
pub mod php;
pub mod php_fpm;
pub mod ports;
pub mod process;
pub mod redis;
pub mod scratch;
pub mod site;
pub mod skip;
pub mod tls;
pub mod unix_client;
pub mod wait;

pub use browser::{slow_reader, text, Browser, BrowserOptions, ClientVersion, Via};
pub use daemon::{check_config, effective_settings, msgpushd_command, Daemon};
pub use fake_daemon::FakeDaemon;
pub use http::{http_get, http_post, http_raw, HttpConnection};
pub use metrics::Scrape;
pub use npm_pack::npm_package_file;
pub use paths::{artifact, repo_root};
pub use php::{php_command, php_json, php_ok, PhpSession};
pub use ports::free_port;
pub use process::ChildGuard;
pub use redis::RedisServer;
pub use scratch::TempDir;
pub use skip::skip;
pub use unix_client::{sockets_delivered, UnixClient};
pub use wait::{wait_until, PATIENCE};
