//! The article's page (`tests/php/seed/index.html`: jQuery and socket.io
//! from a CDN, `io(url)` with the default transports, `emit('login', uid)`,
//! `new_msg`, `update_online_count`) in Debian's chromium, unchanged but for
//! its script and server URLs, with every socket.io client generation's
//! browser bundle (from its npm tarball), over the default transports and
//! over long-polling only (websockets blocked, as by a proxy): against
//! `--auth none` with the article's uid, and, with a login token in place of
//! the uid, against the default daemon. The article's PHP action pushes to
//! it with the article's curl PushEvent. Screenshots go to
//! `tests/output/article/`.

use std::process::{Command, Stdio};

use msgpush_testkit::*;
use serde_json::{json, Value};

/// The client versions, with the bundle's place in each package.
const CLIENTS: [(&str, &str); 5] = [
    ("1.3.7", "socket.io.js"),
    ("1.7.4", "dist/socket.io.js"),
    ("2.5.0", "dist/socket.io.js"),
    ("3.1.3", "dist/socket.io.js"),
    ("4.8.4", "dist/socket.io.js"),
];

const ARTICLE: &str = "Man Always Remember Love Because Of Romance Only";

/// The article's page with its script URLs pointing at `/vendor/` copies,
/// its server at `server`, and `uid` as the value it logs in with.
fn page(client: &str, server: &str, login: &str) -> String {
    let article = std::fs::read_to_string(repo_root().join("tests/php/seed/index.html")).unwrap();
    let rewritten = article
        .replace("http://cdn.bootcss.com/jquery/3.1.0/jquery.min.js", "/vendor/jquery.min.js")
        .replace("http://cdn.bootcss.com/socket.io/1.3.7/socket.io.js", &format!("/vendor/socket.io-{client}.js"))
        .replace("io('http://127.0.0.1:2120')", &format!("io('{server}')"))
        .replace("uid = 123;", &format!("uid = {login};"));
    assert_ne!(rewritten, article);
    rewritten
}

#[test]
fn the_articles_page_works_with_every_client_version_over_either_transport() {
    let open = Daemon::start_with(&["--auth", "none"]);
    let signed = Daemon::start();
    let token = signed.token("123");

    let root = TempDir::new("article-site");
    let vendor = root.path().join("vendor");
    std::fs::create_dir(&vendor).unwrap();
    std::fs::copy(npm_package_file("jquery@3.1.0", "dist/jquery.min.js"), vendor.join("jquery.min.js")).unwrap();
    for file in ["PushEvent.class.php", "pushmsg.php"] {
        std::fs::copy(repo_root().join("tests/php/seed").join(file), root.path().join(file)).unwrap();
    }
    let mut variants = Vec::new();
    for (client, bundle) in CLIENTS {
        let bundle = npm_package_file(&format!("socket.io-client@{client}"), bundle);
        std::fs::copy(bundle, vendor.join(format!("socket.io-{client}.js"))).unwrap();
        for (auth, daemon, login) in [("uid", &open, "123".to_owned()), ("token", &signed, format!("\"{token}\""))] {
            let name = format!("{client}-{auth}");
            std::fs::write(root.path().join(format!("{name}.html")), page(client, &daemon.url(), &login)).unwrap();
            for polling in [false, true] {
                let transport = if polling { "polling" } else { "default" };
                variants.push(json!({
                    "name": format!("{name}-{transport}"),
                    "page": format!("/{name}.html"),
                    "uid": "123",
                    "api": daemon.http.port(),
                    "polling": polling,
                }));
            }
        }
    }

    let port = free_port();
    let site = Command::new("php")
        .args(["-S", &format!("127.0.0.1:{port}"), "-t"])
        .arg(root.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run php (installed by make test)");
    let _site = ChildGuard::kill_on_drop(site);
    assert!(wait_until(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()));

    let output = repo_root().join("tests/output/article");
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output).unwrap();
    let run = Command::new("node")
        .arg(repo_root().join("tests/js/article_matrix.js"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&output)
        .arg(Value::Array(variants.clone()).to_string())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&run.stderr));
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    let mut failed = Vec::new();
    for variant in &variants {
        let name = variant["name"].as_str().unwrap();
        let seen = &summary[name];
        let works = seen["failure"].is_null()
            // One user (tabs of earlier pages may not have timed out yet).
            && seen["count"].as_str().is_some_and(|c| c.starts_with("当前1人在线，共打开"))
            && seen["pushAnswer"] == "ok"
            && seen["target"].as_str().is_some_and(|t| t.matches(ARTICLE).count() == 1)
            && seen["errors"].as_array().is_some_and(Vec::is_empty);
        // Blocked websockets carried nothing; otherwise the client upgraded.
        let upgraded = seen["websocketFrames"].as_u64().unwrap_or(0) > 0;
        if !works || upgraded == variant["polling"].as_bool().unwrap() {
            failed.push(format!("{name}: {seen}"));
        }
    }
    assert!(failed.is_empty(), "variants that failed:\n{}\ndaemon logs:\n{}", failed.join("\n"), open.log());
    for variant in &variants {
        assert!(output.join(format!("{}.png", variant["name"].as_str().unwrap())).exists());
    }
}
