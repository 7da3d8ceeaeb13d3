//! A stand-in for msgpushd that misbehaves on purpose, for the extension's
//! error paths.

use std::io::Write;
use std::path::PathBuf;

use msgpush_protocol::{defaults, frame, ErrorCode, Request, Response};

use crate::scratch::TempDir;

/// A stand-in for msgpushd on a Unix socket that misbehaves on purpose: it
/// never answers, or answers every request with an error.
#[derive(Debug)]
pub struct FakeDaemon {
    /// Its socket path.
    pub socket: PathBuf,
    _dir: TempDir,
}

impl FakeDaemon {
    /// Accepts connections, reads, never answers.
    pub fn silent() -> FakeDaemon {
        FakeDaemon::spawn(false)
    }

    /// Answers every request with an `internal` error.
    pub fn refusing() -> FakeDaemon {
        FakeDaemon::spawn(true)
    }

    fn spawn(answer: bool) -> FakeDaemon {
        let dir = TempDir::new("fake");
        let socket = dir.path().join("fake.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = Vec::new();
                    while let Ok(request) = frame::read::<Request, _>(&mut stream, &mut buf, defaults::MAX_FRAME_BYTES)
                    {
                        if answer {
                            let mut out = Vec::new();
                            let response = Response::error(request.id, ErrorCode::Internal, "the fake daemon refuses");
                            frame::encode(&response, &mut out);
                            if stream.write_all(&out).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        FakeDaemon { socket, _dir: dir }
    }
}
