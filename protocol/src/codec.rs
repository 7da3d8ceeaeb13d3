//! The protocol as `tokio_util` codecs: [`ServerCodec`] for the daemon
//! (reads [`Request`]s, writes [`Response`]s) and [`ClientCodec`] for async
//! clients such as the load generator (the other way round).

use bytes::{Buf, BytesMut};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder};

use crate::frame::{self, FrameError, LENGTH_LEN};
use crate::limits::MAX_REPLY_BYTES;
use crate::message::{Command, ErrorCode, Request, Response};

/// Decodes requests and encodes responses on one connection.
///
/// A frame whose body cannot be understood yields `Err(reply)` as an item: the
/// stream stays in step (the length prefix says where the next frame starts),
/// so the connection answers and goes on. Only a frame over the size limit is
/// fatal, as a [`FrameError::TooLarge`] decode error: skipping it would mean
/// buffering what the limit exists to refuse.
#[derive(Debug)]
pub struct ServerCodec {
    max_frame: usize,
    scratch: Vec<u8>,
}

/// One decoded frame: a request, or the error reply it earned.
pub type Decoded = Result<Request, Response>;

impl ServerCodec {
    /// A codec refusing frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        ServerCodec { max_frame, scratch: Vec::with_capacity(128) }
    }
}

/// The id and command name of a request, to answer a frame whose command
/// could not be parsed: a command this version does not know (from a newer
/// client) gets its own error code, anything else is malformed.
#[derive(Deserialize)]
struct Envelope {
    id: u64,
    #[serde(default)]
    cmd: serde_json::Value,
}

fn decode_request(payload: &[u8]) -> Decoded {
    frame::decode_payload::<Request>(payload).map_err(|err| {
        if let FrameError::UnsupportedVersion(_) = err {
            return Response::error(0, ErrorCode::UnsupportedVersion, err.to_string());
        }
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&payload[1.min(payload.len())..]) else {
            return Response::error(0, ErrorCode::Malformed, err.to_string());
        };
        match Command::unknown_name(&envelope.cmd) {
            Some(name) => Response::error(envelope.id, ErrorCode::UnsupportedCommand, unsupported(name)),
            None => Response::error(envelope.id, ErrorCode::Malformed, err.to_string()),
        }
    })
}

/// What a daemon says of a command it does not know.
pub fn unsupported(name: &str) -> String {
    format!(
        "msgpushd {} does not know the command `{name}`: the caller is newer; upgrade msgpushd",
        env!("CARGO_PKG_VERSION")
    )
}

impl Decoder for ServerCodec {
    type Item = Decoded;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Decoded>, FrameError> {
        Ok(next_payload(src, self.max_frame)?.map(|payload| decode_request(&payload)))
    }
}

impl Encoder<Response> for ServerCodec {
    type Error = FrameError;

    fn encode(&mut self, response: Response, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_into(&response, &mut self.scratch, dst);
        Ok(())
    }
}

/// Writes requests and reads responses on one connection. Unlike the
/// server's, a reply that cannot be parsed is an error: a daemon never sends one.
#[derive(Debug)]
pub struct ClientCodec {
    scratch: Vec<u8>,
}

impl Default for ClientCodec {
    fn default() -> Self {
        ClientCodec { scratch: Vec::with_capacity(256) }
    }
}

impl Decoder for ClientCodec {
    type Item = Response;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Response>, FrameError> {
        next_payload(src, MAX_REPLY_BYTES)?.map(|payload| frame::decode_payload(&payload)).transpose()
    }
}

impl Encoder<Request> for ClientCodec {
    type Error = FrameError;

    fn encode(&mut self, request: Request, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_into(&request, &mut self.scratch, dst);
        Ok(())
    }
}

/// Splits the next whole frame's payload (version byte + body) off `src`, or
/// reserves room for it and returns None while it is incomplete.
fn next_payload(src: &mut BytesMut, max_frame: usize) -> Result<Option<BytesMut>, FrameError> {
    let Some(prefix) = src.get(..LENGTH_LEN) else {
        return Ok(None);
    };
    let len = frame::parse_length(prefix.try_into().expect("4 bytes"), max_frame)?;
    if src.len() < LENGTH_LEN + len {
        src.reserve(LENGTH_LEN + len - src.len());
        return Ok(None);
    }
    src.advance(LENGTH_LEN);
    Ok(Some(src.split_to(len)))
}

/// Appends `message` to `dst` as one frame, through a reused buffer.
fn encode_into<T: Serialize>(message: &T, scratch: &mut Vec<u8>, dst: &mut BytesMut) {
    scratch.clear();
    frame::encode(message, scratch);
    dst.extend_from_slice(scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Command, Reply};

    fn frame_of(body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.extend_from_slice(&((body.len() + 1) as u32).to_be_bytes());
        b.extend_from_slice(&[frame::PROTOCOL_VERSION]);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let mut codec = ServerCodec::new(1024);
        let whole = frame_of(br#"{"id":1,"cmd":"ping"}"#);
        let mut src = BytesMut::from(&whole[..3]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        src.extend_from_slice(&whole[3..10]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        src.extend_from_slice(&whole[10..]);
        let req = codec.decode(&mut src).unwrap().unwrap().unwrap();
        assert_eq!(req, Request { id: 1, cmd: Command::Ping });
        assert!(src.is_empty());
    }

    #[test]
    fn malformed_body_gets_an_error_reply_with_its_id_and_the_stream_goes_on() {
        let mut codec = ServerCodec::new(1024);
        let mut src = frame_of(br#"{"id":41,"cmd":{"publish":{"to":5}}}"#);
        src.extend_from_slice(&frame_of(br#"{"id":42,"cmd":"ping"}"#));
        let bad = codec.decode(&mut src).unwrap().unwrap().unwrap_err();
        assert_eq!(bad.id, 41);
        assert!(matches!(bad.reply, Reply::Error { code: ErrorCode::Malformed, .. }));
        let good = codec.decode(&mut src).unwrap().unwrap().unwrap();
        assert_eq!(good.id, 42);
    }

    #[test]
    fn a_command_from_a_newer_caller_is_named_as_unsupported() {
        let mut codec = ServerCodec::new(1024);
        for body in [&br#"{"id":7,"cmd":{"subscribe":{"uid":"1"}}}"#[..], br#"{"id":7,"cmd":"stats"}"#] {
            let bad = codec.decode(&mut frame_of(body)).unwrap().unwrap().unwrap_err();
            assert_eq!(bad.id, 7);
            let Reply::Error { code: ErrorCode::UnsupportedCommand, message } = bad.reply else {
                panic!("{:?}", bad.reply);
            };
            assert!(message.contains("does not know the command") && message.contains("upgrade msgpushd"), "{message}");
        }
    }

    #[test]
    fn every_command_is_named_in_the_list_of_names() {
        let membership = crate::Membership { groups: vec![], uids: vec![] };
        let commands = [
            Command::Ping,
            Command::Token(crate::TokenRequest { uid: "1".into(), ttl: 1, groups: vec![] }),
            Command::Disconnect(crate::Disconnect { uids: vec![] }),
            Command::Publish(crate::Publish::new(crate::Target::Everyone, "e", crate::Content::Text(String::new()))),
            Command::GroupJoin(membership.clone()),
            Command::GroupLeave(membership),
            Command::Presence(crate::PresenceQuery::Count),
            Command::InboxCount(crate::InboxUser { uid: "1".into() }),
            Command::InboxClear(crate::InboxUser { uid: "1".into() }),
            Command::Receipts(crate::ReceiptQuery { msg_id: crate::MsgId(1) }),
            Command::WebhookCheck(crate::WebhookCheck {
                body: String::new(),
                timestamp: String::new(),
                signature: String::new(),
            }),
        ];
        for command in commands {
            let json = serde_json::to_value(&command).unwrap();
            let name = json
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| json.as_object().unwrap().keys().next().unwrap().clone());
            assert!(Command::NAMES.contains(&name.as_str()), "{name}");
        }
        assert_eq!(Command::NAMES.len(), 11);
    }

    #[test]
    fn garbage_without_an_id_is_answered_as_id_zero() {
        let mut codec = ServerCodec::new(1024);
        let bad = codec.decode(&mut frame_of(b"\xff\xfe not json")).unwrap().unwrap().unwrap_err();
        assert_eq!(bad.id, 0);
        let mut empty = BytesMut::from(&[0u8, 0, 0, 0][..]);
        let bad = codec.decode(&mut empty).unwrap().unwrap().unwrap_err();
        assert!(matches!(bad.reply, Reply::Error { code: ErrorCode::Malformed, .. }));
    }

    #[test]
    fn other_protocol_versions_are_refused() {
        let mut codec = ServerCodec::new(1024);
        let mut src = BytesMut::from(&[0u8, 0, 0, 3, 2, b'{', b'}'][..]);
        let bad = codec.decode(&mut src).unwrap().unwrap().unwrap_err();
        assert!(matches!(bad.reply, Reply::Error { code: ErrorCode::UnsupportedVersion, .. }));
    }

    #[test]
    fn oversized_frame_is_fatal() {
        let mut codec = ServerCodec::new(16);
        let mut src = frame_of(&[b' '; 64]);
        assert!(matches!(codec.decode(&mut src), Err(FrameError::TooLarge { len: 65, max: 16 })));
    }

    #[test]
    fn encoded_response_reads_back_with_the_blocking_helper() {
        let mut codec = ServerCodec::new(1024);
        let mut dst = BytesMut::new();
        let resp = Response {
            id: 9,
            reply: Reply::Delivered { sockets: 2, positions: Default::default(), kept: 0, acked: None },
        };
        codec.encode(resp.clone(), &mut dst).unwrap();
        let back: Response = frame::read(&mut &dst[..], &mut Vec::new(), 1024).unwrap();
        assert_eq!(back, resp);
    }

    #[test]
    fn client_codec_speaks_to_server_codec() {
        let (mut client, mut server) = (ClientCodec::default(), ServerCodec::new(1024));
        let mut wire = BytesMut::new();
        client.encode(Request { id: 3, cmd: Command::Ping }, &mut wire).unwrap();
        let request = server.decode(&mut wire).unwrap().unwrap().unwrap();
        assert_eq!(request, Request { id: 3, cmd: Command::Ping });
        let pong = Response { id: 3, reply: Reply::Pong { version: "1".into() } };
        server.encode(pong.clone(), &mut wire).unwrap();
        let mut partial = wire.split_to(wire.len() - 1);
        assert!(client.decode(&mut partial).unwrap().is_none(), "an incomplete reply waits");
        partial.unsplit(wire);
        assert_eq!(client.decode(&mut partial).unwrap(), Some(pong));
    }
}
