//! What the user typed: clap derive types only. Their doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::catalog::Paradigm;
use crate::context::{
    AuditTrail, Complexity, Consistency, DataFlow, Extensibility, Language, Lifespan, OpsMaturity,
    ProjectType, Scalability, Security, TeamExperience, TeamSize, TimeToMarket, Workload,
};
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
    pub command: Option<Command>,

    #[command(flatten)]
    pub generate: GenerateArgs,
}

/// The other things arch-init can do.
#[derive(Debug, Subcommand)]
pub enum Command {
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
}

/// `arch-init verify …`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub answers: AnswerArgs,
    /// The project name shown in the report.
    #[arg(long, default_value = "project")]
    pub name: String,
    /// Verify this paradigm's model instead of the recommended one.
    #[arg(long, value_name = "PARADIGM")]
    pub arch: Option<Paradigm>,
    /// Output format: human-readable text or the stable JSON document (see docs/json.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// `arch-init templates …`
#[derive(Debug, Subcommand)]
pub enum TemplatesAction {
    /// List every built-in template and whether it is rendered or copied.
    List,
    /// Write the built-in templates into DIR (absent or empty) for editing.
    Export {
        /// Where to write them.
        dir: PathBuf,
    },
}

/// Text for people, JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Generating a project: the default action.
#[derive(Debug, Args)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "each bool is an independent command-line switch"
)]
pub struct GenerateArgs {
    /// Project name: the directory and the title of the README and ADR
    /// (letters, digits, `-`, `_`; starts with a letter).
    #[arg(long, required = true)]
    pub name: Option<String>,

    /// Where to write the project [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Never prompt: accept the recommendation (or `--arch`) with the answers given as flags
    /// or in `--answers`, defaults for the rest.
    #[arg(short = 'y', long, visible_alias = "accept-recommendation")]
    pub yes: bool,

    /// Use this paradigm instead of the recommended one; the ADR records the override and the
    /// score gap.
    #[arg(long, value_name = "PARADIGM")]
    pub arch: Option<Paradigm>,

    /// Skip the research phase (queries, focus areas and references in the ADR).
    #[arg(long)]
    pub skip_research: bool,

    /// Write into a non-empty target directory, replacing files with the same paths.
    #[arg(long)]
    pub force: bool,

    /// Print the files that would be written (with `--format json`, the whole plan) and write
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not run `git init` and make a first commit.
    #[arg(long)]
    pub no_git: bool,

    /// Overlay the built-in templates with the files of DIR, file by file (see
    /// `arch-init templates export`).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// Fail (exit 1, nothing written) when a verified property FAILED.
    #[arg(long)]
    pub strict: bool,

    /// The date recorded in the ADR, as YYYY-MM-DD [default: today, or the replayed session's].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<jiff::civil::Date>,

    /// Print the result as JSON on stdout (the session document, or the plan with `--dry-run`).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Print nothing but errors on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub answers: AnswerArgs,
}

/// The answers, as flags. Each overrides the same answer in `--answers FILE`.
#[derive(Debug, Clone, Default, Args)]
pub struct AnswerArgs {
    /// Read answers from a TOML or JSON file (or replay a `.arch-init/arch-init-session.json`);
    /// flags override it.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,

    /// What is being built.
    #[arg(long, value_name = "TYPE")]
    pub project_type: Option<ProjectType>,

    /// How intricate the business domain is.
    #[arg(long, value_name = "LEVEL")]
    pub complexity: Option<Complexity>,

    /// How many engineers will work on it: `<5`, `5-15`, `15-50`, `50+`, or a number.
    #[arg(long, value_name = "SIZE")]
    pub team_size: Option<TeamSize>,

    /// Implementation language (only Rust is rendered; others get the decision and ADR).
    #[arg(long, value_name = "LANG")]
    pub language: Option<Language>,

    /// Web or application framework (free text).
    #[arg(long, value_name = "NAME", value_parser = free_text)]
    pub framework: Option<String>,

    /// Expected users: low (<1K), moderate (<100K), high (<1M), extreme (>1M).
    #[arg(long, value_name = "LEVEL")]
    pub scalability: Option<Scalability>,

    /// Security requirements.
    #[arg(long, value_name = "LEVEL")]
    pub security: Option<Security>,

    /// How soon it must ship.
    #[arg(long, value_name = "PACE")]
    pub time_to_market: Option<TimeToMarket>,

    /// Refinement: the team's experience with distributed systems and the chosen style
    /// (junior, mixed, senior).
    #[arg(long, value_name = "LEVEL")]
    pub team_experience: Option<TeamExperience>,

    /// Refinement: how mature deployment, monitoring and on-call are (basic, established,
    /// advanced).
    #[arg(long, value_name = "LEVEL")]
    pub ops_maturity: Option<OpsMaturity>,

    /// Refinement: how long the system is expected to live (short, typical, long).
    #[arg(long, value_name = "SPAN")]
    pub lifespan: Option<Lifespan>,

    /// Refinement: whether reads must see every write at once (eventual-ok, strong).
    #[arg(long, value_name = "NEED")]
    pub consistency: Option<Consistency>,

    /// Refinement: whether every change must be auditable and replayable (none, required).
    #[arg(long, value_name = "NEED")]
    pub audit_trail: Option<AuditTrail>,

    /// Refinement: the shape of the load (steady, bursty, spiky-idle).
    #[arg(long, value_name = "SHAPE")]
    pub workload: Option<Workload>,

    /// Refinement: how data moves (request-response, streaming, batch).
    #[arg(long, value_name = "FLOW")]
    pub data_flow: Option<DataFlow>,

    /// Refinement: whether third parties extend it with plugins (fixed, plugins).
    #[arg(long, value_name = "NEED")]
    pub extensibility: Option<Extensibility>,

    #[command(flatten)]
    pub requirements: RequirementArgs,
}

/// A free-text answer, checked like the same key in an answers file.
fn free_text(text: &str) -> Result<String, String> {
    <String as crate::context::Answer>::from_value(&serde_json::Value::String(text.to_owned()))
}
