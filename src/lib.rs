//! arch-init: from a project's answers to a recorded, explained architecture decision and a
//! repository shaped by it. `run` dispatches to generation (`generate`) or a subcommand
//! (`commands`); the pipeline's stages are the modules below, in the order data flows:
//! input → (questionnaire) → recommend → research → decision → model → verify → ADR → render →
//! write. Modules used only inside the crate are private; the public ones are what the binary,
//! the integration tests and the benchmark use.

// What the user typed, and how a run ends.
pub mod cli;
pub mod error;
mod interrupt;

// Input: raw arguments and answers files in, settled values out; prompts only on a terminal.
pub mod context;
mod input;
pub mod name;
mod questionnaire;
mod session;

// Deciding: score the catalog, research, settle the paradigm.
pub mod catalog;
pub mod decision;
pub mod recommend;
pub mod research;

// The architecture: requirements, the model of the system, its verification.
pub mod model;
pub mod requirements;
pub mod verify;

// The project in memory: decision record, template context, rendered files.
mod adr;
pub mod plan;
pub mod project;
pub mod render;
pub mod templates;

// Output: files on disk, text and data on the terminal.
mod terminal;
mod write;

// The commands: generation, and the subcommands.
mod commands;
mod generate;

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
