//! Values from the document's schemas, by a seeded generator: conforming ones (types, required
//! and optional fields, lengths, ranges, formats, patterns, enum members, boundaries often) and
//! ones that break one documented rule (a wrong type, a missing field, one past a bound, a
//! malformed id or address). Every value offered as breaking a rule is checked to break it
//! ([`validate::check`]), so a slip of the generator cannot pass for a fault of the platform.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::header::HeaderValue;
use serde_json::{Map, Number, Value, json};

use super::validate;
use super::{Document, In, Param};

const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Characters a careless service mishandles: whitespace, quotes, markup, non-ASCII letters
/// and symbols, NUL, DEL, a zero-width space, a byte-order mark.
const ODD: &[char] = &[
    ' ', '\t', '"', '\\', '/', '<', '&', '\'', '%', 'é', 'ß', 'Ω', '日', '🚀', '\u{0}', '\u{7f}',
    '\u{200b}', '\u{feff}',
];

/// A seeded source of values for the document's schemas.
pub struct Generator<'d> {
    doc: &'d Document,
    rng: StdRng,
    /// Ids the platform has answered with, so that generated ids often name something real.
    known: Vec<String>,
    /// Makes each generated address new.
    serial: u64,
}

impl<'d> Generator<'d> {
    /// A generator whose choices follow from `seed` alone.
    pub fn new(doc: &'d Document, seed: u64) -> Self {
        Self {
            doc,
            rng: StdRng::seed_from_u64(seed),
            known: Vec::new(),
            serial: 0,
        }
    }

    /// The random source, to shuffle with.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// One of `items`.
    ///
    /// # Panics
    ///
    /// If `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        items.choose(&mut self.rng).expect("something to pick from")
    }

    /// Remembers every id in `value`, to send it back later.
    pub fn learn(&mut self, value: &Value) {
        match value {
            Value::String(text) if validate::is_uuid(text) && !self.known.contains(text) => {
                self.known.push(text.clone());
            }
            Value::Array(items) => items.iter().for_each(|item| self.learn(item)),
            Value::Object(fields) => fields.values().for_each(|field| self.learn(field)),
            _ => {}
        }
    }

    /// A value `schema` accepts.
    pub fn conforming(&mut self, schema: &Value) -> Value {
        let doc = self.doc;
        let schema = doc.follow(schema);
        if let Some(members) = schema["enum"].as_array() {
            return self.pick(members).clone();
        }
        if let Some(branches) = schema["oneOf"].as_array() {
            let branch = self.pick(branches);
            return self.conforming(branch);
        }
        let kinds = validate::types(schema);
        let kind = match kinds.as_slice() {
            [] => "string",
            [kind] => kind,
            several => {
                let others: Vec<&str> = several.iter().copied().filter(|k| *k != "null").collect();
                if others.is_empty() || self.chance(0.2) {
                    "null"
                } else {
                    self.pick(&others)
                }
            }
        };
        match kind {
            "null" => Value::Null,
            "boolean" => Value::Bool(self.chance(0.5)),
            "integer" | "number" => integer(self.integer(schema)),
            "string" => Value::String(self.string(schema)),
            "array" => {
                let min = schema["minItems"].as_u64().unwrap_or(0);
                let max = schema["maxItems"].as_u64().unwrap_or(min + 3);
                let count = self.rng.random_range(min..=max);
                (0..count)
                    .map(|_| self.conforming(&schema["items"]))
                    .collect()
            }
            "object" => Value::Object(self.object(schema)),
            other => panic!("openapi/generate.rs cannot make a value of type `{other}`"),
        }
    }

    fn object(&mut self, schema: &Value) -> Map<String, Value> {
        let required = required(schema);
        let mut object = Map::new();
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if required.contains(&name.as_str()) || self.chance(0.5) {
                object.insert(name.clone(), self.conforming(property));
            }
        }
        object
    }

    /// An integer in the schema's range, often one of its ends.
    fn integer(&mut self, schema: &Value) -> i128 {
        let format_max = match schema["format"].as_str() {
            Some("int32") => i128::from(i32::MAX),
            _ => i128::from(i64::MAX),
        };
        let min = bound(schema, "minimum").unwrap_or(-format_max - 1);
        let max = bound(schema, "maximum").unwrap_or(format_max);
        let candidates = [
            min,
            max,
            (min + 1).min(max),
            (max - 1).max(min),
            0.clamp(min, max),
            1.clamp(min, max),
            self.rng.random_range(min..=(min + 100).min(max)),
            self.rng.random_range(min..=max),
        ];
        *self.pick(&candidates)
    }

    fn string(&mut self, schema: &Value) -> String {
        let min = length(schema, "minLength").unwrap_or(0);
        let max = length(schema, "maxLength");
        match schema["format"].as_str() {
            Some("uuid") => return self.uuid(),
            Some("email") => return self.email(max.unwrap_or(254)),
            Some("date-time") => return chrono::Utc::now().to_rfc3339(),
            _ => {}
        }
        let pattern = schema["pattern"].as_str();
        let visible_only = pattern == Some(r"^[!-~]+$");
        let cap = max.unwrap_or(min + 40);
        let lengths = [
            min,
            cap,
            self.rng.random_range(min..=cap.min(min + 12)),
            self.rng.random_range(min..=cap),
        ];
        let length = *self.pick(&lengths);
        let mut text: String = (0..length)
            .map(|_| {
                if visible_only {
                    char::from(self.rng.random_range(b'!'..=b'~'))
                } else if self.chance(0.8) {
                    char::from(*self.pick(ALPHANUMERIC))
                } else {
                    *self.pick(ODD)
                }
            })
            .collect();
        if let Some(pattern) = pattern {
            if !validate::matches(pattern, &text) {
                let first = text.chars().next().map_or(0, char::len_utf8);
                text.replace_range(..first, "x");
            }
            assert!(
                validate::matches(pattern, &text),
                "openapi/generate.rs cannot make a string matching {pattern:?}"
            );
        }
        text
    }

    /// An id the platform answered with (most of the time, once there are some), or a new one.
    fn uuid(&mut self) -> String {
        if !self.known.is_empty() && self.chance(0.7) {
            let known = self.known[self.rng.random_range(0..self.known.len())].clone();
            return if self.chance(0.1) {
                known.to_uppercase()
            } else {
                known
            };
        }
        uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .to_string()
    }

    /// A new address, now and then one as long as `max` allows.
    fn email(&mut self, max: usize) -> String {
        let domain = *self.pick(&["example.com", "mail.example.org", "shop.test"]);
        if self.chance(0.1) {
            return format!("{}@{domain}", "a".repeat(max - domain.len() - 1));
        }
        self.serial += 1;
        let letters = self.rng.random_range(1..=10);
        let local: String = (0..letters)
            .map(|_| char::from(*self.pick(ALPHANUMERIC)))
            .collect();
        format!("{local}.{}@{domain}", self.serial)
    }

    /// A value `schema` refuses, breaking one rule of it or of a field or item inside it;
    /// `None` if it refuses nothing.
    pub fn violating(&mut self, schema: &Value) -> Option<Value> {
        let doc = self.doc;
        let mut candidates = self.violations(schema);
        candidates.retain(|candidate| validate::check(doc, schema, candidate).is_err());
        candidates.choose(&mut self.rng).cloned()
    }

    /// Values that may break `schema`; [`Generator::violating`] keeps those that do.
    fn violations(&mut self, schema: &Value) -> Vec<Value> {
        let doc = self.doc;
        let schema = doc.follow(schema);
        // Other types: a string, integers, a fraction, a boolean, null, an array, an object.
        let mut out = vec![
            json!("text"),
            json!(7),
            json!(-1),
            json!(2.5),
            json!(true),
            Value::Null,
            json!([]),
            json!({}),
        ];
        if schema.get("enum").is_some() {
            out.push(json!("not-a-member"));
        }
        for branch in schema["oneOf"].as_array().into_iter().flatten() {
            out.extend(self.violations(branch));
        }
        if let Some(min) = bound(schema, "minimum") {
            out.push(integer(min - 1));
        }
        if let Some(max) = bound(schema, "maximum") {
            out.push(integer(max + 1));
        }
        if let Some(min) = length(schema, "minLength").filter(|min| *min > 0) {
            out.push(json!("x".repeat(min - 1)));
        }
        if let Some(max) = length(schema, "maxLength") {
            out.push(json!("x".repeat(max + 1)));
            out.push(json!(format!("{}@example.com", "a".repeat(max))));
        }
        match schema["format"].as_str() {
            Some("uuid") => out.extend([
                json!("not-a-uuid"),
                json!(format!("{}0", self.uuid())),
                json!("00000000-0000-0000-0000-00000000000g"),
            ]),
            Some("email") => out.extend([
                json!("not-an-email"),
                json!("ada@example"),
                json!("@example.com"),
                json!("ada lovelace@example.com"),
            ]),
            _ => {}
        }
        if schema.get("pattern").is_some() {
            out.extend([json!(" \t "), json!("has space"), json!("café")]);
        }
        if schema.get("items").is_some() {
            let mut items: Vec<Value> = (0..=self.rng.random_range(0..3))
                .map(|_| self.conforming(&schema["items"]))
                .collect();
            if let Some(bad) = self.violating(&schema["items"]) {
                let at = self.rng.random_range(0..items.len());
                items[at] = bad;
                out.push(Value::Array(items));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            let object = self.object(schema);
            for name in required(schema) {
                let mut without = object.clone();
                without.remove(name);
                out.push(Value::Object(without));
            }
            for (name, property) in properties {
                if let Some(bad) = self.violating(property) {
                    let mut with = object.clone();
                    with.insert(name.clone(), bad);
                    out.push(Value::Object(with));
                }
            }
            if schema["additionalProperties"] == Value::Bool(false) {
                let mut with = object;
                with.insert("unexpected".to_owned(), json!(1));
                out.push(Value::Object(with));
            }
        }
        out
    }

    /// A value for `param` as it is sent (a path segment percent-encoded) that its schema
    /// accepts.
    ///
    /// # Panics
    ///
    /// If the schema of a header allows no value a header can carry.
    pub fn param(&mut self, param: &Param) -> String {
        match param.location {
            In::Path => percent_encoded(&plain(&self.conforming(&param.schema))),
            In::Query => plain(&self.conforming(&param.schema)),
            // Some text (control characters) cannot be sent in a header: try again.
            In::Header => (0..100)
                .map(|_| plain(&self.conforming(&param.schema)))
                .find(|text| HeaderValue::from_bytes(text.as_bytes()).is_ok())
                .unwrap_or_else(|| panic!("no value of header {} can be sent", param.name)),
        }
    }

    /// A value for `param` as it is sent that its schema refuses; `None` if it refuses none.
    pub fn bad_param(&mut self, param: &Param) -> Option<String> {
        let doc = self.doc;
        let schema = doc.follow(&param.schema);
        let mut candidates: Vec<String> = [
            "abc",
            "-1",
            "0",
            "1.5",
            "1e3",
            " ",
            "has space",
            "café",
            "not-a-uuid",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        candidates.push("9".repeat(20));
        candidates.push("x".repeat(300));
        candidates.extend(bound(schema, "minimum").map(|min| (min - 1).to_string()));
        candidates.extend(bound(schema, "maximum").map(|max| (max + 1).to_string()));
        candidates.extend(length(schema, "maxLength").map(|max| "x".repeat(max + 1)));
        candidates.extend(self.violating(schema).map(|value| plain(&value)));
        if param.location != In::Path {
            // An empty segment would be another path, not a bad value of this one.
            candidates.push(String::new());
        }
        candidates.retain(|text| !self.param_conforms(param, text));
        if param.location == In::Header {
            candidates.retain(|text| HeaderValue::from_bytes(text.as_bytes()).is_ok());
        }
        let mut sent: Vec<String> = if param.location == In::Path {
            let mut encoded: Vec<String> = candidates.iter().map(|c| percent_encoded(c)).collect();
            // Not UTF-8 once decoded.
            encoded.extend(["%FF".to_owned(), "%C3%28".to_owned()]);
            encoded
        } else {
            candidates
        };
        if sent.is_empty() {
            return None;
        }
        let at = self.rng.random_range(0..sent.len());
        Some(sent.swap_remove(at))
    }

    /// Whether the schema of `param` accepts `text` as the parameter's value: a number where it
    /// documents an integer, else the text itself.
    fn param_conforms(&self, param: &Param, text: &str) -> bool {
        let schema = self.doc.follow(&param.schema);
        let integer = validate::types(schema).contains(&"integer");
        let value = match text.parse::<i64>() {
            Ok(number) if integer && !text.starts_with('+') => json!(number),
            _ => json!(text),
        };
        validate::check(self.doc, schema, &value).is_ok()
    }
}

/// The property names `schema` requires.
fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn bound(schema: &Value, keyword: &str) -> Option<i128> {
    schema[keyword].as_number().and_then(Number::as_i128)
}

fn length(schema: &Value, keyword: &str) -> Option<usize> {
    schema[keyword]
        .as_u64()
        .map(|length| usize::try_from(length).expect("a length fits usize"))
}

/// A JSON integer, also one past the range of `i64` (as far as `u64` reaches).
fn integer(value: i128) -> Value {
    Number::from_i128(value).map_or_else(|| panic!("{value} is beyond JSON numbers"), Value::Number)
}

/// A value as a parameter carries it: a string as itself, anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `text` with every byte but the unreserved ones (RFC 3986) percent-encoded.
pub fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}
