//! What a generating run tells the person at the terminal, on stderr: progress steps (only on
//! a terminal), the recommendation and report blocks, notes, and the closing summary. `--quiet`
//! and `--format json` silence all of it; errors are printed by `Error::report` regardless.

use std::io::IsTerminal;
use std::path::Path;

use crate::decision::Decision;
use crate::model::Shape;
use crate::write::{GitOutcome, Written};

/// The terminal side of a run.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    quiet: bool,
    progress: bool,
}

impl Ui {
    /// Silent when `quiet`; progress steps only when stderr is a terminal.
    #[must_use]
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            progress: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// A progress line for the step starting now.
    pub fn step(&self, what: &str) {
        if self.progress {
            eprintln!("==> {what}");
        }
    }

    /// A block of text (recommendation, research, report).
    pub fn block(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", text.trim_end());
            eprintln!();
        }
    }

    /// A one-line note the user should not miss.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("note: {text}");
        }
    }

    /// The closing summary: where the project is and what to do next.
    pub fn done(&self, target: &Path, decision: &Decision, written: &Written) {
        if self.quiet {
            return;
        }
        eprintln!("Wrote {} files to {}", written.files, target.display());
        match &written.git {
            GitOutcome::Committed => eprintln!("Initialised a git repository with a first commit"),
            GitOutcome::Unavailable(reason) => eprintln!("note: no git commit made: {reason}"),
            GitOutcome::AlreadyRepository => {
                eprintln!("note: target is already a git repository; nothing committed");
            }
            GitOutcome::Skipped => {}
        }
        match decision.shape {
            Shape::Microservices => {
                eprintln!();
                eprintln!("Next:");
                eprintln!("  cd {}", target.display());
                eprintln!("  cargo test --workspace        # every service's tests");
                eprintln!("  cargo run -p devstack         # the whole platform on localhost:8080");
            }
            Shape::DecisionOnly => eprintln!(
                "note: arch-init renders code for microservices and event-driven today; for `{}` it recorded the decision (docs/adr, .arch-init) only",
                decision.chosen
            ),
        }
    }
}
