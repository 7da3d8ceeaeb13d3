//! Files of npm packages that `npm install` cannot give: old browser bundles
//! (socket.io-client 1.x depends on git tarballs npm cannot resolve), fetched
//! at test time with `npm pack`, which takes a package's own tarball without
//! its dependencies. Kept in `target/npm-pack/`, never committed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::paths::repo_root;

/// The file `file` (a path inside the package, such as `dist/socket.io.js`)
/// of npm package `spec` (`name@version`), fetched on first use.
pub fn npm_package_file(spec: &str, file: &str) -> PathBuf {
    // Tests run in parallel: one fetch at a time, each once.
    static FETCHING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = FETCHING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = repo_root().join("target/npm-pack").join(spec.replace('/', "_"));
    let path = dir.join("package").join(file);
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let pack = Command::new("npm")
        .args(["pack", spec, "--silent", "--pack-destination"])
        .arg(&dir)
        .output()
        .expect("run npm (installed by make test)");
    assert!(pack.status.success(), "npm pack {spec}: {}", String::from_utf8_lossy(&pack.stderr));
    let tarball = String::from_utf8_lossy(&pack.stdout).lines().last().unwrap_or_default().trim().to_owned();
    let unpack = Command::new("tar").arg("xzf").arg(dir.join(&tarball)).arg("-C").arg(&dir).status().unwrap();
    assert!(unpack.success(), "tar xzf {tarball}");
    assert!(path.exists(), "{spec} has no {file}");
    path
}
