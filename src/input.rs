//! Raw arguments in, settled values out. `load` reads the answers file (TOML or JSON, or a
//! session written by an earlier run, replayed: its answers, requirements, date and any override
//! come back exactly) and lays the answer flags over it. `settle` does that for a generating
//! run and settles everything else the run needs, once: the target, overwrite, git, whether to
//! prompt, the date, a forced paradigm, research, the template set and the output. Flags win
//! over the file here and nowhere else; everything the user can get wrong is checked here,
//! before the first question.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::catalog::Paradigm;
use crate::cli::{AnswerArgs, Format, GenerateArgs};
use crate::context::{Answers, AnswersError};
use crate::error::Error;
use crate::model::ArchitectureModel;
use crate::name::ProjectName;
use crate::render::{self, Compiled};
use crate::requirements::RequirementAnswers;
use crate::session::{self, Replay};
use crate::templates::TemplateSet;
use crate::write::{self, Git, Overwrite};

/// Everything the user said about the project (file, then flags), before defaults.
#[derive(Debug, Clone, Default)]
pub(crate) struct Input {
    pub(crate) answers: Answers,
    pub(crate) requirements: RequirementAnswers,
    /// A paradigm forced by the file (`arch = "…"`, or a replayed override).
    pub(crate) arch: Option<Paradigm>,
    /// The date of a replayed session.
    pub(crate) date: Option<jiff::civil::Date>,
    /// A replayed session that skipped the research phase.
    pub(crate) skip_research: bool,
}

/// A generating run, settled: what the rest of the pipeline reads instead of the flags.
#[derive(Debug)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each bool is one settled switch of the run, named for what it decides"
)]
pub(crate) struct Settings {
    pub(crate) name: ProjectName,
    pub(crate) target: PathBuf,
    pub(crate) overwrite: Overwrite,
    pub(crate) git: Git,
    /// Whether to ask the questions: a terminal on stdin and stderr, and no `--yes`.
    pub(crate) interactive: bool,
    /// The ADR date: `--date`, else the replayed session's, else today.
    pub(crate) date: jiff::civil::Date,
    /// The paradigm forced up front: `--arch`, else the answers file's.
    pub(crate) arch: Option<Paradigm>,
    /// Whether to run the research phase (neither `--skip-research` nor a session that skipped).
    pub(crate) research: bool,
    /// Whether a FAILED property stops the run.
    pub(crate) strict: bool,
    /// Whether to print the plan instead of writing it.
    pub(crate) dry_run: bool,
    /// The data printed on stdout.
    pub(crate) format: Format,
    /// Whether stderr stays silent but for errors (`--quiet`, or JSON on stdout).
    pub(crate) quiet: bool,
    /// The built-in templates, overlaid by `--templates DIR` (then parsed already).
    pub(crate) templates: Compiled,
    /// The answers given (file, then flags), before defaults; the questions start from them.
    pub(crate) answers: Answers,
    pub(crate) requirements: RequirementAnswers,
}

/// Settles a generating run from its flags; checks the name, the target, the answers file, the
/// requirements and the templates before anything is asked or printed.
pub(crate) fn settle(args: &GenerateArgs) -> Result<Settings, Error> {
    let name = ProjectName::parse(args.name.as_deref().unwrap_or_default())?;
    let target = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(name.as_str()));
    let overwrite = if args.force {
        Overwrite::Force
    } else {
        Overwrite::Refuse
    };
    write::check_target(&target, overwrite)?;
    if !args.dry_run {
        write::check_writable(&target)?;
    }
    let grounds = ground(&args.answers, args.arch, args.date, args.skip_research)?;
    // An overlay is parsed now, so its errors come before any question; the built-in set is
    // parsed as far as the run renders it, while the project is written.
    let templates = match &args.templates {
        Some(dir) => {
            render::compile(TemplateSet::builtin().overlaid(TemplateSet::load_overlay(dir)?))?
        }
        None => render::deferred(TemplateSet::builtin()),
    };
    let interactive =
        !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && !interactive {
        return Err(Error::NeedsYes);
    }
    Ok(Settings {
        name,
        target,
        overwrite,
        git: if args.no_git {
            Git::Skip
        } else {
            Git::InitAndCommit
        },
        interactive,
        date: grounds.date,
        arch: grounds.arch,
        research: grounds.research,
        strict: args.strict,
        dry_run: args.dry_run,
        format: args.format,
        quiet: args.quiet || args.format == Format::Json,
        templates,
        answers: grounds.answers,
        requirements: grounds.requirements,
    })
}

/// What a decision is made from, settled: the answers file with the flags over it.
#[derive(Debug)]
pub(crate) struct Grounds {
    pub(crate) answers: Answers,
    pub(crate) requirements: RequirementAnswers,
    /// `--arch`, else the answers file's.
    pub(crate) arch: Option<Paradigm>,
    /// `--date`, else the replayed session's, else today.
    pub(crate) date: jiff::civil::Date,
    /// Neither `--skip-research` nor a replayed session that skipped it.
    pub(crate) research: bool,
}

/// Settles the answer flags and the decision flags (`--arch`, `--date`, `--skip-research`)
/// over the answers file.
pub(crate) fn ground(
    args: &AnswerArgs,
    arch: Option<Paradigm>,
    date: Option<jiff::civil::Date>,
    skip_research: bool,
) -> Result<Grounds, Error> {
    let input = load(args)?;
    Ok(Grounds {
        answers: input.answers,
        requirements: input.requirements,
        arch: arch.or(input.arch),
        date: date.or(input.date).unwrap_or_else(today),
        research: !(skip_research || input.skip_research),
    })
}

/// Today's date in UTC.
fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// The largest answers file read; a real one holds a few dozen lines.
pub(crate) const MAX_ANSWERS_BYTES: u64 = 1 << 20;

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
pub(crate) fn load(args: &AnswerArgs) -> Result<Input, Error> {
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
    check_entry_names(&requirements)?;
    Ok(Input {
        answers: from_file.answers.overlay(args.given.0.clone()),
        requirements,
        ..from_file
    })
}

/// A latency bound must name a request path of the model (of the one shape that has request
/// paths), so a typo is reported before any question rather than silently ignored.
fn check_entry_names(answers: &RequirementAnswers) -> Result<(), Error> {
    let known = ArchitectureModel::entry_names();
    match answers
        .entry_p99_ms
        .keys()
        .find(|name| !known.contains(name))
    {
        None => Ok(()),
        Some(unknown) => Err(Error::UnknownEntry {
            name: unknown.clone(),
            known: known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Parses an answers file's text; JSON when it is named `.json` or starts with `{`.
pub(crate) fn parse_file(path: &Path, text: &str) -> Result<Input, Error> {
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
    if object.contains_key(session::VERSION_KEY) {
        let replay: Replay = serde_json::from_value(value).map_err(|err| {
            bad(AnswersError::Syntax(format!(
                "not a session arch-init can replay: {err}"
            )))
        })?;
        return Ok(Input {
            arch: replay.forced(),
            date: Some(replay.date),
            skip_research: replay.skipped_research,
            answers: replay.answers,
            requirements: replay.requirement_answers,
        });
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
