//! Turning the PHP values given to the setters into protocol values, with the
//! coercions PHP users expect (an int uid is its decimal string) and clear
//! errors for the rest (invalid UTF-8, objects, over-long uids).

use ext_php_rs::types::{ArrayKey, ZendHashTable, Zval};
use msgpush_protocol::limits::{check_event, check_group, check_groups, check_ttl, check_uid, check_uids, MAX_GROUPS};
use msgpush_protocol::{Content, Target};
use serde_json::{Map, Number, Value};

use crate::error::PushError;

/// Deepest array nesting turned into JSON (also stops self-references).
const MAX_JSON_DEPTH: usize = 64;

fn invalid(message: String) -> PushError {
    PushError::Invalid(message)
}

/// A string zval's bytes as UTF-8.
fn utf8(zval: &Zval, what: &str) -> Result<Option<String>, PushError> {
    let Some(s) = zval.zend_str() else {
        return Ok(None);
    };
    match std::str::from_utf8(s.as_bytes()) {
        Ok(s) => Ok(Some(s.to_owned())),
        Err(e) => Err(invalid(format!("{what} is not valid UTF-8 ({e}); convert it with mb_convert_encoding()"))),
    }
}

/// One uid: a string or an int.
pub fn uid_of(zval: &Zval) -> Result<String, PushError> {
    let zval = zval.dereference();
    let uid = match zval.long() {
        Some(n) => n.to_string(),
        None => utf8(zval, "the uid")?
            .ok_or_else(|| invalid(format!("a uid must be a string or an int, not {}", zval.get_type())))?,
    };
    check_uid(&uid).map_err(invalid)?;
    Ok(uid)
}

/// `setUser()`'s argument: `''` or null is everyone, an array several users.
pub fn target_of(zval: &Zval) -> Result<Target, PushError> {
    let zval = zval.dereference();
    if zval.is_null() || zval.str() == Some("") {
        return Ok(Target::Everyone);
    }
    Ok(Target::Users(uids_of(zval)?))
}

/// One uid or an array of uids; unlike [`target_of`], never everyone.
pub fn uids_of(zval: &Zval) -> Result<Vec<String>, PushError> {
    let zval = zval.dereference();
    match zval.array() {
        Some(uids) => uids.values().map(uid_of).collect(),
        None => Ok(vec![uid_of(zval)?]),
    }
}

/// One uid or an array of uids, checked as a request's (at most 10,000).
pub fn checked_uids_of(zval: &Zval) -> Result<Vec<String>, PushError> {
    let uids = uids_of(zval)?;
    check_uids(&uids).map_err(invalid)?;
    Ok(uids)
}

/// One group name (a string).
pub fn group_of(zval: &Zval) -> Result<String, PushError> {
    let zval = zval.dereference();
    let group = utf8(zval, "a group name")?
        .ok_or_else(|| invalid(format!("a group name must be a string, not {}", zval.get_type())))?;
    check_group(&group).map_err(invalid)?;
    Ok(group)
}

/// One group name or an array of them.
pub fn groups_of(zval: &Zval) -> Result<Vec<String>, PushError> {
    let zval = zval.dereference();
    let groups = match zval.array() {
        Some(groups) => groups.values().map(group_of).collect::<Result<Vec<_>, _>>()?,
        None => vec![group_of(zval)?],
    };
    check_groups(&groups, MAX_GROUPS, "in one request").map_err(invalid)?;
    Ok(groups)
}

/// A token lifetime in seconds.
pub fn ttl_of(ttl: i64) -> Result<u64, PushError> {
    let ttl = u64::try_from(ttl).unwrap_or(0);
    check_ttl(ttl).map_err(invalid)?;
    Ok(ttl)
}

/// `setContent()`'s argument: an array becomes JSON; a scalar becomes its
/// string, as PHP would convert it.
pub fn content_of(zval: &Zval) -> Result<Content, PushError> {
    let zval = zval.dereference();
    if let Some(array) = zval.array() {
        return Ok(Content::Json(array_to_json(array, 0)?));
    }
    if let Some(text) = utf8(zval, "the content")? {
        return Ok(Content::Text(text));
    }
    if zval.is_scalar() || zval.is_null() {
        if let Some(text) = zval.coerce_to_string() {
            return Ok(Content::Text(text));
        }
    }
    Err(invalid(format!("the content must be a string or an array, not {}", zval.get_type())))
}

/// `setEvent()`'s argument.
pub fn event_of(event: &str) -> Result<String, PushError> {
    check_event(event).map_err(invalid)?;
    Ok(event.to_owned())
}

fn array_to_json(array: &ZendHashTable, depth: usize) -> Result<Value, PushError> {
    if depth >= MAX_JSON_DEPTH {
        return Err(invalid(format!("the content nests arrays deeper than {MAX_JSON_DEPTH} levels")));
    }
    if array.has_sequential_keys() {
        let items = array.values().map(|v| to_json(v, depth + 1));
        return Ok(Value::Array(items.collect::<Result<_, _>>()?));
    }
    let mut map = Map::with_capacity(array.len());
    for (key, value) in array.iter() {
        let key = match key {
            ArrayKey::Long(n) => n.to_string(),
            ArrayKey::String(s) => s,
            ArrayKey::Str(s) => s.to_owned(),
            ArrayKey::ZendString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        };
        map.insert(key, to_json(value, depth + 1)?);
    }
    Ok(Value::Object(map))
}

fn to_json(zval: &Zval, depth: usize) -> Result<Value, PushError> {
    let zval = zval.dereference();
    if zval.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = zval.bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = zval.long() {
        return Ok(Value::Number(n.into()));
    }
    if let Some(f) = zval.double() {
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| invalid(format!("the content holds {f}, which JSON cannot represent")));
    }
    if let Some(s) = utf8(zval, "a string in the content")? {
        return Ok(Value::String(s));
    }
    if let Some(array) = zval.array() {
        return array_to_json(array, depth);
    }
    Err(invalid(format!("the content holds a value of type {}, which cannot be sent", zval.get_type())))
}
