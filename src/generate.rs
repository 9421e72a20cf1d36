//! The main job, generating a project: settle the run, ask (on a terminal), decide, verify,
//! record and render in memory, then write. Each step is another module's; this one orders
//! them and tells the person at the terminal what happens.

use crate::catalog::Catalog;
use crate::cli::{Format, GenerateArgs};
use crate::context::ProjectContext;
use crate::decision::Decided;
use crate::error::Error;
use crate::input::{self, Settings};
use crate::project::{self, Assembled};
use crate::questionnaire;
use crate::render::Layout;
use crate::terminal::{self, Ui, text};
use crate::write::{Writer, Written};

/// Decides, records, renders and writes the project `args` describe.
pub(crate) fn generate(args: &GenerateArgs) -> Result<(), Error> {
    let settings = input::settle(args)?;
    let ui = Ui::new(settings.quiet);
    let answers = if settings.interactive {
        questionnaire::ask(settings.answers.clone())?
    } else {
        settings.answers.clone()
    };
    let ctx = ProjectContext::from_answers(&answers);
    let decided = decide(&settings, &ctx, ui)?;
    if !ctx.language.is_rendered() {
        ui.note(&format!(
            "arch-init renders Rust only: the decision and ADR are for {}, the generated code is Rust",
            ctx.language
        ));
    }

    ui.step("Verifying the architecture and rendering");
    let project = project::assemble(&project::Inputs {
        name: &settings.name,
        date: settings.date,
        ctx: &ctx,
        requirement_answers: &settings.requirements,
        decided: &decided,
    })?;
    let report = &project.report;
    ui.block(&text::verification_summary(report));
    if settings.strict && report.has_failures() {
        return Err(Error::StrictVerification {
            count: report.failures(),
        });
    }
    if settings.dry_run {
        let plan = project.plan(&settings.templates)?;
        return terminal::print_plan(&plan, &settings.target, settings.format);
    }

    ui.step("Writing");
    let written = write(&settings, &project)?;
    if settings.format == Format::Json {
        terminal::print_json(&serde_json::json!({
            "target": settings.target,
            "files": written.files,
            "session": project.session,
        }))?;
    }
    ui.done(&settings.target, &decided.decision, &written);
    Ok(())
}

/// Scores the paradigms, shows the research and the recommendation, and settles the paradigm:
/// forced up front (`--arch` or the answers file), chosen at the prompt, or the recommendation.
fn decide(settings: &Settings, ctx: &ProjectContext, ui: Ui) -> Result<Decided, Error> {
    let catalog = Catalog::builtin();
    ui.step("Scoring the paradigms and researching");
    let research_year = settings.research.then(|| settings.date.year());
    // Research what will be built: the forced paradigm when known up front, else the
    // recommendation; redone if the user chooses another paradigm at the prompt.
    let upfront = Decided::new(catalog, ctx, settings.arch, research_year);
    if let Some(brief) = &upfront.research {
        ui.block(&text::research(brief));
    }
    let shown = text::recommendation(catalog, &upfront.recommendation);
    if settings.interactive {
        // The prompt that follows asks about it, so it is shown even with `--quiet`.
        eprintln!("{shown}");
    } else {
        ui.block(&shown);
    }
    if settings.arch.is_none() && settings.interactive {
        if let Some(chosen) = questionnaire::confirm(catalog, &upfront.recommendation)? {
            return Ok(Decided::new(catalog, ctx, Some(chosen), research_year));
        }
    }
    Ok(upfront)
}

/// Writes the project. Most of a generation's time is file writes, so the files copied from
/// templates are staged on a second thread while the others render; nothing reaches the
/// target until every file is staged.
fn write(settings: &Settings, project: &Assembled) -> Result<Written, Error> {
    let layout = Layout::new(settings.templates.templates(), &project.scope);
    let copies = layout.copies();
    let mut writer = Writer::begin(&settings.target, settings.overwrite)?;
    let rendered = std::thread::scope(|threads| {
        let copying = threads.spawn(|| writer.stage(&copies));
        let rendered = project.rendered(&layout, &settings.templates);
        let staged = copying
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        staged.and(rendered)
    })?;
    writer.stage(&rendered)?;
    writer.finish(settings.git)
}
