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
pub(crate) const VERSION_KEY: &str = "arch_init_version";

/// Where the session is written inside the project.
pub(crate) const PATH: &str = ".arch-init/arch-init-session.json";

/// One run's inputs and results.
#[derive(Debug, Serialize)]
pub(crate) struct Session<'a> {
    pub(crate) arch_init_version: &'static str,
    pub(crate) project: &'a str,
    /// The ADR date, YYYY-MM-DD.
    pub(crate) date: String,
    /// Every answer, defaults filled in.
    pub(crate) answers: Answers,
    /// The requirements the user set (flags and file), replayed by `--answers`.
    pub(crate) requirement_answers: &'a RequirementAnswers,
    /// The requirements in force: the user's, completed with defaults.
    pub(crate) requirements: &'a Requirements,
    /// Absent with `--skip-research`.
    pub(crate) research: Option<&'a ResearchBrief>,
    pub(crate) recommendation: &'a Recommendation,
    pub(crate) decision: &'a Decision,
    pub(crate) verification: &'a VerificationReport,
}

impl Session<'_> {
    /// The file's contents: pretty JSON with a trailing newline.
    ///
    /// # Panics
    /// Never: every part is plain data that serializes to JSON.
    #[must_use]
    pub(crate) fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("session parts are plain data");
        text.push('\n');
        text
    }
}

/// The parts of a written session that a new run takes back: its answers, requirements, date,
/// an override, and whether it skipped the research. Everything else it holds is ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Replay {
    pub(crate) answers: Answers,
    pub(crate) requirement_answers: RequirementAnswers,
    pub(crate) decision: ReplayedDecision,
    pub(crate) date: jiff::civil::Date,
    /// A session records `research: null` when it skipped the phase.
    #[serde(default, rename = "research", deserialize_with = "is_null")]
    pub(crate) skipped_research: bool,
}

/// The decision of a replayed session: what was chosen, and whether against the
/// recommendation (then it is forced again).
#[derive(Debug, Deserialize)]
pub(crate) struct ReplayedDecision {
    pub(crate) chosen: Paradigm,
    pub(crate) overridden: bool,
}

impl Replay {
    /// The paradigm the session forced, if it overrode the recommendation.
    #[must_use]
    pub(crate) fn forced(&self) -> Option<Paradigm> {
        self.decision.overridden.then_some(self.decision.chosen)
    }
}

fn is_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<IgnoredAny>::deserialize(deserializer)?.is_none())
}
