//! The frame: one message on the wire.
//!
//! ```text
//! +---------------------+-------------+----------------------------+
//! | length: u32, BE     | version: u8 | body: UTF-8 JSON           |
//! +---------------------+-------------+----------------------------+
//!   counts version+body   = 1
//! ```
//!
//! The length lets a reader skip or reject a frame without parsing it; the
//! version byte lets a daemon answer a client of another protocol generation
//! with a clear error instead of a parse failure.

use std::fmt;
use std::io::{self, Read};

use serde::{de::DeserializeOwned, Serialize};

/// The protocol generation this crate speaks, sent in every frame.
pub const PROTOCOL_VERSION: u8 = 1;

/// Bytes of the length prefix alone.
pub const LENGTH_LEN: usize = 4;

/// Why a frame could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The peer announced a frame longer than the reader accepts.
    TooLarge {
        /// Announced length (version byte + body).
        len: usize,
        /// The reader's limit.
        max: usize,
    },
    /// The frame has a length of 0, so not even a version byte.
    Empty,
    /// The frame's version byte is not [`PROTOCOL_VERSION`].
    UnsupportedVersion(u8),
    /// The body is not valid JSON for the expected message.
    Malformed(serde_json::Error),
    /// The underlying stream failed or closed mid-frame.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
            FrameError::Empty => f.write_str("empty frame (no version byte)"),
            FrameError::UnsupportedVersion(v) => {
                write!(f, "protocol version {v} is not supported (this side speaks {PROTOCOL_VERSION})")
            }
            FrameError::Malformed(e) => write!(f, "malformed message: {e}"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

/// Appends `message` to `out` as one complete frame.
pub fn encode<T: Serialize>(message: &T, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_LEN]);
    out.push(PROTOCOL_VERSION);
    // Serializing our own message types into a Vec cannot fail: they hold only
    // strings, integers and serde_json values.
    serde_json::to_writer(&mut *out, message).expect("protocol messages always serialize");
    let len = (out.len() - start - LENGTH_LEN) as u32;
    out[start..start + LENGTH_LEN].copy_from_slice(&len.to_be_bytes());
}

/// Decodes a frame's payload (version byte + body, without the length prefix).
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let (&version, body) = payload.split_first().ok_or(FrameError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    serde_json::from_slice(body).map_err(FrameError::Malformed)
}

/// Reads the length prefix of the next frame and checks it against `max`.
pub fn parse_length(prefix: [u8; LENGTH_LEN], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Reads one whole frame from a blocking reader and decodes it. `buf` is
/// reused between calls to avoid an allocation per frame.
pub fn read<T: DeserializeOwned, R: Read>(reader: &mut R, buf: &mut Vec<u8>, max: usize) -> Result<T, FrameError> {
    let mut prefix = [0u8; LENGTH_LEN];
    reader.read_exact(&mut prefix)?;
    let len = parse_length(prefix, max)?;
    buf.clear();
    buf.resize(len, 0);
    reader.read_exact(buf)?;
    decode_payload(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::*;

    fn publish() -> Request {
        Request {
            id: 7,
            cmd: Command::Publish(Publish::new(
                Target::Users(vec!["123".into()]),
                "new_msg",
                Content::Text("héllo <b>".into()),
            )),
        }
    }

    #[test]
    fn request_round_trips_through_a_frame() {
        let mut out = Vec::new();
        encode(&publish(), &mut out);
        assert_eq!(out[LENGTH_LEN], PROTOCOL_VERSION);
        assert_eq!(u32::from_be_bytes(out[..4].try_into().unwrap()) as usize, out.len() - 4);
        let back: Request = read(&mut &out[..], &mut Vec::new(), 1 << 20).unwrap();
        assert_eq!(back, publish());
    }

    #[test]
    fn a_float_in_json_content_reads_back_exactly() {
        // serde_json's default float parser may change the last digit; the
        // workspace turns on its float_roundtrip feature.
        let mut request = publish();
        if let Command::Publish(p) = &mut request.cmd {
            p.content = Content::Json(serde_json::json!([-5.284677633506701e69, 5.173119173882557e163, 0.1]));
        }
        let mut out = Vec::new();
        encode(&request, &mut out);
        let back: Request = read(&mut &out[..], &mut Vec::new(), 1 << 20).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn pipelined_frames_are_read_one_by_one() {
        let mut out = Vec::new();
        for id in 1..=3 {
            encode(
                &Response {
                    id,
                    reply: Reply::Delivered { sockets: id, positions: Default::default(), kept: 0, acked: None },
                },
                &mut out,
            );
        }
        let mut reader = &out[..];
        let mut buf = Vec::new();
        for id in 1..=3 {
            let r: Response = read(&mut reader, &mut buf, 1024).unwrap();
            assert_eq!(r.id, id);
        }
        assert!(reader.is_empty());
    }

    #[test]
    fn wire_format_is_the_documented_json() {
        let mut out = Vec::new();
        encode(&publish(), &mut out);
        let body = std::str::from_utf8(&out[LENGTH_LEN + 1..]).unwrap();
        assert_eq!(
            body,
            r#"{"id":7,"cmd":{"publish":{"to":{"users":["123"]},"event":"new_msg","content":{"text":"héllo <b>"}}}}"#
        );
    }

    #[test]
    fn a_msg_id_is_32_hex_digits_on_the_wire() {
        let mut request = publish();
        if let Command::Publish(p) = &mut request.cmd {
            p.msg_id = Some(MsgId(0xabc));
        }
        let json = serde_json::to_string(&request).unwrap();
        assert!(json.ends_with(r#""msg_id":"00000000000000000000000000000abc"}}}"#), "{json}");
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), request);
        for bad in ["\"abc\"", "\"zz000000000000000000000000000abc\"", "12"] {
            let json = format!(r#"{{"to":"everyone","event":"e","content":{{"text":""}},"msg_id":{bad}}}"#);
            assert!(serde_json::from_str::<Publish>(&json).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_and_disconnect_messages_are_the_documented_json() {
        let token = Request { id: 1, cmd: Command::Token(TokenRequest { uid: "123".into(), ttl: 60, groups: vec![] }) };
        assert_eq!(serde_json::to_string(&token).unwrap(), r#"{"id":1,"cmd":{"token":{"uid":"123","ttl":60}}}"#);
        let minted = Response { id: 1, reply: Reply::Token { token: "t".into(), expires: 5 } };
        assert_eq!(serde_json::to_string(&minted).unwrap(), r#"{"id":1,"reply":{"token":{"token":"t","expires":5}}}"#);
        let kick = Request { id: 2, cmd: Command::Disconnect(Disconnect { uids: vec!["1".into()] }) };
        assert_eq!(serde_json::to_string(&kick).unwrap(), r#"{"id":2,"cmd":{"disconnect":{"uids":["1"]}}}"#);
        let kicked = Response { id: 2, reply: Reply::Disconnected { sockets: 2 } };
        assert_eq!(serde_json::to_string(&kicked).unwrap(), r#"{"id":2,"reply":{"disconnected":{"sockets":2}}}"#);
    }

    #[test]
    fn group_and_presence_messages_are_the_documented_json() {
        let join = Command::GroupJoin(Membership { groups: vec!["team".into()], uids: vec!["1".into()] });
        assert_eq!(serde_json::to_string(&join).unwrap(), r#"{"group_join":{"groups":["team"],"uids":["1"]}}"#);
        let push = Publish {
            except: vec!["1".into()],
            ..Publish::new(Target::Groups(vec!["team".into()]), "new_msg", Content::Text("x".into()))
        };
        assert_eq!(
            serde_json::to_string(&push).unwrap(),
            r#"{"to":{"groups":["team"]},"except":["1"],"event":"new_msg","content":{"text":"x"}}"#
        );
        let page = Command::Presence(PresenceQuery::Users { cursor: None, limit: 2 });
        assert_eq!(serde_json::to_string(&page).unwrap(), r#"{"presence":{"users":{"limit":2}}}"#);
        let count = Command::Presence(PresenceQuery::Count);
        assert_eq!(serde_json::to_string(&count).unwrap(), r#"{"presence":"count"}"#);
        let answer = Reply::Presence(PresenceAnswer::Users { uids: vec!["1".into()], cursor: Some("1".into()) });
        assert_eq!(serde_json::to_string(&answer).unwrap(), r#"{"presence":{"users":{"uids":["1"],"cursor":"1"}}}"#);
        let token = TokenRequest { uid: "1".into(), ttl: 5, groups: vec!["g".into()] };
        assert_eq!(serde_json::to_string(&token).unwrap(), r#"{"uid":"1","ttl":5,"groups":["g"]}"#);
    }

    #[test]
    fn oversized_length_is_rejected_before_reading_the_body() {
        let frame = [0xff, 0xff, 0xff, 0xff, 1];
        let err = read::<Request, _>(&mut &frame[..], &mut Vec::new(), 1024).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len: 0xffff_ffff, max: 1024 }));
    }

    #[test]
    fn unknown_version_is_reported() {
        let frame = [0, 0, 0, 3, 9, b'{', b'}'];
        let err = read::<Request, _>(&mut &frame[..], &mut Vec::new(), 1024).unwrap_err();
        assert!(matches!(err, FrameError::UnsupportedVersion(9)));
    }

    #[test]
    fn empty_frame_is_reported() {
        let err = read::<Request, _>(&mut &[0u8, 0, 0, 0][..], &mut Vec::new(), 1024).unwrap_err();
        assert!(matches!(err, FrameError::Empty));
    }

    #[test]
    fn invalid_json_and_invalid_utf8_are_malformed() {
        for body in [&b"{\"id\":1,"[..], &b"{\"id\":1,\"cmd\":\"\xff\"}"[..], &b"{\"id\":1,\"cmd\":\"explode\"}"[..]] {
            let mut payload = vec![PROTOCOL_VERSION];
            payload.extend_from_slice(body);
            let err = decode_payload::<Request>(&payload).unwrap_err();
            assert!(matches!(err, FrameError::Malformed(_)), "{err}");
        }
    }

    #[test]
    fn truncated_frame_is_an_io_error() {
        let mut out = Vec::new();
        encode(&publish(), &mut out);
        out.truncate(out.len() - 3);
        let err = read::<Request, _>(&mut &out[..], &mut Vec::new(), 1024).unwrap_err();
        assert!(matches!(err, FrameError::Io(ref e) if e.kind() == io::ErrorKind::UnexpectedEof));
    }

    #[test]
    fn unknown_error_codes_from_a_newer_daemon_still_parse() {
        let json = r#"{"id":3,"reply":{"error":{"code":"rate_limited","message":"slow down"}}}"#;
        let r: Response = serde_json::from_str(json).unwrap();
        assert_eq!(r.reply, Reply::Error { code: ErrorCode::Unknown, message: "slow down".into() });
    }
}
