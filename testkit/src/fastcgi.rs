//! A minimal FastCGI client, enough to run one PHP script through php-fpm the
//! way nginx does (responder role, GET, no body).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

const VERSION: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const RESPONDER: u16 = 1;
const REQUEST_ID: u16 = 1;

fn record(kind: u8, content: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[VERSION, kind]);
    out.extend_from_slice(&REQUEST_ID.to_be_bytes());
    out.extend_from_slice(&(content.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(content);
}

fn length(n: usize, out: &mut Vec<u8>) {
    if n < 128 {
        out.push(n as u8);
    } else {
        out.extend_from_slice(&((n as u32) | 0x8000_0000).to_be_bytes());
    }
}

/// Runs `script` (an absolute path php-fpm can read) with `query`; returns
/// the response (CGI headers and body).
pub fn get(addr: SocketAddr, script: &str, query: &str) -> String {
    let mut request = Vec::new();
    let mut begin = RESPONDER.to_be_bytes().to_vec();
    begin.extend_from_slice(&[0; 6]);
    record(BEGIN_REQUEST, &begin, &mut request);
    let mut params = Vec::new();
    for (name, value) in [
        ("SCRIPT_FILENAME", script),
        ("SCRIPT_NAME", "/push.php"),
        ("REQUEST_URI", "/push.php"),
        ("REQUEST_METHOD", "GET"),
        ("QUERY_STRING", query),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_NAME", "localhost"),
        ("CONTENT_LENGTH", "0"),
    ] {
        length(name.len(), &mut params);
        length(value.len(), &mut params);
        params.extend_from_slice(name.as_bytes());
        params.extend_from_slice(value.as_bytes());
    }
    record(PARAMS, &params, &mut request);
    record(PARAMS, &[], &mut request);
    record(STDIN, &[], &mut request);

    let mut stream = TcpStream::connect(addr).expect("connect php-fpm");
    stream.set_read_timeout(Some(crate::PATIENCE)).unwrap();
    stream.write_all(&request).unwrap();
    let mut response = Vec::new();
    loop {
        let mut header = [0u8; 8];
        stream.read_exact(&mut header).expect("a FastCGI record");
        let len = u16::from_be_bytes([header[4], header[5]]) as usize + header[6] as usize;
        let mut content = vec![0u8; len];
        stream.read_exact(&mut content).unwrap();
        content.truncate(u16::from_be_bytes([header[4], header[5]]) as usize);
        match header[1] {
            STDOUT => response.extend_from_slice(&content),
            END_REQUEST => break,
            _ => {}
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}
