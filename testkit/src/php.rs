//! The php CLI with the built extension loaded: one-shot scripts from
//! `tests/php/`, and a long-lived interactive session.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

use serde_json::Value;

use crate::paths::{artifact, repo_root};

/// The `php` command with the built extension loaded (and no php.ini), with
/// `msgpush.socket` set to `socket` and extra `-d` settings.
pub fn php_command(socket: &Path, settings: &[&str]) -> Command {
    let mut command = Command::new("php");
    command
        .arg("-n")
        .arg("-d")
        .arg(format!("extension={}", artifact("libmsgpush.so").display()))
        .arg("-d")
        .arg(format!("msgpush.socket={}", socket.display()));
    for setting in settings {
        command.args(["-d", setting]);
    }
    command
}

/// Runs `tests/php/SCRIPT` with `args`; returns stdout, failing the test with
/// stderr if php failed.
pub fn php_ok(socket: &Path, script: &str, args: &[&str], settings: &[&str]) -> String {
    let output = php_command(socket, settings)
        .arg(repo_root().join("tests/php").join(script))
        .args(args)
        .output()
        .expect("run php (installed by make test)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "php {script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs a PHP script and parses its last stdout line as JSON.
pub fn php_json(socket: &Path, script: &str, args: &[&str], settings: &[&str]) -> Value {
    let out = php_ok(socket, script, args, settings);
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("php {script} printed no JSON ({e}):\n{out}"))
}

/// A long-lived `php tests/php/interactive.php` process, driven line by line.
#[derive(Debug)]
pub struct PhpSession {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PhpSession {
    /// Starts the session against `socket`.
    pub fn start(socket: &Path, settings: &[&str]) -> PhpSession {
        let mut child = php_command(socket, settings)
            .arg(repo_root().join("tests/php/interactive.php"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run php");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        PhpSession { child, stdin, stdout }
    }

    /// Sends one command and returns the line it printed.
    pub fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "php exited while answering '{command}'");
        line.trim_end().to_owned()
    }

    /// `MsgPush\FUNCTION(...args)` (`"Group::join"`, ...); its return value.
    pub fn call(&mut self, function: &str, args: Value) -> Value {
        let line = self.ask(&format!("call {}", serde_json::json!({ "fn": function, "args": args })));
        let result = line.strip_prefix("result ").unwrap_or_else(|| panic!("{function}{args}: {line}"));
        serde_json::from_str(result).unwrap()
    }

    /// The PushException `MsgPush\FUNCTION(...args)` throws: its code and message.
    pub fn call_error(&mut self, function: &str, args: Value) -> (u32, String) {
        let line = self.ask(&format!("call {}", serde_json::json!({ "fn": function, "args": args })));
        error_of(&line)
    }

    /// A PushEvent with these setters (`user`, `group`, `except`,
    /// `content`: `{"group": "g", "content": "hi"}`), pushed; the tabs reached.
    pub fn send(&mut self, setters: Value) -> u64 {
        let line = self.ask(&format!("send {setters}"));
        line.strip_prefix("pushed ").and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{setters}: {line}"))
    }

    /// A PushEvent with these setters, queued (and flushed); whether it was.
    pub fn send_queued(&mut self, mut setters: Value) -> bool {
        setters["queue"] = Value::Bool(true);
        let line = self.ask(&format!("send {setters}"));
        line.strip_prefix("queued ").map(|queued| queued == "true").unwrap_or_else(|| panic!("{setters}: {line}"))
    }

    /// The last PushEvent's `id()`, `positions()`, `kept()`, `reached()`
    /// and `ackedBy()`, as JSON.
    pub fn last(&mut self) -> Value {
        let line = self.ask("last");
        let last = line.strip_prefix("last ").unwrap_or_else(|| panic!("last: {line}"));
        serde_json::from_str(last).unwrap()
    }

    /// The PushException that pushing such a PushEvent throws.
    pub fn send_error(&mut self, setters: Value) -> (u32, String) {
        let line = self.ask(&format!("send {setters}"));
        error_of(&line)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin and waits for a clean exit (module shutdown runs).
    pub fn finish(mut self) -> ExitStatus {
        drop(self.stdin);
        self.child.wait().unwrap()
    }
}

/// The code and message of an `error CODE MESSAGE` line.
fn error_of(line: &str) -> (u32, String) {
    let error = line.strip_prefix("error ").unwrap_or_else(|| panic!("expected an error, got {line}"));
    let (code, message) = error.split_once(' ').unwrap();
    (code.parse().unwrap(), message.to_owned())
}
