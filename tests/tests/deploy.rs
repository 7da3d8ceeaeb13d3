//! The sysadmin's files: the systemd unit passes `systemd-analyze verify`,
//! and the unit, the installed ini and the extension agree on the defaults.

use std::collections::BTreeMap;
use std::process::Command;

use msgpush_protocol::defaults;
use msgpush_testkit::*;

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
fn the_ini_file_the_unit_and_the_extension_agree_on_every_default() {
    let unit = std::fs::read_to_string(repo_root().join("deploy/msgpushd.service")).unwrap();
    let path = defaults::SOCKET_PATH;
    assert!(unit.contains(&format!("MSGPUSHD_SOCKET={path}")));
    assert!(unit.contains("RuntimeDirectory=msgpush\n"), "the unit creates the socket's directory");
    assert!(unit.contains("StateDirectory=msgpush\n"), "the unit keeps a directory for the token secret");
    assert!(unit.contains("MSGPUSHD_TOKEN_SECRET_FILE=/var/lib/msgpush/"), "the secret lives in the state directory");

    // Every setting of the installed ini file, with the value it states.
    let ini = std::fs::read_to_string(repo_root().join("php-ext/msgpush.ini")).unwrap();
    let stated: BTreeMap<String, String> = ini
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    // The extension's own defaults (no php.ini at all), which come from the protocol crate.
    let builtin = Command::new("php")
        .args(["-n", "-d", &format!("extension={}", artifact("libmsgpush.so").display())])
        .args(["-r", "echo json_encode(ini_get_all('msgpush', false));"])
        .output()
        .unwrap();
    let builtin: BTreeMap<String, String> = serde_json::from_slice(&builtin.stdout).expect("ini_get_all as JSON");
    assert_eq!(stated, builtin, "php-ext/msgpush.ini states every setting with its built-in default");
    assert_eq!(builtin["msgpush.socket"], path);
    assert_eq!(builtin["msgpush.max_message_bytes"], defaults::MAX_FRAME_BYTES.to_string());
}
