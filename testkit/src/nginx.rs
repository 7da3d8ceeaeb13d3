//! Debian's nginx running the example site's server block
//! (`php-examples/site/nginx.conf`), pointed at the test's php-fpm, msgpushd
//! and site copy.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{free_port, repo_root, wait_until, ChildGuard, TempDir};

/// A running nginx.
#[derive(Debug)]
pub struct Nginx {
    _child: ChildGuard,
    /// Where it listens.
    pub addr: SocketAddr,
    dir: TempDir,
}

/// Replaces `from` by `to` in `text`, failing if `from` is absent: the example
/// config must keep the values this test knows how to point elsewhere.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "php-examples/site/nginx.conf no longer contains '{from}'");
    text.replace(from, to)
}

impl Nginx {
    /// Starts nginx serving `root` with PHP from `fpm` and Socket.IO proxied
    /// to `msgpushd`; `extra` is added to the server block.
    pub fn start(root: &Path, fpm: SocketAddr, msgpushd: SocketAddr, extra: &str) -> Nginx {
        Nginx::start_on(SocketAddr::from(([127, 0, 0, 1], free_port())), root, fpm, msgpushd, extra)
    }

    /// [`Nginx::start`] on `addr` (a port the test chose before, to give
    /// msgpushd's `--webhook-url`).
    pub fn start_on(addr: SocketAddr, root: &Path, fpm: SocketAddr, msgpushd: SocketAddr, extra: &str) -> Nginx {
        let dir = TempDir::new("nginx");
        let site = std::fs::read_to_string(repo_root().join("php-examples/site/nginx.conf")).unwrap();
        let site = substitute(&site, "listen 80;", &format!("listen {addr};"));
        let site = substitute(&site, "root /var/www/msgpush-site;", &format!("root {};", root.display()));
        let site = substitute(&site, "fastcgi_pass unix:/run/php/php8.2-fpm.sock;", &format!("fastcgi_pass {fpm};"));
        let site = substitute(&site, "proxy_pass http://127.0.0.1:2120;", &format!("proxy_pass http://{msgpushd};"));
        let site = substitute(&site, "    index index.php;\n", &format!("    index index.php;\n{extra}\n"));
        // Relative includes resolve next to the config file, here a temp dir.
        let site = substitute(&site, "include fastcgi_params;", "include /etc/nginx/fastcgi_params;");
        let d = dir.path().display();
        let conf = format!(
            "user www-data;\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n\
               client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{site}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("/usr/sbin/nginx")
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .expect("start nginx (installed by make test)");
        // SIGTERM on drop: the master then stops its workers too.
        let nginx = Nginx { _child: ChildGuard::terminate_on_drop(child), addr, dir };
        let up = wait_until(|| std::net::TcpStream::connect(nginx.addr).is_ok());
        let log = |name: &str| std::fs::read_to_string(nginx.dir.path().join(name)).unwrap_or_default();
        assert!(up, "nginx did not start: {}{}", log("stderr.log"), log("error.log"));
        nginx
    }

    /// The site's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
