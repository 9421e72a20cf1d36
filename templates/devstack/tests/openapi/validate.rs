//! Whether a JSON value conforms to a schema of the document: the JSON Schema keywords the
//! document uses (`$ref`, `allOf`, `oneOf`, `enum`, `type`, `properties`, `required`,
//! `additionalProperties: false`, `items`, `minItems`, `maxItems`, `minimum`, `maximum`,
//! `minLength`, `maxLength`, the formats `uuid`, `email` and `date-time`, and the patterns in
//! [`PATTERNS`]). A keyword it does not know is ignored, a pattern it does not know is a panic:
//! a constraint the fuzz cannot check must not pass for one it did.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::Document;

/// Whether a text matches a pattern.
type Matcher = fn(&str) -> bool;

/// The patterns the document uses, with what each one means. Checked by hand rather than by
/// a regex engine: the test depends on no regex crate, and a new pattern is a deliberate change.
pub const PATTERNS: &[(&str, Matcher)] = &[
    // Not blank: some character that is not whitespace (the services trim, then refuse "").
    (r"\S", |text| text.chars().any(|c| !c.is_whitespace())),
    // One or more visible ASCII characters.
    (r"^[!-~]+$", |text| {
        !text.is_empty() && text.chars().all(|c| c.is_ascii_graphic())
    }),
];

/// `Ok` if `value` conforms to `schema`, else the first reason it does not.
pub fn check(doc: &Document, schema: &Value, value: &Value) -> Result<(), String> {
    at(doc, schema, value, "$")
}

fn at(doc: &Document, schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let schema = doc.follow(schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        at(doc, part, value, path)?;
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let matching = branches
            .iter()
            .filter(|branch| at(doc, branch, value, path).is_ok())
            .count();
        if matching != 1 {
            return Err(format!(
                "{path}: {value} matches {matching} of the oneOf branches, not one"
            ));
        }
    }
    if let Some(members) = schema["enum"].as_array()
        && !members.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {members:?}"));
    }
    let types = types(schema);
    if !types.is_empty() && !types.iter().any(|kind| is_a(value, kind)) {
        return Err(format!(
            "{path}: {value} is not of type {}",
            types.join(" or ")
        ));
    }
    match value {
        Value::String(text) => string(schema, text, path),
        Value::Number(number) => number_in_range(schema, number, path),
        Value::Array(items) => array(doc, schema, items, path),
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !fields.contains_key(name) {
                    return Err(format!("{path}: `{name}` is required"));
                }
            }
            let properties = schema["properties"].as_object();
            for (name, field) in fields {
                match properties.and_then(|properties| properties.get(name)) {
                    Some(property) => at(doc, property, field, &format!("{path}.{name}"))?,
                    None if schema["additionalProperties"] == Value::Bool(false) => {
                        return Err(format!("{path}: `{name}` is not a documented field"));
                    }
                    None => {}
                }
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) => Ok(()),
    }
}

/// The schema's `type`, one or several.
pub fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_a(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("unknown type `{other}` in the document"),
    }
}

fn string(schema: &Value, text: &str, path: &str) -> Result<(), String> {
    let chars = text.chars().count() as u64;
    if let Some(min) = schema["minLength"].as_u64()
        && chars < min
    {
        return Err(format!("{path}: {text:?} is shorter than {min} characters"));
    }
    if let Some(max) = schema["maxLength"].as_u64()
        && chars > max
    {
        return Err(format!("{path}: {chars} characters are more than {max}"));
    }
    if let Some(pattern) = schema["pattern"].as_str()
        && !matches(pattern, text)
    {
        return Err(format!("{path}: {text:?} does not match {pattern}"));
    }
    let well_formed = match schema["format"].as_str() {
        Some("uuid") => is_uuid(text),
        Some("email") => is_email(text),
        Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        _ => true,
    };
    if well_formed {
        Ok(())
    } else {
        Err(format!("{path}: {text:?} is not a {}", schema["format"]))
    }
}

/// Whether `text` matches one of the [`PATTERNS`].
///
/// # Panics
///
/// If `pattern` is not one of them.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (_, matcher) = PATTERNS
        .iter()
        .find(|(known, _)| *known == pattern)
        .unwrap_or_else(|| {
            panic!("the document uses the pattern {pattern:?}: teach openapi/validate.rs it")
        });
    matcher(text)
}

/// A UUID in its hyphenated form (upper or lower case), the only form RFC 9562 writes.
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// An address: a local part, `@`, and a dotted domain of non-empty labels, no whitespace.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
}

/// `minimum` and `maximum`. The integer formats are not ranges here: utoipa documents a `u32`
/// as `int32` with `minimum: 0`, and the bounds the code enforces are stated as `maximum`.
fn number_in_range(schema: &Value, number: &Number, path: &str) -> Result<(), String> {
    let compare = |bound: &Number| match (number.as_i128(), bound.as_i128()) {
        (Some(value), Some(bound)) => value.cmp(&bound),
        _ => number
            .as_f64()
            .partial_cmp(&bound.as_f64())
            .unwrap_or(Ordering::Equal),
    };
    if let Some(min) = schema["minimum"].as_number()
        && compare(min) == Ordering::Less
    {
        return Err(format!("{path}: {number} is below {min}"));
    }
    if let Some(max) = schema["maximum"].as_number()
        && compare(max) == Ordering::Greater
    {
        return Err(format!("{path}: {number} is above {max}"));
    }
    Ok(())
}

fn array(doc: &Document, schema: &Value, items: &[Value], path: &str) -> Result<(), String> {
    let count = items.len() as u64;
    if schema["minItems"].as_u64().is_some_and(|min| count < min) {
        return Err(format!(
            "{path}: {count} items are fewer than {}",
            schema["minItems"]
        ));
    }
    if schema["maxItems"].as_u64().is_some_and(|max| count > max) {
        return Err(format!(
            "{path}: {count} items are more than {}",
            schema["maxItems"]
        ));
    }
    if let Some(item) = schema.get("items") {
        for (i, value) in items.iter().enumerate() {
            at(doc, item, value, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}
