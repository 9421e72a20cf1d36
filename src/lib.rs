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
    interrupt::install();
    match cli.command {
        None => generate(&cli.generate),
        Some(Command::Recommend { answers, format }) => commands::recommend(&answers, format),
        Some(Command::Verify {
            answers,
            name,
            arch,
            figures,
            measured,
            format,
        }) => commands::verify(
            &answers,
            &ProjectName::parse(&name)?,
            arch,
            commands::Evidence {
                figures: figures.as_deref(),
                measured: measured.as_deref(),
            },
            format,
        ),
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
    write::check_target(&target, overwrite)?;
    let input = input::load(&args.answers)?;
    let templates = match &args.templates {
        Some(dir) => {
            templates::TemplateSet::builtin().overlaid(templates::TemplateSet::load_overlay(dir)?)
        }
        None => templates::TemplateSet::builtin(),
    };
    let templates = render::compile(templates)?;
    let interactive =
        !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.yes && !interactive {
        return Err(Error::NeedsYes);
    }
    let ui = Ui::new(args.quiet || args.format == Format::Json);

    let answers = if interactive {
        questionnaire::ask(input.answers.clone())?
    } else {
        input.answers.clone()
    };
    let ctx = ProjectContext::from_answers(&answers);
    let date = args.date.or(input.date).unwrap_or_else(ui::today);

    let (rec, decision, brief) = decide(args, &ctx, &input, interactive, ui, date)?;
    if !ctx.language.is_rendered() {
        ui.note(&format!(
            "arch-init renders Rust only: the decision and ADR are for {}, the generated code is Rust",
            ctx.language
        ));
    }

    ui.step("Verifying the architecture and rendering");
    let project = project::render_project(&project::Decided {
        name: &name,
        date,
        ctx: &ctx,
        requirement_answers: &input.requirements,
        rec: &rec,
        brief: brief.as_ref(),
        decision: &decision,
        templates: &templates,
    })?;
    let report = &project.report;
    ui.block(&present::verification_summary(report));
    if args.strict && report.has_failures() {
        return Err(Error::StrictVerification {
            count: report.failures(),
        });
    }
    let plan = project.plan;

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
            "session": project.session,
        }))?;
    }
    ui.done(&target, &decision, &written);
    Ok(())
}

/// Scores the paradigms, shows the research and the recommendation, and settles the paradigm:
/// forced by `--arch` or the answers file, chosen at the prompt, or the recommendation.
fn decide(
    args: &GenerateArgs,
    ctx: &ProjectContext,
    input: &input::Input,
    interactive: bool,
    ui: Ui,
    date: jiff::civil::Date,
) -> Result<
    (
        recommend::Recommendation,
        Decision,
        Option<research::ResearchBrief>,
    ),
    Error,
> {
    let catalog = catalog::Catalog::builtin();
    ui.step("Scoring the paradigms and researching");
    let rec = recommend::recommend(catalog, ctx);
    // Research what will be built: the forced paradigm when known up front, else the
    // recommendation; redone below if the user chooses another paradigm at the prompt.
    let research_for = |decision: &Decision| {
        (!(args.skip_research || input.skip_research)).then(|| {
            research::brief(
                ctx,
                decision.chosen,
                decision.secondary,
                catalog,
                date.year(),
            )
        })
    };
    let forced_upfront = args.arch.or(input.arch);
    let upfront = Decision::new(catalog, &rec, forced_upfront);
    let mut brief = research_for(&upfront);
    if let Some(brief) = &brief {
        ui.block(&present::research(brief));
    }
    let shown = present::recommendation(catalog, &rec);
    if interactive {
        // The prompt that follows asks about it, so it is shown even with `--quiet`.
        eprintln!("{shown}");
    } else {
        ui.block(&shown);
    }
    let forced = match forced_upfront {
        Some(paradigm) => Some(paradigm),
        None if interactive => questionnaire::confirm(catalog, &rec)?,
        None => None,
    };
    let decision = Decision::new(catalog, &rec, forced);
    if decision != upfront {
        brief = research_for(&decision);
    }
    Ok((rec, decision, brief))
}
