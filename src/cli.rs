//! What the user typed: clap types. The derived ones' doc comments are the help text; the
//! answer flags are made from the question table (`QuestionFlags`).

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::catalog::Paradigm;
use crate::context::{Answers, QUESTIONS, Question};
use crate::requirements::RequirementArgs;

/// Start a new project the way a senior architect would: answer a few questions, get an
/// explained architecture recommendation, an Architecture Decision Record, and a working Rust
/// repository shaped by the decision.
#[derive(Debug, Parser)]
#[command(
    name = "arch-init",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    #[command(flatten)]
    pub(crate) generate: GenerateArgs,
}

/// The other things arch-init can do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the ranked recommendation and its explanation; writes nothing.
    Recommend {
        #[command(flatten)]
        answers: AnswerArgs,
        /// Output format: human-readable text or the stable JSON document (see docs/json.md).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Check the architecture model against the requirements; exit 1 if a property FAILED.
    Verify(VerifyArgs),
    /// List the paradigm catalog.
    Paradigms {
        /// Output format: human-readable text or the stable JSON document (see docs/json.md).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List or export the built-in templates, to customise them with `--templates DIR`.
    Templates {
        #[command(subcommand)]
        action: TemplatesAction,
    },
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout, e.g. `arch-init man > arch-init.1`.
    Man,
}

/// `arch-init verify …`
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) answers: AnswerArgs,
    /// The project name shown in the report.
    #[arg(long, default_value = "project")]
    pub(crate) name: String,
    /// Verify this paradigm's model instead of the recommended one.
    #[arg(long, value_name = "PARADIGM")]
    pub(crate) arch: Option<Paradigm>,
    /// Replace planning figures with measured ones: a TOML or JSON table of
    /// `"subject.figure" = value`, keyed as the report's assumed figures are.
    #[arg(long, value_name = "FILE")]
    pub(crate) figures: Option<PathBuf>,
    /// Also compare a load run's `report.json` (the generated repository's `make load`)
    /// with the requirements and the model's predictions; exit 1 if a measured figure fails.
    #[arg(long, value_name = "REPORT")]
    pub(crate) measured: Option<PathBuf>,
    /// Output format: human-readable text or the stable JSON document (see docs/json.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
}

/// `arch-init templates …`
#[derive(Debug, Subcommand)]
pub(crate) enum TemplatesAction {
    /// List every built-in template and whether it is rendered or copied.
    List,
    /// Write the built-in templates into DIR (absent or empty) for editing.
    Export {
        /// Where to write them.
        dir: PathBuf,
    },
    /// Print, as JSON, exactly what a template sees for these answers (docs/templates.md).
    Context(Box<ContextArgs>),
}

/// `arch-init templates context …`: the run's decision flags and answers, and a unit.
#[derive(Debug, Args)]
pub(crate) struct ContextArgs {
    #[command(flatten)]
    pub(crate) answers: AnswerArgs,
    /// The project name the context carries.
    #[arg(long, default_value = "project")]
    pub(crate) name: String,
    /// Use this paradigm instead of the recommended one.
    #[arg(long, value_name = "PARADIGM")]
    pub(crate) arch: Option<Paradigm>,
    /// The date the context carries, as YYYY-MM-DD [default: today, or the replayed session's].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) date: Option<jiff::civil::Date>,
    /// Leave the research out, as `--skip-research` does.
    #[arg(long)]
    pub(crate) skip_research: bool,
    /// Add `unit` as the templates of this unit see it (a service, `api-gateway`, `devstack`).
    #[arg(long, value_name = "UNIT")]
    pub(crate) unit: Option<String>,
}

/// Text for people, JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

/// Generating a project: the default action.
#[derive(Debug, Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each bool is an independent command-line switch"
)]
pub(crate) struct GenerateArgs {
    /// Project name: the directory and the title of the README and ADR
    /// (letters, digits, `-`, `_`; starts with a letter).
    #[arg(long, required = true)]
    pub(crate) name: Option<String>,

    /// Where to write the project [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,

    /// Never prompt: accept the recommendation (or `--arch`) with the answers given as flags
    /// or in `--answers`, defaults for the rest.
    #[arg(short = 'y', long, visible_alias = "accept-recommendation")]
    pub(crate) yes: bool,

    /// Use this paradigm instead of the recommended one; the ADR records the override and the
    /// score gap.
    #[arg(long, value_name = "PARADIGM")]
    pub(crate) arch: Option<Paradigm>,

    /// Skip the research phase (queries, focus areas and references in the ADR).
    #[arg(long)]
    pub(crate) skip_research: bool,

    /// Write into a non-empty target directory, replacing files with the same paths.
    #[arg(long)]
    pub(crate) force: bool,

    /// Print the files that would be written (with `--format json`, the whole plan) and write
    /// nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Do not run `git init` and make a first commit.
    #[arg(long)]
    pub(crate) no_git: bool,

    /// Overlay the built-in templates with the files of DIR, file by file (see
    /// `arch-init templates export`).
    #[arg(long, value_name = "DIR")]
    pub(crate) templates: Option<PathBuf>,

    /// Fail (exit 1, nothing written) when a verified property FAILED.
    #[arg(long)]
    pub(crate) strict: bool,

    /// The date recorded in the ADR, as YYYY-MM-DD [default: today, or the replayed session's].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) date: Option<jiff::civil::Date>,

    /// Print the result as JSON on stdout (the session document, or the plan with `--dry-run`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,

    /// Print nothing but errors on stderr.
    #[arg(short, long)]
    pub(crate) quiet: bool,

    #[command(flatten)]
    pub(crate) answers: AnswerArgs,
}

/// The answers, as flags. Each overrides the same answer in `--answers FILE`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct AnswerArgs {
    /// Read answers from a TOML or JSON file (or replay a `.arch-init/arch-init-session.json`);
    /// flags override it.
    #[arg(long, value_name = "FILE")]
    pub(crate) answers: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) given: QuestionFlags,

    #[command(flatten)]
    pub(crate) requirements: RequirementArgs,
}

/// One flag per question of `context::QUESTIONS`, made from that table: its flag, value
/// name, help, default and values. What the user gives lands in `Answers` directly.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuestionFlags(pub Answers);

impl Args for QuestionFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        QUESTIONS.iter().fold(cmd, |cmd, question| {
            let options = (question.options)();
            let default = question.default_value();
            cmd.arg(
                Arg::new(question.key)
                    .long(question.flag.trim_start_matches("--"))
                    .value_name(question.value_name)
                    .help(format!("{} [default: {default}]", question.help))
                    .value_parser(QuestionParser { question, options }),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for QuestionFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for question in QUESTIONS {
            if let Some(spelling) = matches.get_one::<String>(question.key) {
                // The parser accepted it, so it is an answer to this question.
                self.0.set(question.key, spelling).map_err(|err| {
                    clap::Error::raw(clap::error::ErrorKind::ValueValidation, err)
                })?;
            }
        }
        Ok(())
    }
}

/// A question's flag value: checked by the question, its options offered to `--help` and
/// shell completion.
#[derive(Clone)]
struct QuestionParser {
    question: &'static Question,
    options: Vec<(&'static str, &'static str)>,
}

impl TypedValueParser for QuestionParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        self.question.parse_flag.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        (!self.options.is_empty()).then(|| {
            Box::new(
                self.options
                    .iter()
                    .map(|(value, _)| PossibleValue::new(*value)),
            ) as Box<dyn Iterator<Item = PossibleValue>>
        })
    }
}
