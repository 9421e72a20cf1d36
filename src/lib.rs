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
pub mod input;
pub mod model;
pub mod name;
pub mod plan;
pub mod present;
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

use std::io::IsTerminal;
use std::path::PathBuf;

use cli::{Cli, Command, Format, GenerateArgs};
use context::ProjectContext;
use decision::Decision;
use error::Error;
use name::ProjectName;
use ui::Ui;

/// Runs what the user asked for.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        None => generate(&cli.generate),
        Some(Command::Recommend { answers, format }) => commands::recommend(&answers, format),
        Some(Command::Verify {
            answers,
            arch,
            format,
        }) => commands::verify(&answers, arch, format),
        Some(Command::Paradigms { format }) => commands::paradigms(format),
        Some(Command::Templates { action }) => commands::templates(&action),
        Some(Command::Completions { shell }) => {
            commands::completions(shell);
            Ok(())
        }
    }
}

/// The main job: decide, record, render, write.
fn generate(args: &GenerateArgs) -> Result<(), Error> {
    // Everything the user can get wrong is checked before the first question.
    let name = ProjectName::parse(args.name.as_deref().unwrap_or_default())?;
    let target = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(name.as_str()));
    let overwrite = if args.force {
        write::Overwrite::Force
    } else {
        write::Overwrite::Refuse
    };
    if !args.dry_run {
        write::check_target(&target, overwrite)?;
    }
    let input = input::load(&args.answers)?;
    let templates = match &args.templates {
        Some(dir) => {
            templates::TemplateSet::builtin().overlaid(templates::TemplateSet::load_overlay(dir)?)
        }
        None => templates::TemplateSet::builtin(),
    };
    render::check(&templates)?;
    let interactive =
        !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && !interactive {
        return Err(Error::NeedsYes);
    }
    let ui = Ui::new(args.quiet || args.format == Format::Json);

    let answers = if interactive {
        questionnaire::ask(input.answers)?
    } else {
        input.answers
    };
    let ctx = ProjectContext::from_answers(&answers);
    let catalog = catalog::Catalog::builtin();
    let date = args.date.or(input.date).unwrap_or_else(ui::today);

    ui.step("Scoring the paradigms and researching");
    let rec = recommend::recommend(catalog, &ctx);
    let brief = (!args.skip_research).then(|| research::brief(&ctx, &rec, catalog, date.year()));
    if let Some(brief) = &brief {
        ui.block(&present::research(brief));
    }
    ui.block(&present::recommendation(catalog, &rec));
    let forced = match args.arch.or(input.arch) {
        Some(paradigm) => Some(paradigm),
        None if interactive => questionnaire::confirm(catalog, &rec)?,
        None => None,
    };
    let decision = Decision::new(catalog, &rec, forced);
    if !ctx.language.is_rendered() {
        ui.note(&format!(
            "arch-init renders Rust only: the decision and ADR are for {}, the generated code is Rust",
            ctx.language
        ));
    }

    ui.step("Verifying the architecture");
    let requirements =
        requirements::Requirements::derive(ctx.scalability, ctx.security, &input.requirements);
    let (model, report) = commands::model_and_report(name.as_str(), &decision, &requirements);
    ui.block(&present::verification_summary(&report));
    if args.strict && report.has_failures() {
        return Err(Error::VerificationFailed {
            count: report.failures(),
        });
    }

    ui.step("Rendering");
    let session = session::Session {
        arch_init_version: env!("CARGO_PKG_VERSION"),
        project: name.as_str(),
        date: date.to_string(),
        answers: ctx.to_answers(),
        requirement_answers: &input.requirements,
        requirements: &requirements,
        research: brief.as_ref(),
        recommendation: &rec,
        decision: &decision,
        verification: &report,
    };
    let adr = adr::record(catalog, &ctx, &rec, &decision, &report);
    let plan = commands::plan(&templates, &model, &session, &adr)?;

    if args.dry_run {
        return commands::print_plan(&plan, &target, args.format);
    }
    ui.step("Writing");
    let git = if args.no_git {
        write::Git::Skip
    } else {
        write::Git::InitAndCommit
    };
    let written = write::write(&plan, &target, overwrite, git)?;
    if args.format == Format::Json {
        commands::print_json(&serde_json::json!({
            "target": target,
            "files": written.files,
            "session": serde_json::from_str::<serde_json::Value>(&session.to_json()).unwrap_or_default(),
        }))?;
    }
    ui.done(&target, &decision, &written);
    Ok(())
}
