//! The session record, `.arch-init/arch-init-session.json`: everything the run decided and
//! why, in a stable JSON shape (docs/json.md), written as `Session` and read back as `Replay`
//! by `--answers` to replay a run. Types only: reading the file is `input`'s.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};

use crate::catalog::Paradigm;
use crate::context::Answers;
use crate::decision::Decision;
use crate::recommend::Recommendation;
use crate::requirements::{RequirementAnswers, Requirements};
use crate::research::ResearchBrief;
use crate::verify::VerificationReport;

/// The key that marks a JSON document as a session (and holds the tool version).
pub const VERSION_KEY: &str = "arch_init_version";

/// Where the session is written inside the project.
pub const PATH: &str = ".arch-init/arch-init-session.json";

/// One run's inputs and results.
#[derive(Debug, Serialize)]
pub struct Session<'a> {
    pub arch_init_version: &'static str,
    pub project: &'a str,
    /// The ADR date, YYYY-MM-DD.
    pub date: String,
    /// Every answer, defaults filled in.
    pub answers: Answers,
    /// The requirements the user set (flags and file), replayed by `--answers`.
    pub requirement_answers: &'a RequirementAnswers,
    /// The requirements in force: the user's, completed with defaults.
    pub requirements: &'a Requirements,
    /// Absent with `--skip-research`.
    pub research: Option<&'a ResearchBrief>,
    pub recommendation: &'a Recommendation,
    pub decision: &'a Decision,
    pub verification: &'a VerificationReport,
}

impl Session<'_> {
    /// The file's contents: pretty JSON with a trailing newline.
    ///
    /// # Panics
    /// Never: every part is plain data that serializes to JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("session parts are plain data");
        text.push('\n');
        text
    }
}

/// The parts of a written session that a new run takes back: its answers, requirements, date,
/// an override, and whether it skipped the research. Everything else it holds is ignored.
#[derive(Debug, Deserialize)]
pub struct Replay {
    pub answers: Answers,
    pub requirement_answers: RequirementAnswers,
    pub decision: ReplayedDecision,
    pub date: jiff::civil::Date,
    /// A session records `research: null` when it skipped the phase.
    #[serde(default, rename = "research", deserialize_with = "is_null")]
    pub skipped_research: bool,
}

/// The decision of a replayed session: what was chosen, and whether against the
/// recommendation (then it is forced again).
#[derive(Debug, Deserialize)]
pub struct ReplayedDecision {
    pub chosen: Paradigm,
    pub overridden: bool,
}

impl Replay {
    /// The paradigm the session forced, if it overrode the recommendation.
    #[must_use]
    pub fn forced(&self) -> Option<Paradigm> {
        self.decision.overridden.then_some(self.decision.chosen)
    }
}

fn is_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<IgnoredAny>::deserialize(deserializer)?.is_none())
}
