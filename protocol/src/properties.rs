//! Property tests: frames and messages under generated input. Whatever the
//! bytes, decoding ends in a message or an error (never a panic), reads no
//! more than a frame's length, and every message the encoder writes reads
//! back as itself. `make fuzz` runs them with many more cases
//! (`PROPTEST_CASES`).

use proptest::prelude::*;
use serde_json::Value;

use crate::frame::{self, FrameError, LENGTH_LEN};
use crate::message::*;

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![any::<String>().prop_map(Content::Text), json().prop_map(Content::Json)]
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(any::<String>(), 0..4)
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![Just(Target::Everyone), names().prop_map(Target::Users), names().prop_map(Target::Groups)]
}

fn presence() -> impl Strategy<Value = PresenceQuery> {
    prop_oneof![
        any::<String>().prop_map(|uid| PresenceQuery::Tabs { uid }),
        names().prop_map(|uids| PresenceQuery::Online { uids }),
        Just(PresenceQuery::Count),
        (any::<Option<String>>(), any::<u64>()).prop_map(|(cursor, limit)| PresenceQuery::Users { cursor, limit }),
        (any::<String>(), any::<Option<String>>(), any::<u64>())
            .prop_map(|(group, cursor, limit)| PresenceQuery::Members { group, cursor, limit }),
        any::<String>().prop_map(|group| PresenceQuery::GroupCount { group }),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    let options = any::<(bool, Option<u64>, bool, Option<u64>)>();
    let publish = (target(), names(), any::<String>(), content(), any::<Option<u128>>(), options).prop_map(
        |(to, except, event, content, id, (history, keep_secs, receipts, ack_timeout_ms))| {
            let msg_id = id.map(MsgId);
            Command::Publish(Publish {
                to,
                except,
                event,
                content,
                msg_id,
                history,
                keep_secs,
                receipts,
                ack_timeout_ms,
            })
        },
    );
    let membership = || (names(), names()).prop_map(|(groups, uids)| Membership { groups, uids });
    prop_oneof![
        publish,
        Just(Command::Ping),
        (any::<String>(), any::<u64>(), names()).prop_map(|(uid, ttl, groups)| Command::Token(TokenRequest {
            uid,
            ttl,
            groups
        })),
        names().prop_map(|uids| Command::Disconnect(Disconnect { uids })),
        membership().prop_map(Command::GroupJoin),
        membership().prop_map(Command::GroupLeave),
        presence().prop_map(Command::Presence),
        any::<String>().prop_map(|uid| Command::InboxCount(InboxUser { uid })),
        any::<String>().prop_map(|uid| Command::InboxClear(InboxUser { uid })),
        any::<u128>().prop_map(|id| Command::Receipts(ReceiptQuery { msg_id: MsgId(id) })),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    let code = prop_oneof![
        Just(ErrorCode::UnsupportedVersion),
        Just(ErrorCode::Malformed),
        Just(ErrorCode::UnsupportedCommand),
        Just(ErrorCode::FrameTooLarge),
        Just(ErrorCode::InvalidInput),
        Just(ErrorCode::Internal),
        Just(ErrorCode::Busy),
    ];
    let answer = prop_oneof![
        any::<u64>().prop_map(|tabs| PresenceAnswer::Tabs { tabs }),
        names().prop_map(|uids| PresenceAnswer::Online { uids }),
        (any::<u64>(), any::<u64>()).prop_map(|(users, tabs)| PresenceAnswer::Count { users, tabs }),
        (names(), any::<Option<String>>()).prop_map(|(uids, cursor)| PresenceAnswer::Users { uids, cursor }),
    ];
    prop_oneof![
        answer.prop_map(Reply::Presence),
        any::<u64>().prop_map(|sockets| Reply::Joined { sockets }),
        any::<u64>().prop_map(|sockets| Reply::Left { sockets }),
        (
            any::<u64>(),
            proptest::collection::btree_map(any::<String>(), (any::<String>(), any::<u64>()), 0..4),
            any::<u64>(),
            proptest::option::of((any::<u64>(), names()))
        )
            .prop_map(|(sockets, positions, kept, acked)| {
                let positions =
                    positions.into_iter().map(|(stream, (epoch, position))| (stream, Position { epoch, position }));
                let acked = acked.map(|(tabs, uids)| Acked { tabs, uids });
                Reply::Delivered { sockets, positions: positions.collect(), kept, acked }
            }),
        proptest::collection::vec((any::<String>(), any::<u64>(), any::<Option<u64>>()), 0..4).prop_map(|receipts| {
            let receipts = receipts.into_iter().map(|(uid, acked_ms, read_ms)| Receipt { uid, acked_ms, read_ms });
            Reply::Receipts { receipts: receipts.collect() }
        }),
        any::<u64>().prop_map(|messages| Reply::Inbox { messages }),
        any::<u64>().prop_map(|messages| Reply::Cleared { messages }),
        any::<String>().prop_map(|version| Reply::Pong { version }),
        (any::<String>(), any::<u64>()).prop_map(|(token, expires)| Reply::Token { token, expires }),
        any::<u64>().prop_map(|sockets| Reply::Disconnected { sockets }),
        (code, any::<String>()).prop_map(|(code, message)| Reply::Error { code, message }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (any::<u64>(), command()).prop_map(|(id, cmd)| Request { id, cmd })
}

proptest! {
    #[test]
    fn every_request_reads_back_as_itself(request in request()) {
        let mut out = Vec::new();
        frame::encode(&request, &mut out);
        let back: Request = frame::read(&mut &out[..], &mut Vec::new(), usize::MAX).unwrap();
        prop_assert_eq!(back, request);
    }

    #[test]
    fn every_response_reads_back_as_itself(id in any::<u64>(), reply in reply()) {
        let response = Response { id, reply };
        let mut out = Vec::new();
        frame::encode(&response, &mut out);
        let back: Response = frame::read(&mut &out[..], &mut Vec::new(), usize::MAX).unwrap();
        prop_assert_eq!(back, response);
    }

    #[test]
    fn any_bytes_read_as_a_message_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..512), max in 0usize..600) {
        let mut reader = &bytes[..];
        match frame::read::<Request, _>(&mut reader, &mut Vec::new(), max) {
            Ok(_) | Err(FrameError::Malformed(_) | FrameError::Empty | FrameError::UnsupportedVersion(_)) => {
                // A whole frame was read: exactly its announced length.
                let len = u32::from_be_bytes(bytes[..LENGTH_LEN].try_into().unwrap()) as usize;
                prop_assert!(len <= max);
                prop_assert_eq!(reader.len(), bytes.len() - LENGTH_LEN - len);
            }
            Err(FrameError::TooLarge { len, .. }) => {
                prop_assert!(len > max);
                prop_assert_eq!(reader.len(), bytes.len() - LENGTH_LEN, "the body of a frame too large is not read");
            }
            Err(FrameError::Io(_)) => {}
        }
    }

    #[test]
    fn any_payload_decodes_to_a_request_or_an_error(payload in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = frame::decode_payload::<Request>(&payload);
        let _ = frame::decode_payload::<Response>(&payload);
    }

    #[test]
    fn json_shaped_bodies_decode_to_a_request_or_an_error(id in any::<u64>(), cmd in json()) {
        let body = serde_json::json!({ "id": id, "cmd": cmd });
        let mut payload = vec![crate::PROTOCOL_VERSION];
        payload.extend(serde_json::to_vec(&body).unwrap());
        let _ = frame::decode_payload::<Request>(&payload);
    }
}

#[cfg(feature = "codec")]
mod codec {
    use bytes::BytesMut;
    use proptest::prelude::*;
    use tokio_util::codec::{Decoder, Encoder};

    use super::{reply, request};
    use crate::codec::{ClientCodec, ServerCodec};
    use crate::frame::LENGTH_LEN;
    use crate::message::Response;

    /// What [`feed`] decoded, and how many bytes the decoder still holds
    /// (None: it failed, which closes a connection).
    type Fed<D> = (Vec<Result<<D as Decoder>::Item, <D as Decoder>::Error>>, Option<usize>);

    /// Feeds `bytes` to `decoder` in pieces of the given sizes, as a socket
    /// would deliver them, until the end or the first error (which closes a
    /// connection); returns what it decoded and, unless it failed, how many
    /// bytes it still holds.
    fn feed<D: Decoder>(decoder: &mut D, bytes: &[u8], pieces: &[usize]) -> Fed<D> {
        let (mut src, mut items, mut at) = (BytesMut::new(), Vec::new(), 0);
        for &piece in pieces.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let end = (at + piece.max(1)).min(bytes.len());
            src.extend_from_slice(&bytes[at..end]);
            at = end;
            loop {
                match decoder.decode(&mut src) {
                    Ok(Some(item)) => items.push(Ok(item)),
                    Ok(None) => break,
                    Err(e) => {
                        items.push(Err(e));
                        return (items, None);
                    }
                }
            }
        }
        (items, Some(src.len()))
    }

    proptest! {
        #[test]
        fn any_byte_stream_in_any_pieces_is_decoded_without_panicking_or_overbuffering(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            pieces in prop::collection::vec(1usize..64, 1..8),
            max in 0usize..256,
        ) {
            let mut codec = ServerCodec::new(max);
            let (_, held) = feed(&mut codec, &bytes, &pieces);
            // Never more than one frame's prefix and body waits in the buffer.
            prop_assert!(held.is_none_or(|held| held <= LENGTH_LEN + max));
        }

        #[test]
        fn pipelined_requests_in_any_pieces_reach_the_server_in_order(
            requests in prop::collection::vec(request(), 1..6),
            pieces in prop::collection::vec(1usize..40, 1..8),
        ) {
            let mut wire = BytesMut::new();
            let mut client = ClientCodec::default();
            for request in &requests {
                client.encode(request.clone(), &mut wire).unwrap();
            }
            let mut server = ServerCodec::new(usize::MAX);
            let (decoded, held) = feed(&mut server, &wire, &pieces);
            prop_assert_eq!(held, Some(0));
            let decoded: Vec<_> = decoded.into_iter().map(|d| d.unwrap().unwrap()).collect();
            prop_assert_eq!(decoded, requests);
        }

        #[test]
        fn replies_in_any_pieces_reach_the_client_in_order(
            replies in prop::collection::vec((any::<u64>(), reply()), 1..6),
            pieces in prop::collection::vec(1usize..40, 1..8),
        ) {
            let replies: Vec<Response> = replies.into_iter().map(|(id, reply)| Response { id, reply }).collect();
            let (mut server, mut client) = (ServerCodec::new(0), ClientCodec::default());
            let mut wire = BytesMut::new();
            for response in &replies {
                server.encode(response.clone(), &mut wire).unwrap();
            }
            let (decoded, held) = feed(&mut client, &wire, &pieces);
            // Replies over the client's limit (64 KiB) are errors, and none is generated here.
            prop_assert_eq!(held, Some(0));
            let decoded: Vec<_> = decoded.into_iter().map(Result::unwrap).collect();
            prop_assert_eq!(decoded, replies);
        }
    }
}
