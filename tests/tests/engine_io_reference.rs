//! msgpushd's Engine.IO 3 long-polling payloads (the vendored
//! engineioxide-core) against the reference parsers, run in node:
//! engine.io-parser 1.2.2, what socket.io 1.3.7's server and client use, and
//! 2.2.1, socket.io 2.x's. Binary payloads (for clients that read binary)
//! must read the same both ways with both; text payloads (clients asking for
//! base64) as socket.io 2.x reads and writes them.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};

use bytes::Bytes;
use engineioxide_core::payload::{decoder, encoder};
use engineioxide_core::{Packet, PacketBuf, ProtocolVersion};
use futures_util::{stream, StreamExt};
use msgpush_testkit::*;
use proptest::prelude::*;
use serde_json::{json, Value};

/// The reference parsers, in one node process.
struct Reference {
    _child: ChildGuard,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Reference {
    fn start() -> Reference {
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/js/eio3_reference.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run node");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Reference { _child: ChildGuard::kill_on_drop(child), stdin, stdout }
    }

    fn ask(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?} for {request}"))
    }

    /// What parser `version` encodes `packets` to.
    fn encode(&mut self, version: u8, packets: &[Packet], binary: bool) -> Vec<u8> {
        let packets: Vec<Value> = packets.iter().map(to_json).collect();
        let answer = self.ask(json!({ "parser": version, "encode": packets, "binary": binary }));
        hex_decode(answer["hex"].as_str().unwrap())
    }

    /// The packets parser `version` reads in `payload`.
    fn decode(&mut self, version: u8, payload: &[u8], binary: bool) -> Vec<Value> {
        let answer = self.ask(json!({ "parser": version, "decode": hex(payload), "binary": binary }));
        answer["packets"].as_array().unwrap().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// A packet as the reference parsers name it.
fn to_json(packet: &Packet) -> Value {
    match packet {
        Packet::Message(text) => json!({ "type": "message", "data": text.as_str() }),
        Packet::BinaryV3(bin) => json!({ "type": "message", "bin": hex(bin) }),
        Packet::Ping => json!({ "type": "ping" }),
        Packet::PingUpgrade => json!({ "type": "ping", "data": "probe" }),
        Packet::Pong => json!({ "type": "pong" }),
        Packet::PongUpgrade => json!({ "type": "pong", "data": "probe" }),
        Packet::Close => json!({ "type": "close" }),
        Packet::Upgrade => json!({ "type": "upgrade" }),
        Packet::Noop => json!({ "type": "noop" }),
        other => panic!("not an Engine.IO 3 packet: {other:?}"),
    }
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        any::<String>().prop_map(|text| Packet::Message(text.into())),
        "[ -~]{0,20}".prop_map(|text| Packet::Message(text.into())),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(|bin| Packet::BinaryV3(bin.into())),
        Just(Packet::Ping),
        Just(Packet::PingUpgrade),
        Just(Packet::Pong),
        Just(Packet::PongUpgrade),
        Just(Packet::Close),
        Just(Packet::Upgrade),
        Just(Packet::Noop),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// What msgpushd sends for `packets`: one poll's payload.
fn ours_encoded(packets: &[Packet], binary: bool) -> Vec<u8> {
    let bufs: Vec<PacketBuf> = packets.iter().cloned().map(|p| PacketBuf::from_iter([p])).collect();
    runtime().block_on(encoder(stream::iter(bufs), ProtocolVersion::V3, binary, u64::MAX)).data.to_vec()
}

/// What msgpushd reads in a client's post of `payload`.
fn ours_decoded(payload: Vec<u8>, binary: bool) -> Vec<Value> {
    let content_type = binary.then(|| ::http::HeaderValue::from_static("application/octet-stream"));
    let body = http_body_util::Full::new(Bytes::from(payload));
    let packets = decoder(body, content_type.as_ref(), ProtocolVersion::V3, u64::MAX);
    let packets: Vec<_> = runtime().block_on(packets.collect());
    packets.into_iter().map(|p| to_json(&p.expect("a packet"))).collect()
}

/// The one node process of the reference parsers, shared by the cases.
fn reference() -> std::sync::MutexGuard<'static, Reference> {
    static REFERENCE: std::sync::OnceLock<std::sync::Mutex<Reference>> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| std::sync::Mutex::new(Reference::start())).lock().unwrap_or_else(|p| p.into_inner())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(prop::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn binary_payloads_read_the_same_in_msgpushd_and_both_reference_parsers(
        packets in prop::collection::vec(packet(), 1..6),
    ) {
        let mut reference = reference();
        let expected: Vec<Value> = packets.iter().map(to_json).collect();
        let ours = ours_encoded(&packets, true);
        for version in [1, 2] {
            prop_assert_eq!(&reference.decode(version, &ours, true), &expected, "parser {} reads ours", version);
            // Parser 2 encodes text-only packets as text even for a client reading binary.
            if version == 1 || packets.iter().any(|p| matches!(p, Packet::BinaryV3(_))) {
                let theirs = reference.encode(version, &packets, true);
                prop_assert_eq!(&theirs, &ours, "parser {} writes the same bytes", version);
                prop_assert_eq!(&ours_decoded(theirs, true), &expected, "we read parser {}'s", version);
            }
        }
    }

    #[test]
    fn text_payloads_read_the_same_in_msgpushd_and_socket_io_2s_parser(
        packets in prop::collection::vec(packet(), 1..6),
    ) {
        let mut reference = reference();
        let expected: Vec<Value> = packets.iter().map(to_json).collect();
        let ours = ours_encoded(&packets, false);
        prop_assert_eq!(&reference.decode(2, &ours, false), &expected, "parser 2 reads ours");
        let theirs = reference.encode(2, &packets, false);
        prop_assert_eq!(&theirs, &ours);
        prop_assert_eq!(&ours_decoded(theirs, false), &expected);
    }
}
