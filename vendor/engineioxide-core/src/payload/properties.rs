//! Property tests of the polling payloads under generated input: whatever
//! body a client posts, in whatever pieces it arrives, decoding ends (in
//! packets or an error, never a panic) without buffering more than the
//! payload limit; and every payload the encoder writes decodes to the
//! packets it was given, for each protocol and encoding.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::HeaderValue;
use http_body::Frame;
use http_body_util::StreamBody;
use proptest::prelude::*;
use smallvec::smallvec;

use super::{decoder, encoder};
use crate::{Packet, PacketBuf, PacketParseError, ProtocolVersion};

/// `bytes` as a request body arriving in pieces of the given sizes.
fn body(
    bytes: &[u8],
    pieces: &[usize],
) -> impl http_body::Body<Data = Bytes, Error = Infallible> + Unpin + use<> {
    let (mut frames, mut at) = (Vec::new(), 0);
    for &piece in pieces.iter().cycle() {
        if at >= bytes.len() {
            break;
        }
        let end = (at + piece.max(1)).min(bytes.len());
        frames.push(Ok(Frame::data(Bytes::copy_from_slice(&bytes[at..end]))));
        at = end;
    }
    StreamBody::new(stream::iter(frames))
}

fn run<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn decode(
    bytes: &[u8],
    pieces: &[usize],
    binary: bool,
    protocol: ProtocolVersion,
    max: u64,
) -> Vec<Result<Packet, PacketParseError>> {
    let content_type = binary.then(|| HeaderValue::from_static("application/octet-stream"));
    let packets = decoder(body(bytes, pieces), content_type.as_ref(), protocol, max);
    // Each packet takes at least one byte, the error at most one more item:
    // a decoder that yields more runs on for ever.
    run(packets.take(bytes.len() + 2).collect())
}

/// The packets a client may post, or a server send.
fn packet(protocol: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let binary = prop::collection::vec(any::<u8>(), 0..32).prop_map(move |bin| match protocol {
        ProtocolVersion::V3 => Packet::BinaryV3(bin.into()),
        ProtocolVersion::V4 => Packet::Binary(bin.into()),
    });
    prop_oneof![
        Just(Packet::Close),
        Just(Packet::Ping),
        Just(Packet::Pong),
        Just(Packet::PingUpgrade),
        Just(Packet::PongUpgrade),
        Just(Packet::Upgrade),
        Just(Packet::Noop),
        // No record separator in a v4 text message (it separates packets).
        "[^\u{1e}]{0,24}".prop_map(|text| Packet::Message(text.into())),
        binary,
    ]
}

fn protocol() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(ProtocolVersion::V3), Just(ProtocolVersion::V4)]
}

/// The packets `encoder` writes for `packets` (one payload: all of them
/// fit), decoded as a client's post of the same bytes would be.
fn round_trip(packets: Vec<Packet>, protocol: ProtocolVersion, supports_binary: bool) -> Vec<Packet> {
    let bufs: Vec<PacketBuf> = packets.into_iter().map(|p| smallvec![p]).collect();
    let payload = run(encoder(
        stream::iter(bufs),
        protocol,
        supports_binary,
        u64::MAX,
    ));
    let decoded = decode(&payload.data, &[7], payload.has_binary, protocol, u64::MAX);
    decoded.into_iter().map(Result::unwrap).collect()
}

proptest! {
    #[test]
    fn any_body_in_any_pieces_decodes_to_packets_or_an_error(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        pieces in prop::collection::vec(1usize..64, 1..6),
        binary in any::<bool>(),
        protocol in protocol(),
        max in 0u64..600,
    ) {
        let decoded = decode(&bytes, &pieces, binary, protocol, max);
        // Errors end the stream.
        prop_assert!(decoded.iter().rev().skip(1).all(Result::is_ok));
        if bytes.len() as u64 > max {
            // A body over the limit never decodes whole: it is read only up to the limit.
            prop_assert!(decoded.last().is_some_and(Result::is_err));
        }
    }

    #[test]
    fn shaped_bodies_decode_to_packets_or_an_error(
        parts in prop::collection::vec(
            prop_oneof![
                "[0-9]{1,3}:[0-6b][ -~]{0,8}",
                "[\u{1e}0-6b4][ -~]{0,8}",
                prop::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xff), 0u8..10, any::<u8>()], 1..12)
                    .prop_map(|bytes| bytes.iter().map(|&b| char::from(b)).collect()),
            ],
            0..6,
        ),
        pieces in prop::collection::vec(1usize..16, 1..6),
        binary in any::<bool>(),
        protocol in protocol(),
    ) {
        let bytes: Vec<u8> = parts.concat().into_bytes();
        decode(&bytes, &pieces, binary, protocol, 4096);
    }

    #[test]
    fn v4_payloads_decode_to_the_packets_encoded(
        packets in prop::collection::vec(packet(ProtocolVersion::V4), 1..6),
    ) {
        prop_assert_eq!(round_trip(packets.clone(), ProtocolVersion::V4, false), packets);
    }

    #[test]
    fn v3_payloads_decode_to_the_packets_encoded_in_either_encoding(
        packets in prop::collection::vec(packet(ProtocolVersion::V3), 1..6),
        supports_binary in any::<bool>(),
    ) {
        prop_assert_eq!(round_trip(packets.clone(), ProtocolVersion::V3, supports_binary), packets);
    }

    #[test]
    fn any_text_parses_to_a_packet_or_an_error(text in any::<String>(), protocol in protocol()) {
        let _ = Packet::parse(protocol, text);
    }
}

#[test]
fn a_payload_ends_at_its_first_error() {
    for (bytes, binary, protocol) in [
        (&b"x:4foo2:4a"[..], false, ProtocolVersion::V3),
        (&[0x02, 0xff, b'4', b'a'][..], true, ProtocolVersion::V3),
        (&b"4ok\x1e9bad\x1e4more"[..], false, ProtocolVersion::V4),
    ] {
        let decoded = decode(bytes, &[3], binary, protocol, 4096);
        assert!(decoded.last().is_some_and(Result::is_err), "{decoded:?}");
        assert!(decoded.iter().rev().skip(1).all(Result::is_ok), "{decoded:?}");
    }
}
