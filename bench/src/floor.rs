//! The floor under `push()`: a minimal request and answer over a Unix socket
//! between two processes (this one and a child running `--echo`), each the
//! size of a push and of its answer, with blocking reads and writes and no
//! work between them. What `push()` costs above it is the extension's, the
//! protocol's and msgpushd's own.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Bytes of a request: about a push of a short text to one user.
const REQUEST: usize = 160;
/// Bytes of an answer: about a push's answer.
const ANSWER: usize = 90;

/// Runs as the echo process: answers each request on `path` until the
/// measuring process hangs up.
pub fn serve(path: &Path) {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind the echo socket");
    let (mut stream, _) = listener.accept().expect("accept");
    let (mut request, answer) = ([0u8; REQUEST], [1u8; ANSWER]);
    while stream.read_exact(&mut request).is_ok() {
        if stream.write_all(&answer).is_err() {
            break;
        }
    }
}

/// Microseconds per round trip, over `n` of them.
pub fn round_trip_us(n: usize) -> f64 {
    let dir = std::env::temp_dir().join(format!("msgpush-bench-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let mut child =
        Command::new(std::env::current_exe().expect("own path")).arg("--echo").arg(&path).spawn().expect("echo");
    let started = Instant::now();
    let mut stream = loop {
        match UnixStream::connect(&path) {
            Ok(stream) => break stream,
            Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("the echo process did not listen: {e}"),
        }
    };
    let (request, mut answer) = ([2u8; REQUEST], [0u8; ANSWER]);
    let start = Instant::now();
    for _ in 0..n {
        stream.write_all(&request).expect("request");
        stream.read_exact(&mut answer).expect("answer");
    }
    let took = start.elapsed();
    drop(stream);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    took.as_secs_f64() * 1e6 / n as f64
}
