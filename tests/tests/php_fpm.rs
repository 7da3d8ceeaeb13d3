//! The extension under the real php-fpm (Debian's), workers running as
//! `www-data`, requests sent over FastCGI as nginx would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use msgpush_tests::*;
use serde_json::{json, Value};

/// Finds Debian's php-fpm binary (`php-fpm8.2` on Debian 12).
fn php_fpm_binary() -> PathBuf {
    let found = std::fs::read_dir("/usr/sbin")
        .expect("/usr/sbin")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("php-fpm")));
    found.expect("php-fpm is installed by make test")
}

/// A php-fpm master with one static worker running as www-data.
struct PhpFpm {
    child: Child,
    addr: SocketAddr,
    script: PathBuf,
    dir: TempDir,
}

impl PhpFpm {
    fn start(msgpush_socket: &Path) -> PhpFpm {
        let dir = TempDir::new("fpm");
        // www-data must be able to read the script and enter its directory.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let script = dir.path().join("push.php");
        std::fs::copy(repo_root().join("tests/php/fpm_push.php"), &script).unwrap();
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
        let child = Command::new(php_fpm_binary())
            .args(["--nodaemonize", "--fpm-config"])
            .arg(&conf)
            .arg("-c")
            .arg(&ini)
            .env("PHP_INI_SCAN_DIR", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start php-fpm");
        let fpm = PhpFpm { child, addr, script, dir };
        let up = wait_until(|| std::net::TcpStream::connect(fpm.addr).is_ok());
        assert!(up, "php-fpm did not start: {}", std::fs::read_to_string(fpm.dir.path().join("fpm.log")).unwrap_or_default());
        fpm
    }

    fn push(&self, uid: &str, text: &str) -> Value {
        let response = fastcgi::get(self.addr, self.script.to_str().unwrap(), &format!("uid={uid}&text={text}"));
        let body = response.split_once("\r\n\r\n").map_or(response.as_str(), |(_, body)| body);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("bad php-fpm response ({e}): {response}"))
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn fpm_worker_as_www_data_reuses_one_connection_across_requests() {
    let daemon = Daemon::start_with(&["--socket-group", "www-data", "--socket-mode", "660"]);
    let mut browser = Browser::open(&daemon, "fpm");
    daemon.wait_online("fpm", 1);
    let fpm = PhpFpm::start(&daemon.socket);

    let replies: Vec<Value> = (1..=3).map(|i| fpm.push("fpm", &format!("request{i}"))).collect();
    let pid = replies[0]["pid"].clone();
    for reply in &replies {
        assert_eq!(reply["sockets"], json!(1), "{reply}");
        assert_eq!(reply["user"], json!("www-data"), "{reply}");
        assert_eq!(reply["pid"], pid, "one worker served every request");
    }
    for i in 1..=3 {
        browser.expect_event("new_msg", &Value::String(format!("request{i}")));
    }
    let connections = daemon.log().matches(&format!("pid=Some({pid})")).count();
    assert_eq!(connections, 1, "the worker opened one connection for three requests");
}

#[test]
fn fpm_worker_without_socket_permission_gets_a_clear_error() {
    // Default mode 660 with root's group: www-data may not connect.
    let daemon = Daemon::start();
    let fpm = PhpFpm::start(&daemon.socket);
    let reply = fpm.push("anyone", "x");
    assert_eq!(reply["error"], json!(1), "{reply}");
    let message = reply["message"].as_str().unwrap();
    assert!(message.contains("Permission denied") && message.contains("--socket-group"), "{message}");
}
