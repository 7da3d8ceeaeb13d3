//! What a Socket.IO session keeps of the request that opened it. Engine.IO
//! keeps that request's head (URI, headers, extensions) for the session's
//! lifetime, and hyper parses a head without copying: header values and the
//! URI are slices of the connection's read buffer, so each session held on
//! to a whole 8 KiB buffer, plus every header a browser sends (its user
//! agent, languages, a site's cookies when the Socket.IO path is served on
//! the site's own domain). A session now keeps a copy of its URI (the
//! handshake's query) and of the headers Engine.IO reads, nothing more.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};

/// The headers Engine.IO reads from a request it keeps: the websocket key
/// (to answer the upgrade) and the content type (of a polling POST).
/// msgpushd's own handlers read only the URI and the extensions, and the
/// layers in front of Engine.IO (origin, session caps, client address) have
/// read the rest before this copy is made.
const READ_BY_ENGINE_IO: [HeaderName; 2] = [header::SEC_WEBSOCKET_KEY, header::CONTENT_TYPE];

/// `request` with a copy of its URI and of the headers Engine.IO reads, in
/// allocations of their own.
pub fn detached(request: Request) -> Request {
    let (mut parts, body) = request.into_parts();
    parts.uri = copied_uri(&parts.uri);
    let mut headers = HeaderMap::new();
    for name in READ_BY_ENGINE_IO {
        if let Some(value) = parts.headers.get(&name) {
            headers.insert(name, copied_value(value));
        }
    }
    parts.headers = headers;
    Request::from_parts(parts, body)
}

fn copied_uri(uri: &Uri) -> Uri {
    // Parsing from text copies; a URI that was valid stays valid.
    uri.to_string().parse().unwrap_or_else(|_| uri.clone())
}

fn copied_value(value: &HeaderValue) -> HeaderValue {
    let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
    copy.set_sensitive(value.is_sensitive());
    copy
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn keeps_the_uri_and_the_headers_engine_io_reads() {
        let original = request(
            "/socket.io/?EIO=4&transport=websocket&token=abc",
            &[
                ("host", "example.com"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("content-type", "text/plain"),
                ("user-agent", "Mozilla/5.0"),
                ("cookie", "s=1"),
            ],
        );
        let copy = detached(original);
        assert_eq!(copy.uri(), "/socket.io/?EIO=4&transport=websocket&token=abc");
        assert_eq!(copy.uri().query(), Some("EIO=4&transport=websocket&token=abc"));
        assert_eq!(copy.headers()["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(copy.headers()["content-type"], "text/plain");
        assert_eq!(copy.headers().len(), 2);
    }
}
