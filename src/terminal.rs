//! Everything arch-init prints. On stderr, what a generating run tells the person at the
//! terminal (`Ui`): progress steps (only on a terminal), the recommendation and report blocks,
//! notes, and the closing summary; `--quiet` and `--format json` silence all of it, and errors
//! are printed by `Error::report` regardless. On stdout, data: JSON documents and text for
//! people, made by `text` (docs/style.md describes both).

pub(crate) mod text;

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;

use serde_json::json;

use crate::cli::Format;
use crate::decision::Decision;
use crate::error::Error;
use crate::model::Shape;
use crate::plan::FilePlan;
use crate::write::{GitOutcome, Written};

/// The terminal side of a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ui {
    quiet: bool,
    progress: bool,
}

impl Ui {
    /// Silent when `quiet`; progress steps only when stderr is a terminal.
    #[must_use]
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            quiet,
            progress: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// A progress line for the step starting now.
    pub(crate) fn step(self, what: &str) {
        if self.progress {
            eprintln!("==> {what}");
        }
    }

    /// A block of text (recommendation, research, report).
    pub(crate) fn block(self, text: &str) {
        if !self.quiet {
            eprintln!("{}", text.trim_end());
            eprintln!();
        }
    }

    /// A one-line note the user should not miss.
    pub(crate) fn note(self, text: &str) {
        if !self.quiet {
            eprintln!("note: {text}");
        }
    }

    /// The closing summary: where the project is and what to do next.
    pub(crate) fn done(self, target: &Path, decision: &Decision, written: &Written) {
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
            Shape::ModularMonolith => {
                eprintln!();
                eprintln!("Next:");
                eprintln!("  cd {}", target.display());
                eprintln!("  cargo test --workspace        # every module's tests");
                eprintln!("  cargo run -p app              # every module on localhost:8080");
            }
            Shape::DecisionOnly => eprintln!(
                "note: arch-init renders code for microservices, event-driven and modular-monolith today; for `{}` it recorded the decision (docs/adr, .arch-init) only",
                decision.chosen
            ),
        }
    }
}

/// `--dry-run`: the file list (text) or the whole plan (JSON) on stdout.
pub(crate) fn print_plan(plan: &FilePlan, target: &Path, format: Format) -> Result<(), Error> {
    match format {
        Format::Json => print_json(&json!({ "target": target, "plan": plan.to_json() })),
        Format::Text => {
            let mut text = String::new();
            for (path, file) in plan.iter() {
                let _ = writeln!(
                    text,
                    "{:>8}  {}/{path}",
                    file.contents.len(),
                    target.display()
                );
            }
            let _ = writeln!(
                text,
                "{} files, {} bytes (dry run: nothing written)",
                plan.len(),
                plan.total_bytes()
            );
            print_text(&text)
        }
    }
}

/// Pretty JSON and a newline on stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| Error::Stdout(std::io::Error::other(err)))?;
    print_text(&format!("{text}\n"))
}

/// Text on stdout, as given.
pub(crate) fn print_text(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Stdout)
}
