//! Reading answers: an answers file (TOML), a JSON object, or one `key = value` at a time from
//! flags and prompts, into `Answers`. Tables are walked key by key so every error names the
//! key and the value the user wrote; nothing here fills defaults or decides anything.

use std::fmt::Write as _;

use serde_json::Value;

use super::choice::{Choice, backticked};
use super::{Answers, QUESTIONS, Question};

/// Keys other modules read from the same answers file; skipped here, never rejected.
const RESERVED_KEYS: &[&str] = &["requirements", "arch"];

/// Why answers could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswersError {
    /// The text is not valid TOML or JSON, or is not a table of answers.
    #[error("invalid answers: {0}")]
    Syntax(String),
    /// A key that is no question.
    #[error("unknown answer `{key}`, expected one of: {}", backticked(known.iter().copied()))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Every valid key.
        known: Vec<&'static str>,
    },
    /// A value the question does not accept.
    #[error("`{key} = {value}` {reason}")]
    BadValue {
        /// The key as written.
        key: String,
        /// The value as written, in TOML spelling (strings quoted).
        value: String,
        /// Why it is not accepted, e.g. "is not one of: `<5`, `5-15`, `15-50`, `50+`".
        reason: String,
    },
}

/// A type that can answer a question: parsed from a file value or a flag, spelled as users
/// type it.
pub trait Answer: Sized {
    /// Parses a value from an answers file or a prompt; the error is the reason, without the
    /// key.
    fn from_value(value: &Value) -> Result<Self, String>;
    /// Parses a flag's value; the error is what follows the flag in clap's message.
    fn from_flag(text: &str) -> Result<Self, String> {
        Self::from_value(&Value::String(text.to_owned()))
    }
    /// The value as users type it.
    fn spelling(&self) -> String;
    /// The values to choose from with their help text; empty for free text.
    fn options() -> Vec<(&'static str, &'static str)>;
}

impl<T: Choice> Answer for T {
    fn from_value(value: &Value) -> Result<Self, String> {
        let text = match value {
            Value::String(text) => text.clone(),
            // Only `team_size` accepts a number; the others reject it with their valid list.
            Value::Number(number) => number.to_string(),
            _ => {
                let valid = backticked(T::ALL.iter().map(|choice| choice.as_str()));
                return Err(format!("must be a string, one of: {valid}"));
            }
        };
        T::parse_choice(&text).map_err(|err| err.reason())
    }

    fn from_flag(text: &str) -> Result<Self, String> {
        T::parse_choice(text).map_err(|err| err.to_string())
    }

    fn spelling(&self) -> String {
        self.as_str().to_owned()
    }

    fn options() -> Vec<(&'static str, &'static str)> {
        T::ALL.iter().map(|c| (c.as_str(), c.describe())).collect()
    }
}

impl Answer for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(text) if text.trim().is_empty() => Err("must not be empty".to_owned()),
            // Free text lands in tables and search queries: one line, no table separators.
            Value::String(text) if text.chars().any(|c| c.is_control() || c == '|' || c == '`') => {
                Err("must be one line without `|` or backticks".to_owned())
            }
            Value::String(text) => Ok(text.trim().to_owned()),
            _ => Err("must be a string".to_owned()),
        }
    }

    fn spelling(&self) -> String {
        self.clone()
    }

    fn options() -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
}

impl Answers {
    /// Reads an answers file; `requirements` and `arch` are left for other readers.
    pub fn from_toml_str(text: &str) -> Result<Answers, AnswersError> {
        let table = toml_table(text)?;
        let value = serde_json::to_value(table)
            .map_err(|err| AnswersError::Syntax(format!("unreadable value: {err}")))?;
        Self::from_json_value(&value)
    }

    /// Reads answers from a JSON object with the same keys as the answers file.
    pub fn from_json_value(value: &Value) -> Result<Answers, AnswersError> {
        let Value::Object(map) = value else {
            return Err(AnswersError::Syntax(
                "expected a table of answers, e.g. `team_size = \"5-15\"`".to_owned(),
            ));
        };
        let mut answers = Answers::default();
        for (key, value) in map {
            answers.set_json(key, value)?;
        }
        Ok(answers)
    }

    /// Sets one answer as typed on a command line or at a prompt, e.g. `("team-size", "12")`.
    pub fn set(&mut self, key: &str, text: &str) -> Result<(), AnswersError> {
        self.set_json(key, &Value::String(text.to_owned()))
    }

    fn set_json(&mut self, key: &str, value: &Value) -> Result<(), AnswersError> {
        let canonical = key.replace('-', "_");
        if RESERVED_KEYS.contains(&canonical.as_str()) {
            return Ok(());
        }
        match self.set_value(&canonical, value) {
            None => Err(AnswersError::UnknownKey {
                key: key.to_owned(),
                known: QUESTIONS
                    .iter()
                    .map(|question: &Question| question.key)
                    .collect(),
            }),
            Some(Err(reason)) => Err(AnswersError::BadValue {
                key: key.to_owned(),
                value: spell(value),
                reason,
            }),
            Some(Ok(())) => Ok(()),
        }
    }
}

/// Answers read from a JSON object, key by key as `from_json_value` reads them (a replayed
/// session's `answers`).
impl<'de> serde::Deserialize<'de> for Answers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Answers::from_json_value(&value).map_err(serde::de::Error::custom)
    }
}

/// A value as it would be written in TOML, shortened for tables and arrays.
fn spell(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Object(_) => "{…}".to_owned(),
        Value::Array(_) => "[…]".to_owned(),
        other => other.to_string(),
    }
}

/// Parses TOML text into a table; a syntax error becomes one line, "line L, column C: …".
pub fn toml_table(text: &str) -> Result<toml::Table, AnswersError> {
    toml::from_str(text).map_err(|err| toml_syntax(text, &err))
}

/// One line: "line L, column C: message", from toml's multi-line report.
fn toml_syntax(text: &str, err: &toml::de::Error) -> AnswersError {
    let message = err.message().trim().replace('\n', " ");
    let mut out = String::new();
    if let Some(span) = err.span() {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |tail| tail.chars().count())
            + 1;
        let _ = write!(out, "line {line}, column {column}: ");
    }
    out.push_str(&message);
    AnswersError::Syntax(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{ProjectContext, TeamSize, Workload};

    #[track_caller]
    fn error(text: &str) -> String {
        Answers::from_toml_str(text).unwrap_err().to_string()
    }

    #[test]
    fn bad_answers_are_named_by_key_and_value() {
        let cases = [
            (
                r#"team_size = "huge""#,
                "`team_size = \"huge\"` is not one of: `<5`, `5-15`, `15-50`, `50+`",
            ),
            (
                "team_size = 0",
                "`team_size = 0` is not one of: `<5`, `5-15`, `15-50`, `50+`",
            ),
            (
                "complexity = 3",
                "`complexity = 3` is not one of: `simple`, `moderate`, `complex`, `highly-complex`",
            ),
            (
                "security = { level = 1 }",
                "`security = {…}` must be a string, one of: `standard`, `high`, `critical`",
            ),
            (
                r#"framework = " ""#,
                "`framework = \" \"` must not be empty",
            ),
            ("framework = 4", "`framework = 4` must be a string"),
            (
                r#"project-type = "game""#,
                "`project-type = \"game\"` is not one of: `web-api`, `web-application`, `cli-tool`, `data-pipeline`, `library`, `microservice`, `desktop-app`, `mobile-app`, `real-time-system`, `streaming-app`",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text}");
        }
    }

    #[test]
    fn an_unknown_key_is_rejected_with_the_known_keys() {
        let err = Answers::from_toml_str(r#"teamsize = "5-15""#).unwrap_err();
        let AnswersError::UnknownKey { key, known } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(key, "teamsize");
        assert!(known.contains(&"team_size"));
        assert!(
            err.to_string()
                .starts_with("unknown answer `teamsize`, expected one of: `project_type`")
        );
    }

    #[test]
    fn a_syntax_error_keeps_its_line_and_column() {
        let message = error("team_size = \"5-15\"\nscalability = high\n");
        assert!(
            message.starts_with("invalid answers: line 2, column 15: "),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn reserved_keys_are_skipped_and_kebab_case_is_accepted() {
        let text = "arch = \"hexagonal\"\nteam-size = \"12\"\n[requirements]\nlatency_ms = 100\n";
        let answers = Answers::from_toml_str(text).unwrap();
        assert_eq!(
            answers,
            Answers {
                team_size: Some(TeamSize::Small),
                ..Answers::default()
            }
        );
    }

    #[test]
    fn a_number_is_a_team_size_in_toml_and_json() {
        let from_toml = Answers::from_toml_str("team_size = 12").unwrap();
        let from_json = Answers::from_json_value(&serde_json::json!({ "team_size": 12 })).unwrap();
        assert_eq!(from_toml.team_size, Some(TeamSize::Small));
        assert_eq!(from_json, from_toml);
    }

    #[test]
    fn json_that_is_not_an_object_is_a_syntax_error() {
        let err = Answers::from_json_value(&serde_json::json!(["web-api"])).unwrap_err();
        assert!(matches!(err, AnswersError::Syntax(_)));
    }

    #[test]
    fn flags_overlay_the_file_and_defaults_fill_the_rest() {
        let file = Answers::from_toml_str("team_size = \"50+\"\nworkload = \"bursty\"").unwrap();
        let mut flags = Answers::default();
        flags.set("team-size", "3").unwrap();
        let ctx = ProjectContext::from_answers(&file.overlay(flags));
        assert_eq!(ctx.team_size, TeamSize::Tiny);
        assert_eq!(ctx.workload, Workload::Bursty);
        assert_eq!(ctx.framework, "axum");
    }

    #[test]
    fn answers_serialize_only_what_was_given() {
        let answers = Answers::from_toml_str("workload = \"spiky-idle\"").unwrap();
        assert_eq!(
            serde_json::to_string(&answers).unwrap(),
            r#"{"workload":"spiky-idle"}"#
        );
    }
}
