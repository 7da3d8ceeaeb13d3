//! HTTP/1.1 requests, written by hand so that tests can also send what no
//! client library would (broken requests, non-HTTP bytes): one-shot requests
//! read to the end, and a keep-alive connection for the benchmarks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::wait::PATIENCE;

/// A request with a body; `Connection: close` unless `keep_alive`.
fn request(addr: SocketAddr, path: &str, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: {connection}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// The status code of a response head (0 if there is none).
fn status_of(head: &str) -> u16 {
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Sends `request` as given over a fresh connection and reads until the
/// server closes it; returns the status, the head and the body.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status_of(head), head.to_owned(), body.to_owned())
}

/// A GET over a fresh connection; returns the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (status, _, body) = http_raw(addr, request.as_bytes());
    (status, body)
}

/// A POST over a fresh connection; returns the status and the body.
pub fn http_post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let (status, _, body) = http_raw(addr, &request(addr, path, content_type, body, false));
    (status, body)
}

/// A keep-alive connection sending one request after another.
#[derive(Debug)]
pub struct HttpConnection {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl HttpConnection {
    /// Connects to `addr`.
    pub fn open(addr: SocketAddr) -> HttpConnection {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_nodelay(true).unwrap();
        HttpConnection { addr, reader: BufReader::new(stream) }
    }

    /// A POST; returns the status and the body (which must come with a
    /// Content-Length, as every answer of msgpushd's HTTP API does).
    pub fn post(&mut self, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
        let request = request(self.addr, path, content_type, body, true);
        self.reader.get_mut().write_all(&request).expect("send the request");
        let (mut status, mut length) = (0, 0);
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("a response line");
            if status == 0 {
                status = status_of(&line);
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().expect("a Content-Length");
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).expect("the response body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}
