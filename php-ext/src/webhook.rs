//! `MsgPush\Webhook`: the events msgpushd POSTs to the application's route
//! (`--webhook-url`), checked before PHP trusts them. The extension never
//! holds the webhook secret: it asks the daemon, over the Unix socket, to
//! check the request's signature. Its API is stated in
//! `php-ext/msgpush.stub.php`.

use ext_php_rs::boxed::ZBox;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendCallable, ZendHashTable, Zval};
use ext_php_rs::zend::ProcessGlobals;
use msgpush_protocol::{Command, Reply, WebhookCheck};
use serde_json::Value;

use crate::client;
use crate::error::PushError;

/// Deepest JSON turned into PHP arrays (the daemon sends what it signed).
const MAX_DEPTH: usize = 64;

/// Static functions only.
#[php_class]
#[php(name = "MsgPush\\Webhook")]
#[derive(Debug)]
pub struct Webhook;

#[php_impl]
impl Webhook {
    /// The events of the current request (its body, and its
    /// `X-MsgPush-Timestamp` and `X-MsgPush-Signature` headers), or of the
    /// ones given (for a framework that has read them already), once
    /// msgpushd confirmed it signed them less than 5 minutes ago; throws
    /// `PushException` (`REFUSED`) for a forged, altered or stale request.
    pub fn events(
        body: Option<String>,
        timestamp: Option<String>,
        signature: Option<String>,
    ) -> PhpResult<ZBox<ZendHashTable>> {
        let body = match body {
            Some(body) => body,
            None => request_body()?,
        };
        let timestamp = timestamp.or_else(|| server_var("HTTP_X_MSGPUSH_TIMESTAMP")).unwrap_or_default();
        let signature = signature.or_else(|| server_var("HTTP_X_MSGPUSH_SIGNATURE")).unwrap_or_default();
        let check = WebhookCheck { body, timestamp, signature };
        let events = match client::call(Command::WebhookCheck(check), "the webhook request")? {
            Reply::Webhook { events } => events,
            other => return Err(client::unexpected(other).into()),
        };
        let mut list = ZendHashTable::new();
        for event in &events {
            list.push(to_zval(event, 0)?)?;
        }
        Ok(list)
    }
}

/// `file_get_contents('php://input')`.
fn request_body() -> Result<String, PushError> {
    let unreadable = |why: String| PushError::Invalid(format!("cannot read the request's body: {why}"));
    let read = ZendCallable::try_from_name("file_get_contents").map_err(|e| unreadable(e.to_string()))?;
    let body = read.try_call(vec![&"php://input"]).map_err(|e| unreadable(e.to_string()))?;
    body.string().ok_or_else(|| unreadable("php://input gave no string".into()))
}

/// `$_SERVER[$name]`, if it is a string.
fn server_var(name: &str) -> Option<String> {
    let globals = ProcessGlobals::get();
    globals.http_server_vars()?.get(name)?.string()
}

/// `value` as PHP sees JSON (`json_decode($json, true)`).
fn to_zval(value: &Value, depth: usize) -> Result<Zval, PushError> {
    if depth > MAX_DEPTH {
        return Err(PushError::ConnectionLost("msgpushd sent events nested too deep".into()));
    }
    let failed = |e: ext_php_rs::error::Error| PushError::Internal(format!("cannot build the events' arrays: {e}"));
    let mut zval = Zval::new();
    match value {
        Value::Null => zval.set_null(),
        Value::Bool(b) => zval.set_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => zval.set_long(i),
            None => zval.set_double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => zval.set_string(s, false).map_err(failed)?,
        Value::Array(items) => {
            let mut array = ZendHashTable::new();
            for item in items {
                array.push(to_zval(item, depth + 1)?).map_err(failed)?;
            }
            zval.set_hashtable(array);
        }
        Value::Object(fields) => {
            let mut array = ZendHashTable::new();
            for (key, item) in fields {
                array.insert(key.as_str(), to_zval(item, depth + 1)?).map_err(failed)?;
            }
            zval.set_hashtable(array);
        }
    }
    Ok(zval)
}
