//! The example site (`php-examples/site`) behind nginx and php-fpm on an
//! address chosen before msgpushd started (its `--webhook-url` points
//! there), its PHP talking to that msgpushd, with a `data/` directory the
//! site writes (its webhook route logs each event it took in
//! `data/events.log`).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::Value;

use crate::nginx::Nginx;
use crate::php_fpm::PhpFpm;
use crate::{free_port, repo_root, Daemon};

/// An address for the site, and the URL of its webhook route there.
pub fn site_address() -> (SocketAddr, String) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    (addr, format!("http://{addr}/msgpush/events"))
}

/// The running site.
#[derive(Debug)]
pub struct ExampleSite {
    fpm: PhpFpm,
    nginx: Nginx,
}

impl ExampleSite {
    /// Serves the site on `addr` (from [`site_address`]), for `daemon`
    /// (started with `--socket-group www-data`, so that php-fpm reaches it).
    pub fn start(addr: SocketAddr, daemon: &Daemon) -> ExampleSite {
        let fpm = PhpFpm::start(&daemon.socket, &repo_root().join("php-examples/site"));
        let data = fpm.root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        let nginx = Nginx::start_on(addr, &fpm.root, fpm.addr, daemon.web, "");
        ExampleSite { fpm, nginx }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        self.nginx.url()
    }

    /// The directory the site writes.
    pub fn data(&self) -> PathBuf {
        self.fpm.root.join("data")
    }

    /// The events its webhook route took, in the order it took them.
    pub fn events(&self) -> Vec<Value> {
        let log = std::fs::read_to_string(self.data().join("events.log")).unwrap_or_default();
        log.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }
}
