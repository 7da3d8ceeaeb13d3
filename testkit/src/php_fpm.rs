//! Debian's php-fpm with the built extension: a master and one static worker
//! running as `www-data`, serving a copy of a directory of scripts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{artifact, fastcgi, free_port, wait_until, ChildGuard, TempDir};

/// A running php-fpm.
#[derive(Debug)]
pub struct PhpFpm {
    _child: ChildGuard,
    /// Its FastCGI address.
    pub addr: SocketAddr,
    /// The served copy of the scripts (readable by www-data).
    pub root: PathBuf,
    dir: TempDir,
}

/// Finds Debian's php-fpm binary (`php-fpm8.2` on Debian 12).
fn binary() -> PathBuf {
    let found = std::fs::read_dir("/usr/sbin")
        .expect("/usr/sbin")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("php-fpm")));
    found.expect("php-fpm is installed by make test")
}

/// Copies `from` into `to` recursively.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().map(Result::unwrap) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl PhpFpm {
    /// Starts php-fpm serving a copy of `scripts`, with `msgpush.socket` set.
    pub fn start(msgpush_socket: &Path, scripts: &Path) -> PhpFpm {
        let dir = TempDir::new("fpm");
        // www-data must be able to enter the directories and read the scripts.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let root = dir.path().join("root");
        copy_tree(scripts, &root);
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let ini = dir.path().join("php.ini");
        std::fs::write(
            &ini,
            format!(
                "extension=posix\nextension={}\nmsgpush.socket={}\n",
                artifact("libmsgpush.so").display(),
                msgpush_socket.display()
            ),
        )
        .unwrap();
        let conf = dir.path().join("php-fpm.conf");
        std::fs::write(
            &conf,
            format!(
                "[global]\npid = {dir}/fpm.pid\nerror_log = {dir}/fpm.log\ndaemonize = no\n\n\
                 [www]\nuser = www-data\ngroup = www-data\nlisten = {addr}\npm = static\npm.max_children = 1\n\
                 catch_workers_output = yes\n",
                dir = dir.path().display()
            ),
        )
        .unwrap();
        // No system conf.d: only the extensions named in our php.ini.
        let child = Command::new(binary())
            .args(["--nodaemonize", "--fpm-config"])
            .arg(&conf)
            .arg("-c")
            .arg(&ini)
            .env("PHP_INI_SCAN_DIR", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start php-fpm");
        // SIGTERM on drop: the master then stops its workers too.
        let fpm = PhpFpm { _child: ChildGuard::terminate_on_drop(child), addr, root, dir };
        let up = wait_until(|| std::net::TcpStream::connect(fpm.addr).is_ok());
        assert!(
            up,
            "php-fpm did not start: {}",
            std::fs::read_to_string(fpm.dir.path().join("fpm.log")).unwrap_or_default()
        );
        fpm
    }

    /// Runs `script` (relative to the root) with `query` over FastCGI.
    pub fn get(&self, script: &str, query: &str) -> String {
        fastcgi::get(self.addr, self.root.join(script).to_str().unwrap(), query)
    }
}
