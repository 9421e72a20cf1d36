//! Flags and the answers file → `Input`: the answers, the requirements, a forced paradigm
//! and a date. An answers file is TOML or JSON; a session file written by an earlier run
//! (`.arch-init/arch-init-session.json`) is replayed: its answers, requirements, date and
//! any override come back exactly. Flags override the file.

use std::path::Path;

use crate::catalog::Paradigm;
use crate::cli::AnswerArgs;
use crate::context::{Answers, AnswersError};
use crate::error::Error;
use crate::requirements::RequirementAnswers;

/// Everything the user said, before defaults are filled in.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub answers: Answers,
    pub requirements: RequirementAnswers,
    /// A paradigm forced by the file (`arch = "…"`, or a replayed override).
    pub arch: Option<Paradigm>,
    /// The date of a replayed session.
    pub date: Option<jiff::civil::Date>,
    /// A replayed session that skipped the research phase.
    pub skip_research: bool,
}

/// The largest answers file read; a real one holds a few dozen lines.
pub const MAX_ANSWERS_BYTES: u64 = 1 << 20;

/// Reads an answers file as UTF-8, refusing anything over `MAX_ANSWERS_BYTES`.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_ANSWERS_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_ANSWERS_BYTES {
        return Err(std::io::Error::other(
            "larger than 1 MiB; an answers file holds a few answers",
        ));
    }
    Ok(text)
}

/// Reads `--answers` (if any) and lays the answer flags over it.
pub fn load(args: &AnswerArgs) -> Result<Input, Error> {
    let from_file = match &args.answers {
        Some(path) => {
            let text = read_bounded(path).map_err(|source| Error::AnswersUnreadable {
                path: path.clone(),
                source,
            })?;
            parse_file(path, &text)?
        }
        None => Input::default(),
    };
    let flags = args
        .requirements
        .answers()
        .map_err(Error::BadRequirementFlag)?;
    let requirements = from_file.requirements.overlay(&flags);
    crate::project::check_entry_names(&requirements)?;
    Ok(Input {
        answers: from_file.answers.overlay(flag_answers(args)),
        requirements,
        ..from_file
    })
}

fn flag_answers(args: &AnswerArgs) -> Answers {
    Answers {
        project_type: args.project_type,
        complexity: args.complexity,
        team_size: args.team_size,
        language: args.language,
        framework: args.framework.clone(),
        scalability: args.scalability,
        security: args.security,
        time_to_market: args.time_to_market,
        team_experience: args.team_experience,
        ops_maturity: args.ops_maturity,
        lifespan: args.lifespan,
        consistency: args.consistency,
        audit_trail: args.audit_trail,
        workload: args.workload,
        data_flow: args.data_flow,
        extensibility: args.extensibility,
    }
}

/// Parses an answers file's text; JSON when it is named `.json` or starts with `{`.
pub fn parse_file(path: &Path, text: &str) -> Result<Input, Error> {
    let bad = |source: AnswersError| Error::BadAnswers {
        path: path.to_owned(),
        source,
    };
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    let value: serde_json::Value = if is_json {
        serde_json::from_str(text).map_err(|err| bad(AnswersError::Syntax(err.to_string())))?
    } else {
        let table = crate::context::answers::toml_table(text).map_err(bad)?;
        serde_json::to_value(table).map_err(|err| bad(AnswersError::Syntax(err.to_string())))?
    };
    let serde_json::Value::Object(object) = &value else {
        return Err(bad(AnswersError::Syntax(
            "expected a table of answers".into(),
        )));
    };
    if object.contains_key(crate::session::VERSION_KEY) {
        return replay(path, object);
    }
    let answers = Answers::from_json_value(&value).map_err(bad)?;
    let requirements = match object.get("requirements") {
        Some(table) => {
            RequirementAnswers::from_json_value(table).map_err(|source| Error::BadRequirements {
                path: path.to_owned(),
                source,
            })?
        }
        None => RequirementAnswers::default(),
    };
    let arch = match object.get("arch") {
        Some(value) => Some(paradigm(value).map_err(bad)?),
        None => None,
    };
    Ok(Input {
        answers,
        requirements,
        arch,
        date: None,
        skip_research: false,
    })
}

fn paradigm(value: &serde_json::Value) -> Result<Paradigm, AnswersError> {
    let text = value.as_str().unwrap_or_default();
    text.parse()
        .map_err(|err: crate::context::ChoiceError| AnswersError::BadValue {
            key: "arch".into(),
            value: value.to_string(),
            reason: err.reason(),
        })
}

/// A session written by an earlier run: its answers, requirements, date and override.
fn replay(
    path: &Path,
    session: &serde_json::Map<String, serde_json::Value>,
) -> Result<Input, Error> {
    let bad = |source: AnswersError| Error::BadAnswers {
        path: path.to_owned(),
        source,
    };
    let section = |key: &str| {
        session.get(key).ok_or_else(|| {
            bad(AnswersError::Syntax(format!(
                "session file has no `{key}` section"
            )))
        })
    };
    let answers = Answers::from_json_value(section("answers")?).map_err(bad)?;
    let requirements: RequirementAnswers =
        serde_json::from_value(section("requirement_answers")?.clone()).map_err(|err| {
            bad(AnswersError::Syntax(format!(
                "session `requirement_answers`: {err}"
            )))
        })?;
    let decision = section("decision")?;
    let arch = if decision
        .get("overridden")
        .and_then(serde_json::Value::as_bool)
        == Some(true)
    {
        Some(paradigm(&decision["chosen"]).map_err(bad)?)
    } else {
        None
    };
    let date = section("date")?
        .as_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            bad(AnswersError::Syntax(
                "session `date` is not YYYY-MM-DD".into(),
            ))
        })?;
    Ok(Input {
        answers,
        requirements,
        arch,
        date: Some(date),
        // A session records `research: null` when it skipped the phase.
        skip_research: session
            .get("research")
            .is_some_and(serde_json::Value::is_null),
    })
}
