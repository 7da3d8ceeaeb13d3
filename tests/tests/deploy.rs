//! The sysadmin's files: the systemd unit passes `systemd-analyze verify`,
//! and the installed ini enables the extension.

use std::process::Command;

use msgpush_tests::*;

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let dir = TempDir::new("unit");
    let unit = std::fs::read_to_string(repo_root().join("deploy/msgpushd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/msgpushd\n"));
    // Verify checks that ExecStart exists: point it at the built binary.
    let unit = unit.replace("/usr/local/bin/msgpushd", artifact("msgpushd").to_str().unwrap());
    let path = dir.path().join("msgpushd.service");
    std::fs::write(&path, unit).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (package systemd, installed by make test)");
    let messages = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "{messages}");
    assert!(!messages.contains("msgpushd.service"), "warnings about the unit: {messages}");
}

#[test]
fn the_unit_and_the_extension_agree_on_the_socket() {
    let unit = std::fs::read_to_string(repo_root().join("deploy/msgpushd.service")).unwrap();
    let ini = std::fs::read_to_string(repo_root().join("php-ext/msgpush.ini")).unwrap();
    let path = msgpush_protocol::DEFAULT_SOCKET_PATH;
    assert!(unit.contains(&format!("MSGPUSHD_SOCKET={path}")));
    assert!(unit.contains("RuntimeDirectory=msgpush\n"), "the unit creates the socket's directory");
    assert!(ini.contains(&format!("msgpush.socket = {path}")));
    // The extension's built-in default (no php.ini at all) is the same path.
    let builtin = Command::new("php")
        .args([
            "-n",
            "-d",
            &format!("extension={}", artifact("libmsgpush.so").display()),
            "-r",
            "echo ini_get('msgpush.socket');",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&builtin.stdout), path);
}
