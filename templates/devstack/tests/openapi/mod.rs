//! The committed API document, `docs/api/openapi.yaml`, read as JSON values: its operations
//! (method, path, parameters, body, the answers it documents) and its schemas with `$ref`s
//! followed. The fuzz test generates requests from it ([`generate`]) and checks the answers
//! against it ([`validate`]); nothing here knows the platform behind the document.

pub mod generate;
pub mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::Method;
use serde_json::Value;

/// Where a parameter is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
    Header,
}

/// One documented parameter.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: In,
    pub required: bool,
    pub schema: Value,
}

/// A documented JSON request body.
#[derive(Debug, Clone)]
pub struct Body {
    pub required: bool,
    pub schema: Value,
}

/// One documented answer: its media type and schema, if it has a body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub content: Option<(String, Value)>,
}

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub method: Method,
    /// The path template, `{name}` for each path parameter.
    pub path: String,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// The documented answers by status.
    pub answers: BTreeMap<u16, Answer>,
    /// Whether the document asks for a bearer token.
    pub secured: bool,
}

/// The whole document.
pub struct Document {
    root: Value,
}

impl Document {
    /// Reads the YAML document at `path`.
    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        let root = serde_norway::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not YAML: {err}", path.display()));
        Self { root }
    }

    /// Every operation, in the document's order.
    pub fn operations(&self) -> Vec<Operation> {
        let paths = self.root["paths"]
            .as_object()
            .expect("the document has paths");
        let mut operations = Vec::new();
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                operations.push(self.operation(method, path, operation));
            }
        }
        operations
    }

    fn operation(&self, method: Method, path: &str, operation: &Value) -> Operation {
        let params = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|param| {
                let param = self.follow(param);
                Param {
                    name: param["name"]
                        .as_str()
                        .expect("a named parameter")
                        .to_owned(),
                    location: match param["in"].as_str() {
                        Some("path") => In::Path,
                        Some("query") => In::Query,
                        Some("header") => In::Header,
                        other => panic!("{path}: parameters in {other:?} are not generated"),
                    },
                    required: param["required"].as_bool().unwrap_or(false),
                    schema: param["schema"].clone(),
                }
            })
            .collect();
        let body = operation.get("requestBody").map(|body| {
            let body = self.follow(body);
            Body {
                required: body["required"].as_bool().unwrap_or(false),
                schema: body["content"]["application/json"]["schema"].clone(),
            }
        });
        let answers = operation["responses"]
            .as_object()
            .expect("an operation has responses")
            .iter()
            .map(|(status, answer)| {
                let status = status.parse().expect("a numeric status");
                let content = self.follow(answer)["content"]
                    .as_object()
                    .and_then(|content| content.iter().next())
                    .map(|(media, body)| (media.clone(), body["schema"].clone()));
                (status, Answer { content })
            })
            .collect();
        Operation {
            id: operation["operationId"]
                .as_str()
                .expect("an operation has an id")
                .to_owned(),
            method,
            path: path.to_owned(),
            params,
            body,
            answers,
            secured: operation.get("security").is_some(),
        }
    }

    /// `value` itself, or what its `$ref` points at (recursively).
    pub fn follow<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("only local references are followed: {reference}"));
                self.follow(
                    self.root
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("{reference} points at nothing")),
                )
            }
            None => value,
        }
    }
}
