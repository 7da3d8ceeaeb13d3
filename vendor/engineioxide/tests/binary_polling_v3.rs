//! Engine.IO 3 long-polling for clients that read binary (they send no
//! `b64`): every answer is a binary payload (`application/octet-stream`),
//! the handshake's included, as engine.io 1.x servers answer them, because
//! socket.io 1.x browser clients drop a text answer. Clients asking for
//! base64 get text; JSONP polling is refused plainly.
#![cfg(feature = "v3")]

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use engineioxide::{
    Str,
    config::EngineIoConfig,
    handler::EngineIoHandler,
    service::EngineIoService,
    socket::{DisconnectReason, Socket},
};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;
use tower_service::Service;

#[derive(Debug, Clone)]
struct Echo {
    sockets: mpsc::Sender<Arc<Socket<()>>>,
}

impl EngineIoHandler for Echo {
    type Data = ();
    fn on_connect(self: Arc<Self>, socket: Arc<Socket<()>>) {
        self.sockets.try_send(socket).unwrap();
    }
    fn on_disconnect(&self, _: Arc<Socket<()>>, _: DisconnectReason) {}
    fn on_message(self: &Arc<Self>, msg: Str, socket: Arc<Socket<()>>) {
        socket.emit(msg).ok();
    }
    fn on_binary(self: &Arc<Self>, _: Bytes, _: Arc<Socket<()>>) {}
}

fn server() -> (EngineIoService<Echo>, mpsc::Receiver<Arc<Socket<()>>>) {
    let (sockets, rx) = mpsc::channel(4);
    let config = EngineIoConfig::builder()
        .ping_interval(Duration::from_secs(60))
        .ping_timeout(Duration::from_secs(60))
        .build();
    (EngineIoService::with_config(Arc::new(Echo { sockets }), config), rx)
}

/// The status, content type and body of a request with `query` and `body`
/// (of `content_type`).
async fn call(
    svc: &mut EngineIoService<Echo>,
    method: Method,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1/engine.io/?{query}"))
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = svc.call(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, content_type, body)
}

/// A string packet in a binary payload: `0`, its length in UTF-8 bytes as
/// one byte per digit, `0xff`, the packet.
fn string_frame(packet: &str) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend(packet.len().to_string().bytes().map(|digit| digit - b'0'));
    frame.push(0xff);
    frame.extend_from_slice(packet.as_bytes());
    frame
}

#[tokio::test]
async fn a_client_reading_binary_gets_binary_answers_from_the_handshake_on() {
    let (mut svc, mut sockets) = server();
    let (status, content_type, open) = call(&mut svc, Method::GET, "EIO=3&transport=polling", "", vec![]).await;
    assert_eq!((status, content_type.as_str()), (200, "application/octet-stream"));
    assert_eq!(&open[..1], [0], "a string packet inside a binary payload");
    let start = open.iter().position(|&b| b == 0xff).unwrap() + 1;
    let packet = std::str::from_utf8(&open[start..]).unwrap();
    assert!(packet.starts_with("0{\"sid\":"), "{packet}");
    assert_eq!(open, string_frame(packet), "the length counts its UTF-8 bytes");
    let sid = packet.split('"').nth(3).unwrap().to_owned();
    let socket = sockets.recv().await.unwrap();

    // Text out, including non-ASCII text (counted in bytes), and binary.
    socket.emit("当前<b>1</b>人在线").unwrap();
    socket.emit_binary(vec![1u8, 2, 3]).unwrap();
    let poll = format!("EIO=3&transport=polling&sid={sid}");
    let (_, content_type, payload) = call(&mut svc, Method::GET, &poll, "", vec![]).await;
    assert_eq!(content_type, "application/octet-stream");
    let mut expected = string_frame("4当前<b>1</b>人在线");
    expected.extend([1, 4, 0xff, 4, 1, 2, 3]); // binary: its length counts the type byte too
    assert_eq!(payload, expected);

    // A binary post from the client (socket.io 1.x sends one when it has binary to send).
    let post = string_frame("4echo é");
    let (status, _, _) = call(&mut svc, Method::POST, &poll, "application/octet-stream", post).await;
    assert_eq!(status, 200);
    let (_, _, payload) = call(&mut svc, Method::GET, &poll, "", vec![]).await;
    assert_eq!(payload, string_frame("4echo é"));
}

#[tokio::test]
async fn a_client_asking_for_base64_gets_text() {
    let (mut svc, mut sockets) = server();
    let (status, content_type, open) =
        call(&mut svc, Method::GET, "EIO=3&transport=polling&b64=1", "", vec![]).await;
    assert_eq!((status, content_type.as_str()), (200, "text/plain; charset=UTF-8"));
    let open = String::from_utf8(open).unwrap();
    let (length, packet) = open.split_once(':').unwrap();
    assert_eq!(length.parse::<usize>().unwrap(), packet.encode_utf16().count());
    let sid = packet.split('"').nth(3).unwrap().to_owned();
    let socket = sockets.recv().await.unwrap();
    socket.emit_binary(vec![1u8, 2, 3]).unwrap();
    let poll = format!("EIO=3&transport=polling&sid={sid}");
    let (_, content_type, payload) = call(&mut svc, Method::GET, &poll, "", vec![]).await;
    assert_eq!(content_type, "text/plain; charset=UTF-8");
    assert_eq!(payload, b"6:b4AQID");
}

#[tokio::test]
async fn jsonp_polling_is_refused_plainly() {
    let (mut svc, _sockets) = server();
    let (status, _, body) = call(&mut svc, Method::GET, "EIO=3&transport=polling&j=0", "", vec![]).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8(body).unwrap().contains("JSONP polling is not supported"));
}
