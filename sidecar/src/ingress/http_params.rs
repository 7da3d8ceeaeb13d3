//! Reading web-msg-sender's push parameters from an HTTP request the way PHP
//! does: from the body (urlencoded, multipart as PHP curl sends an array, or
//! JSON) or, when the body holds none, from the query string.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{FromRequest, Multipart};
use axum::http::{header, request::Parts, Request};
use serde_json::Value;

/// One parameter's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// A plain value.
    Text(String),
    /// Sent as an array or object (`to[]=1`, a JSON list): never valid in a push.
    Structured,
}

/// The parameters of a request, in arrival order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, Param)>);

/// Why the parameters could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ParamsError {
    /// The body is over the limit.
    TooLarge,
    /// The body does not parse as its content type says.
    Malformed(String),
    /// The body did not arrive within the body timeout.
    TimedOut,
}

/// Whether a body read failed because the body timeout passed.
fn caused_by_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

impl Params {
    /// The value of `name`; when it is given several times the last one
    /// counts, as in PHP.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.0.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Adds a form field; `name[...]` marks an array, as PHP reads it.
    fn push_field(&mut self, name: &str, value: String) {
        match name.split_once('[') {
            Some((base, _)) => self.0.push((base.to_owned(), Param::Structured)),
            None => self.0.push((name.to_owned(), Param::Text(value))),
        }
    }

    fn from_urlencoded(input: &[u8]) -> Self {
        let mut params = Params::default();
        for (name, value) in form_urlencoded::parse(input) {
            params.push_field(&name, value.into_owned());
        }
        params
    }

    fn from_json(body: &[u8]) -> Result<Self, ParamsError> {
        let Value::Object(map) =
            serde_json::from_slice(body).map_err(|e| ParamsError::Malformed(format!("invalid JSON body: {e}")))?
        else {
            return Err(ParamsError::Malformed("the JSON body must be an object".into()));
        };
        let fields = map.into_iter().filter_map(|(name, value)| {
            let param = match value {
                Value::Null => return None,
                Value::String(s) => Param::Text(s),
                Value::Number(n) => Param::Text(n.to_string()),
                Value::Bool(b) => Param::Text(if b { "1" } else { "" }.into()),
                Value::Array(_) | Value::Object(_) => Param::Structured,
            };
            Some((name, param))
        });
        Ok(Params(fields.collect()))
    }

    async fn from_multipart(parts: Parts, body: Bytes) -> Result<Self, ParamsError> {
        let request = Request::from_parts(parts, Body::from(body));
        let mut multipart =
            Multipart::from_request(request, &()).await.map_err(|e| ParamsError::Malformed(e.body_text()))?;
        let mut params = Params::default();
        while let Some(field) = multipart.next_field().await.map_err(|e| ParamsError::Malformed(e.body_text()))? {
            let name = field.name().unwrap_or_default().to_owned();
            let value = field.bytes().await.map_err(|e| ParamsError::Malformed(e.body_text()))?;
            params.push_field(&name, String::from_utf8_lossy(&value).into_owned());
        }
        Ok(params)
    }

    /// Reads the parameters of `request`, with a body of at most `max_body` bytes.
    pub async fn read(request: Request<Body>, max_body: usize) -> Result<Self, ParamsError> {
        let (parts, body) = request.into_parts();
        let body = to_bytes(body, max_body).await.map_err(|e| {
            if caused_by_timeout(&e) {
                ParamsError::TimedOut
            } else {
                ParamsError::TooLarge
            }
        })?;
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let from_body = if body.is_empty() {
            Params::default()
        } else if content_type.starts_with("multipart/form-data") {
            Params::from_multipart(parts, body).await?
        } else if content_type.starts_with("application/json") {
            Params::from_json(&body)?
        } else {
            Params::from_urlencoded(&body)
        };
        if from_body.0.is_empty() {
            Ok(Params::from_urlencoded(query.as_bytes()))
        } else {
            Ok(from_body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: &str, uri: &str, body: &'static [u8]) -> Request<Body> {
        Request::post(uri).header(header::CONTENT_TYPE, content_type).body(Body::from(body)).unwrap()
    }

    fn text(params: &Params, name: &str) -> Option<String> {
        match params.get(name)? {
            Param::Text(t) => Some(t.clone()),
            Param::Structured => None,
        }
    }

    #[tokio::test]
    async fn urlencoded_body_wins_over_query_and_last_duplicate_counts() {
        let req = request("application/x-www-form-urlencoded", "/?to=9", b"type=publish&to=1&to=2&content=a%20b");
        let p = Params::read(req, 1024).await.unwrap();
        assert_eq!(text(&p, "to").as_deref(), Some("2"));
        assert_eq!(text(&p, "content").as_deref(), Some("a b"));
    }

    #[tokio::test]
    async fn empty_body_falls_back_to_the_query_string() {
        let req = Request::get("/any/path?type=publish&to=123&content=hi").body(Body::empty()).unwrap();
        let p = Params::read(req, 1024).await.unwrap();
        assert_eq!(text(&p, "to").as_deref(), Some("123"));
    }

    #[tokio::test]
    async fn multipart_as_php_curl_sends_it() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\npublish\r\n--XyZ\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n<b>hi</b>\r\n--XyZ--\r\n";
        let p = Params::read(request("multipart/form-data; boundary=XyZ", "/", body), 1024).await.unwrap();
        assert_eq!(text(&p, "type").as_deref(), Some("publish"));
        assert_eq!(text(&p, "content").as_deref(), Some("<b>hi</b>"));
    }

    #[tokio::test]
    async fn json_body_with_numbers_and_arrays() {
        let body = br#"{"type":"publish","to":42,"content":["x"]}"#;
        let p = Params::read(request("application/json", "/", body), 1024).await.unwrap();
        assert_eq!(text(&p, "to").as_deref(), Some("42"));
        assert_eq!(p.get("content"), Some(&Param::Structured));
    }

    #[tokio::test]
    async fn array_fields_are_marked_structured() {
        let req = request("application/x-www-form-urlencoded", "/", b"type=publish&to[]=1&to[]=2");
        let p = Params::read(req, 1024).await.unwrap();
        assert_eq!(p.get("to"), Some(&Param::Structured));
    }

    #[tokio::test]
    async fn bad_bodies_are_errors() {
        let too_big = request("application/x-www-form-urlencoded", "/", &[b'a'; 2048]);
        assert_eq!(Params::read(too_big, 1024).await.unwrap_err(), ParamsError::TooLarge);
        let not_json = request("application/json", "/", b"{nope");
        assert!(matches!(Params::read(not_json, 1024).await, Err(ParamsError::Malformed(_))));
        let no_boundary = request("multipart/form-data", "/", b"--x");
        assert!(matches!(Params::read(no_boundary, 1024).await, Err(ParamsError::Malformed(_))));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn content_type() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(String::new()),
                Just("application/x-www-form-urlencoded".to_owned()),
                Just("application/json".to_owned()),
                Just("multipart/form-data; boundary=XyZ".to_owned()),
                "[ -~]{0,40}",
            ]
        }

        /// The body of a multipart request with these fields, as PHP curl sends it.
        fn multipart(fields: &[(String, String)]) -> Vec<u8> {
            let mut body = Vec::new();
            for (name, value) in fields {
                body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
                body.extend_from_slice(name.as_bytes());
                body.extend_from_slice(b"\"\r\n\r\n");
                body.extend_from_slice(value.as_bytes());
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"--XyZ--\r\n");
            body
        }

        fn read(content_type: &str, query: &str, body: Vec<u8>, max: usize) -> Option<Result<Params, ParamsError>> {
            let request = Request::post(format!("/?{query}")).header(header::CONTENT_TYPE, content_type);
            let request = request.body(Body::from(body)).ok()?;
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            Some(runtime.block_on(Params::read(request, max)))
        }

        /// A field name PHP reads as plain (no `[`), and a value, as curl sends them.
        fn field() -> impl Strategy<Value = (String, String)> {
            ("[a-z_]{1,8}", "[^\\r\\n\"]{0,20}")
        }

        proptest! {
            #[test]
            fn any_request_gives_parameters_or_a_refusal(
                content_type in content_type(),
                query in "[!-~]{0,40}",
                body in prop::collection::vec(any::<u8>(), 0..300),
                max in 0usize..400,
            ) {
                let size = body.len();
                let Some(read) = read(&content_type, &query, body, max) else { return Ok(()) };
                if size > max {
                    prop_assert_eq!(read.unwrap_err(), ParamsError::TooLarge);
                } else {
                    prop_assert!(!matches!(read, Err(ParamsError::TooLarge)));
                }
            }

            #[test]
            fn urlencoded_fields_read_back_with_the_last_one_winning(fields in prop::collection::vec(field(), 1..6)) {
                let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
                let params = read("application/x-www-form-urlencoded", "", body.into_bytes(), 4096).unwrap().unwrap();
                for (name, _) in &fields {
                    let last = fields.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
                    prop_assert_eq!(text(&params, name), Some(last));
                }
            }

            #[test]
            fn multipart_fields_read_back_as_curl_sent_them(fields in prop::collection::vec(field(), 1..6)) {
                let params = read("multipart/form-data; boundary=XyZ", "", multipart(&fields), 4096).unwrap().unwrap();
                for (name, _) in &fields {
                    let last = fields.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
                    prop_assert_eq!(text(&params, name), Some(last));
                }
            }
        }
    }
}
