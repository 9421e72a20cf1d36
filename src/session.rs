//! The session record, `.arch-init/arch-init-session.json`: everything the run decided and
//! why, in a stable JSON shape (docs/json.md). Read back by `--answers` to replay a run.

use serde::Serialize;

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
