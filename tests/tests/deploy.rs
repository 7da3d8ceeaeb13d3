//! The sysadmin's files: the systemd unit passes `systemd-analyze verify`;
//! the unit, the settings file, the installed ini and the extension agree on
//! the defaults; the settings file states every setting with its default.

use std::collections::BTreeMap;
use std::process::Command;

use msgpush_protocol::defaults;
use msgpush_testkit::*;

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let dir = TempDir::new("unit");
    let unit = std::fs::read_to_string(repo_root().join("deploy/msgpushd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/msgpushd --config /etc/msgpush/msgpushd.toml\n"));
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
    let settings = std::fs::read_to_string(repo_root().join("deploy/msgpushd.toml")).unwrap();
    let path = defaults::SOCKET_PATH;
    assert!(settings.contains(&format!("\nsocket = \"{path}\"\n")));
    assert!(unit.contains("RuntimeDirectory=msgpush\n"), "the unit creates the socket's directory");
    assert!(unit.contains("StateDirectory=msgpush\n"), "the unit keeps a directory for the token secret");
    assert!(settings.contains("\ntoken_secret_file = \"/var/lib/msgpush/"), "the secret lives in the state directory");

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

/// The effective settings with `args`.
fn effective(dir: &TempDir, args: &[&str]) -> BTreeMap<String, String> {
    effective_settings(&check_config(dir.path(), &[], args))
}

#[test]
fn the_settings_file_shows_every_setting_with_its_default() {
    let dir = TempDir::new("settings");
    let example = std::fs::read_to_string(repo_root().join("deploy/msgpushd.toml")).unwrap();
    // As shipped: valid, and it changes only what it sets outright.
    let shipped = dir.path().join("shipped.toml");
    std::fs::write(&shipped, &example).unwrap();
    let set: Vec<&str> =
        example.lines().filter_map(|l| l.split_once(" = ")).map(|(k, _)| k).filter(|k| !k.starts_with('#')).collect();
    assert_eq!(set, ["socket", "socket_group", "token_secret_file"]);
    let defaults = effective(&dir, &[]);
    let with_shipped = effective(&dir, &["--config", shipped.to_str().unwrap()]);
    for (key, value) in &defaults {
        if !set.contains(&key.as_str()) && !["listen", "http_listen", "state_dir"].contains(&key.as_str()) {
            assert_eq!(&with_shipped[key], value, "{key}");
        }
    }
    // Every `#key = value` line uncommented: still valid, every setting is
    // there, and each one that has a default shows that default.
    let uncommented: String = example
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(setting) if setting.contains(" = ") && !setting.starts_with(' ') => setting,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let all = dir.path().join("all.toml");
    // (Without the TLS files, which --check-config would read.)
    let without_tls: String =
        uncommented.lines().filter(|l| !l.starts_with("tls_")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&all, without_tls).unwrap();
    let everything = effective(&dir, &["--config", all.to_str().unwrap()]);
    let help = Command::new(artifact("msgpushd")).arg("--help").output().unwrap();
    let flags: Vec<String> = String::from_utf8_lossy(&help.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("      --"))
        .map(|l| l.split([' ', '=']).next().unwrap().replace('-', "_"))
        .filter(|f| !["config", "check_config", "help", "version"].contains(&f.as_str()))
        .collect();
    for flag in &flags {
        assert!(uncommented.contains(&format!("\n{flag} = ")), "deploy/msgpushd.toml lacks `{flag}`");
        assert!(everything.contains_key(flag) || flag.starts_with("tls_"), "{flag}");
    }
    for (key, value) in &defaults {
        // (The harness sets the addresses and the state directory by flag.)
        if !set.contains(&key.as_str()) && !["listen", "http_listen", "state_dir"].contains(&key.as_str()) {
            assert_eq!(&everything[key], value, "the file's `#{key}` line shows the default");
        }
    }
}

#[test]
fn make_run_serves_the_demo_on_loopback_unless_told_otherwise() {
    let run = |args: &[&str]| {
        let out = Command::new("make").args(["-n", "run"]).args(args).current_dir(repo_root()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        stdout.lines().find(|line| line.contains(" --demo ")).map(str::to_owned).unwrap_or_else(|| panic!("{stdout}"))
    };
    assert!(run(&[]).contains("--demo --listen 127.0.0.1:2120 "), "{}", run(&[]));
    assert!(run(&["RUN_LISTEN=0.0.0.0:2120"]).contains("--listen 0.0.0.0:2120 "), "opened on purpose");
}
