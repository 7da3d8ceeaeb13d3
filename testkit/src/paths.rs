//! Where things are: the repository, and what `cargo build` produced.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit/ has a parent").to_owned()
}

/// A file built into the same `target/<profile>/` as the running executable
/// (a test in `target/<profile>/deps/`, or a binary such as the benchmarks).
pub fn artifact(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("executable directory");
    let profile_dir = if dir.ends_with("deps") { dir.parent().expect("target/<profile>") } else { dir };
    let path = profile_dir.join(name);
    assert!(path.exists(), "{} is missing: build the workspace first (make build)", path.display());
    path
}
