//! arch-init: from a project's answers to a recorded, explained architecture decision and a
//! repository shaped by it. `run` is the whole pipeline; every stage is a module:
//! input → (questionnaire) → recommend → research → decision → model → verify → ADR → render → write.

pub mod adr;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod context;
pub mod decision;
pub mod error;
pub mod generate;
pub mod input;
pub mod interrupt;
pub mod model;
pub mod name;
pub mod plan;
pub mod present;
pub mod project;
pub mod questionnaire;
pub mod recommend;
pub mod render;
pub mod requirements;
pub mod research;
pub mod session;
pub mod templates;
pub mod ui;
pub mod verify;
pub mod write;

use cli::{Cli, Command};
use error::Error;

/// Runs what the user asked for.
pub fn run(cli: Cli) -> Result<(), Error> {
    interrupt::install();
    match cli.command {
        None => generate::generate(&cli.generate),
        Some(Command::Recommend { answers, format }) => commands::recommend(&answers, format),
        Some(Command::Verify(args)) => commands::verify(&args),
        Some(Command::Paradigms { format }) => commands::paradigms(format),
        Some(Command::Templates { action }) => commands::templates(&action),
        Some(Command::Completions { shell }) => {
            commands::completions(shell);
            Ok(())
        }
        Some(Command::Man) => commands::man(),
    }
}
