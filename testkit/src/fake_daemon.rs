//! A stand-in for msgpushd that misbehaves on purpose, for the extension's
//! error paths.

use std::io::Write;
use std::path::PathBuf;

use msgpush_protocol::{defaults, frame, ErrorCode, Request, Response};

use crate::scratch::TempDir;

/// A stand-in for msgpushd on a Unix socket that misbehaves on purpose: it
/// never answers, answers every request with an error, or with a reply a
/// later version might send.
#[derive(Debug)]
pub struct FakeDaemon {
    /// Its socket path.
    pub socket: PathBuf,
    _dir: TempDir,
}

/// How a [`FakeDaemon`] answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Never,
    Error,
    Unknown,
}

impl FakeDaemon {
    /// Accepts connections, reads, never answers.
    pub fn silent() -> FakeDaemon {
        FakeDaemon::spawn(Answer::Never)
    }

    /// Answers every request with an `internal` error.
    pub fn refusing() -> FakeDaemon {
        FakeDaemon::spawn(Answer::Error)
    }

    /// Answers every request with a kind of reply this version does not
    /// know, as a newer daemon might.
    pub fn newer() -> FakeDaemon {
        FakeDaemon::spawn(Answer::Unknown)
    }

    fn spawn(answer: Answer) -> FakeDaemon {
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
                        let mut out = Vec::new();
                        match answer {
                            Answer::Never => continue,
                            Answer::Error => frame::encode(
                                &Response::error(request.id, ErrorCode::Internal, "the fake daemon refuses"),
                                &mut out,
                            ),
                            Answer::Unknown => frame::encode(
                                &serde_json::json!({ "id": request.id, "reply": { "subscribed": { "channels": 1 } } }),
                                &mut out,
                            ),
                        }
                        if stream.write_all(&out).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeDaemon { socket, _dir: dir }
    }
}
