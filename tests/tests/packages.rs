//! Installing without a Rust toolchain: the Debian packages (built by
//! `deploy/deb.sh`, as `make deb` does, and installed into a throwaway
//! Debian root), the phpize build PIE runs, and the prebuilt archives.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use msgpush_testkit::*;

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(command: &mut Command) -> String {
    String::from_utf8_lossy(&run(command).stdout).trim().to_owned()
}

fn php_config(option: &str) -> String {
    stdout(Command::new("php-config").arg(option))
}

/// `X.Y` of the PHP `php-config` names.
fn php_minor_version() -> String {
    php_config("--version").split('.').take(2).collect::<Vec<_>>().join(".")
}

/// The directory holding the release build's msgpushd and libmsgpush.so.
fn build_dir() -> std::path::PathBuf {
    artifact("msgpushd").parent().unwrap().to_owned()
}

/// A field of a .deb's control file.
fn field(deb: &Path, name: &str) -> String {
    stdout(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name))
}

#[test]
fn the_debian_packages_install_push_and_purge_cleanly_on_a_machine_without_rust() {
    if let Some(why) = cannot_chroot() {
        skip("Debian packages installed into a fresh root", &why);
        return;
    }
    let out = TempDir::new("debs");
    run(Command::new("bash").arg(repo_root().join("deploy/deb.sh")).arg(build_dir()).arg(out.path()));
    let version = env!("CARGO_PKG_VERSION");
    let php_version = php_minor_version();
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    let daemon = out.path().join(format!("msgpushd_{version}_{arch}.deb"));
    let extension = out.path().join(format!("php{php_version}-msgpush_{version}_{arch}.deb"));

    assert_eq!(field(&daemon, "Package"), "msgpushd");
    assert!(field(&daemon, "Depends").contains("libc6 (>="), "Depends computed from the binary");
    let ext_depends = field(&extension, "Depends");
    assert!(ext_depends.contains(&format!("phpapi-{}", php_config("--phpapi"))), "{ext_depends}");
    assert!(ext_depends.contains("libc6 (>="), "{ext_depends}");
    let conffiles = stdout(Command::new("dpkg-deb").arg("--info").arg(&daemon).arg("conffiles"));
    assert_eq!(conffiles, "/etc/msgpush/msgpushd.toml\n/etc/default/msgpushd");
    let ext_conffiles = stdout(Command::new("dpkg-deb").arg("--info").arg(&extension).arg("conffiles"));
    assert_eq!(ext_conffiles, format!("/etc/php/{php_version}/mods-available/msgpush.ini"));
    let listing = stdout(Command::new("dpkg-deb").arg("--contents").arg(&daemon));
    for path in ["./usr/bin/msgpushd", "./usr/lib/systemd/system/msgpushd.service", "./etc/msgpush/msgpushd.toml"] {
        assert!(listing.contains(path), "{path} in msgpushd's package:\n{listing}");
    }
    assert!(listing.contains("-rw------- root/root") && listing.contains("./etc/default/msgpushd"));

    // Installed where nothing from this build tree is on the PATH.
    let cache = repo_root().join("target/debian-root");
    let output = run(Command::new("bash")
        .arg(repo_root().join("tests/sh/install_debs.sh"))
        .arg(out.path())
        .arg(&cache)
        .arg(free_port().to_string())
        .arg(free_port().to_string()));
    let report: BTreeMap<String, String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect();
    let seen = |key: &str| report.get(key).map(String::as_str).unwrap_or_else(|| panic!("no {key} in {report:?}"));
    assert_eq!(seen("msgpushd --version"), format!("msgpushd {version}"));
    assert_eq!(seen("msgpushd path"), "/usr/bin/msgpushd");
    assert_eq!(seen("php --ri version"), version);
    assert_eq!(seen("phpversion"), version);
    assert_eq!(seen("enabled for cli"), format!("/etc/php/{php_version}/mods-available/msgpush.ini"));
    assert_eq!(seen("user"), "msgpush:/usr/sbin/nologin");
    assert_eq!(seen("state directory"), "700 msgpush");
    assert_eq!(seen("check-config socket"), "\"/run/msgpush/msgpushd.sock\"");
    assert_eq!(seen("push"), "0", "a push reached the packaged daemon (no browser open)");
    assert_eq!(seen("token parts"), "3", "a login token minted by the packaged daemon");
    assert_eq!(seen("left after purge"), "", "apt purge leaves no file of ours");
    assert_eq!(seen("user after purge"), "", "apt purge removes the system user");
}

/// Why this machine cannot build and enter a Debian root, if it cannot.
fn cannot_chroot() -> Option<String> {
    if stdout(Command::new("id").arg("-u")) != "0" {
        return Some("debootstrap and chroot need root".into());
    }
    if Command::new("debootstrap").arg("--version").output().is_err() {
        return Some("debootstrap is not installed (make test installs it)".into());
    }
    None
}

#[test]
fn phpize_builds_a_loadable_extension_from_a_copy_of_the_tree() {
    // A copy of the tree as PIE unpacks it: the sources, no build output.
    let copy = TempDir::new("phpize");
    let tree = copy.path().join("msgpush");
    std::fs::create_dir(&tree).unwrap();
    run(Command::new("bash").arg("-c").arg(format!(
        "tar -C '{}' --exclude=./target --exclude=./node_modules --exclude=./tests/output -cf - . | tar -C '{}' -xf -",
        repo_root().display(),
        tree.display()
    )));
    let php_ext = tree.join("php-ext");
    run(Command::new("phpize").current_dir(&php_ext));

    // Without cargo, configure says what is missing and how to do without.
    let no_cargo = Command::new("./configure")
        .current_dir(&php_ext)
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", copy.path())
        // (cargo runs the tests with $CARGO set, which configure would take.)
        .env_remove("CARGO")
        .output()
        .unwrap();
    assert!(!no_cargo.status.success());
    assert!(String::from_utf8_lossy(&no_cargo.stderr).contains("cargo not found: msgpush is written in Rust"));

    run(Command::new("./configure").current_dir(&php_ext));
    // A build directory of its own, kept between runs (the first build takes minutes).
    let cargo_target = repo_root().join("target/phpize");
    run(Command::new("make").current_dir(&php_ext).env("CARGO_TARGET_DIR", &cargo_target));
    let root = copy.path().join("root");
    run(Command::new("make")
        .arg("install")
        .current_dir(&php_ext)
        .env("CARGO_TARGET_DIR", &cargo_target)
        .env("INSTALL_ROOT", &root));
    let installed = root.join(php_config("--extension-dir").trim_start_matches('/')).join("msgpush.so");
    assert!(installed.exists(), "make install put {}", installed.display());
    let info = stdout(
        Command::new("php")
            .arg("-n")
            .arg("-d")
            .arg(format!("extension={}", installed.display()))
            .arg("--ri")
            .arg("msgpush"),
    );
    assert!(info.contains(&format!("version => {}", env!("CARGO_PKG_VERSION"))), "{info}");
}

#[test]
fn make_dist_writes_archives_named_as_pie_expects_with_checksums() {
    let out = TempDir::new("dist");
    run(Command::new("bash").arg(repo_root().join("deploy/dist.sh")).arg(build_dir()).arg(out.path()));
    let version = env!("CARGO_PKG_VERSION");
    let php_version = php_minor_version();
    let arch = stdout(Command::new("uname").arg("-m"));
    let extension = format!("php_msgpush-{version}_php{php_version}-{arch}-linux-glibc-nts.tgz");
    let daemon = format!("msgpushd-{version}-{arch}-linux.tgz");
    run(Command::new("sha256sum").arg("--check").arg("--strict").arg("SHA256SUMS").current_dir(out.path()));
    let sums = std::fs::read_to_string(out.path().join("SHA256SUMS")).unwrap();
    assert!(sums.contains(&format!("  {extension}\n")) && sums.contains(&format!("  {daemon}\n")), "{sums}");

    // The extension's archive holds msgpush.so at its root, loadable by this PHP.
    let unpacked = out.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    run(Command::new("tar").arg("-xzf").arg(out.path().join(&extension)).arg("-C").arg(&unpacked));
    let so = unpacked.join("msgpush.so");
    let info = stdout(
        Command::new("php").arg("-n").arg("-d").arg(format!("extension={}", so.display())).arg("--ri").arg("msgpush"),
    );
    assert!(info.contains(&format!("version => {version}")), "{info}");
    // The daemon's archive: the binary runs and reports its version.
    run(Command::new("tar").arg("-xzf").arg(out.path().join(&daemon)).arg("-C").arg(&unpacked));
    let binary = unpacked.join(format!("msgpushd-{version}-{arch}-linux/msgpushd"));
    assert_eq!(stdout(Command::new(binary).arg("--version")), format!("msgpushd {version}"));
}
