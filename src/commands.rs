//! The subcommands (`recommend`, `verify`, `paradigms`, `templates`, `completions`) and the
//! steps they share with generation: model + verification, and model → plan.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use clap::CommandFactory;
use serde_json::json;

use crate::catalog::{Catalog, Paradigm};
use crate::cli::{AnswerArgs, Cli, Format, TemplatesAction};
use crate::context::ProjectContext;
use crate::decision::Decision;
use crate::error::Error;
use crate::model::ArchitectureModel;
use crate::model::Shape;
use crate::name::ProjectName;
use crate::plan::{FilePlan, Mode};
use crate::recommend::Recommendation;
use crate::recommend::recommend as score;
use crate::render::{RenderScope, render};
use crate::requirements::{RequirementAnswers, Requirements};
use crate::research::ResearchBrief;
use crate::session::{self, Session};
use crate::templates::{Origin, TERA_SUFFIX, TemplateSet};
use crate::verify::{VerificationReport, optimise, verify as check};
use crate::{input, present};

/// `arch-init recommend`: the ranking and its explanation on stdout.
pub fn recommend(args: &AnswerArgs, format: Format) -> Result<(), Error> {
    let input = input::load(args)?;
    let ctx = ProjectContext::from_answers(&input.answers);
    let catalog = Catalog::builtin();
    let rec = score(catalog, &ctx);
    match format {
        Format::Json => print_json(&json!({ "answers": ctx.to_answers(), "recommendation": rec })),
        Format::Text => print_text(&present::recommendation(catalog, &rec)),
    }
}

/// `arch-init verify`: the verification report; `VerificationFailed` (exit 1) if a property FAILED.
pub fn verify(
    args: &AnswerArgs,
    name: &ProjectName,
    arch: Option<Paradigm>,
    format: Format,
) -> Result<(), Error> {
    let input = input::load(args)?;
    let ctx = ProjectContext::from_answers(&input.answers);
    let catalog = Catalog::builtin();
    let rec = score(catalog, &ctx);
    let decision = Decision::new(catalog, &rec, arch.or(input.arch));
    let requirements = Requirements::derive(ctx.scalability, ctx.security, &input.requirements);
    let (_, report) = model_and_report(name.as_str(), &decision, &requirements);
    match format {
        Format::Json => print_json(
            &json!({ "decision": decision, "requirements": requirements, "verification": report }),
        )?,
        Format::Text if report.checks.is_empty() => print_text(present::NOTHING_TO_VERIFY)?,
        Format::Text => print_text(&report.to_text())?,
    }
    if report.has_failures() {
        return Err(Error::VerificationFailed {
            count: report.failures(),
        });
    }
    Ok(())
}

/// `arch-init paradigms`: the catalog.
pub fn paradigms(format: Format) -> Result<(), Error> {
    let catalog = Catalog::builtin();
    match format {
        Format::Json => print_json(&json!({ "paradigms": catalog.entries() })),
        Format::Text => print_text(&present::paradigms(catalog)),
    }
}

/// `arch-init templates list|export`.
pub fn templates(action: &TemplatesAction) -> Result<(), Error> {
    let builtin = TemplateSet::builtin();
    match action {
        TemplatesAction::List => {
            let mut text = String::new();
            for (path, template) in &builtin.files {
                let how = if path.ends_with(TERA_SUFFIX) {
                    "rendered"
                } else {
                    "copied  "
                };
                let per_unit = if path.starts_with(crate::render::PER_SERVICE) {
                    "  (once per service)"
                } else {
                    ""
                };
                let mode = if template.mode == Mode::Executable {
                    "  (executable)"
                } else {
                    ""
                };
                debug_assert_eq!(template.origin, Origin::Builtin);
                let _ = writeln!(text, "{how}  {path}{per_unit}{mode}");
            }
            print_text(&text)
        }
        TemplatesAction::Export { dir } => {
            let count = builtin.export(dir)?;
            eprintln!(
                "Exported {count} templates to {}; edit them and pass `--templates {}`",
                dir.display(),
                dir.display()
            );
            Ok(())
        }
    }
}

/// `arch-init completions SHELL`.
pub fn completions(shell: clap_complete::Shell) {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "arch-init",
        &mut std::io::stdout(),
    );
}

/// The model for the decision, sized by the replica optimiser, and its verification report.
#[must_use]
pub fn model_and_report(
    project: &str,
    decision: &Decision,
    requirements: &Requirements,
) -> (ArchitectureModel, VerificationReport) {
    let model = match decision.shape {
        Shape::Microservices => ArchitectureModel::microservices(project),
        Shape::DecisionOnly => ArchitectureModel::decision_only(project),
    };
    let optimum = optimise(&model, requirements);
    let model = match optimum.sizing() {
        Some(sizing) => model.with_replicas(&sizing.replicas),
        None => model,
    };
    let report = check(&model, requirements);
    (model, report)
}

/// What a run decided, ready to be verified and rendered.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub name: &'a ProjectName,
    pub date: jiff::civil::Date,
    pub ctx: &'a ProjectContext,
    pub requirement_answers: &'a RequirementAnswers,
    pub rec: &'a Recommendation,
    pub brief: Option<&'a ResearchBrief>,
    pub decision: &'a Decision,
    pub templates: &'a TemplateSet,
}

/// The verified model and every file of the project, in memory.
#[derive(Debug)]
pub struct Rendered {
    pub report: VerificationReport,
    /// The session record as written to `.arch-init/arch-init-session.json`.
    pub session: serde_json::Value,
    pub plan: FilePlan,
}

/// Requirements → model → verification → ADR → session → plan.
pub fn render_project(decided: &Decided<'_>) -> Result<Rendered, Error> {
    let ctx = decided.ctx;
    let requirements =
        Requirements::derive(ctx.scalability, ctx.security, decided.requirement_answers);
    let (model, report) = model_and_report(decided.name.as_str(), decided.decision, &requirements);
    let session = Session {
        arch_init_version: env!("CARGO_PKG_VERSION"),
        project: decided.name.as_str(),
        date: decided.date.to_string(),
        answers: ctx.to_answers(),
        requirement_answers: decided.requirement_answers,
        requirements: &requirements,
        research: decided.brief,
        recommendation: decided.rec,
        decision: decided.decision,
        verification: &report,
    };
    let adr = crate::adr::record(&crate::adr::Sources {
        catalog: Catalog::builtin(),
        ctx,
        rec: decided.rec,
        decision: decided.decision,
        requirements: &requirements,
        report: &report,
        services: model.services().count(),
    });
    let plan = plan(decided.templates, &model, &session, &adr)?;
    let session = serde_json::to_value(&session).map_err(|err| Error::Render {
        template: session::PATH.into(),
        reason: err.to_string(),
    })?;
    Ok(Rendered {
        report,
        session,
        plan,
    })
}

/// Every file of the project: the rendered templates plus the session record.
fn plan(
    templates: &TemplateSet,
    model: &ArchitectureModel,
    session: &Session<'_>,
    adr: &crate::adr::Record,
) -> Result<FilePlan, Error> {
    let model_value = serde_json::to_value(model).map_err(|err| Error::Render {
        template: "(model)".into(),
        reason: err.to_string(),
    })?;
    let unit = |name: &str| {
        model_value["units"]
            .as_array()
            .and_then(|units| units.iter().find(|u| u["name"] == name))
            .cloned()
            .unwrap_or_default()
    };
    let scope = RenderScope {
        services: model
            .services()
            .map(|u| (u.name.clone(), unit(&u.name)))
            .collect(),
        units: model
            .units
            .iter()
            .filter(|u| !model.services().any(|s| s.name == u.name))
            .map(|u| (u.name.clone(), unit(&u.name)))
            .chain(
                (!model.units.is_empty()).then(|| ("devstack".to_owned(), serde_json::Value::Null)),
            )
            .collect(),
        workspace: !model.units.is_empty(),
    };
    let session_json = session.to_json();
    let context = json!({
        "project": session.project,
        "date": session.date,
        "tool_version": session.arch_init_version,
        "model": model_value,
        "decision": session.decision,
        "answers": session.answers,
        "recommendation": session.recommendation,
        "research": session.research,
        "requirements": session.requirements,
        "verification": session.verification,
        "verification_markdown": session.verification.to_markdown(),
        "adr": adr,
    });
    let mut plan = render(templates, &scope, &context)?;
    plan.insert(session::PATH, session_json, Mode::Regular);
    Ok(plan)
}

/// `--dry-run`: the file list (text) or the whole plan (JSON) on stdout.
pub fn print_plan(plan: &FilePlan, target: &Path, format: Format) -> Result<(), Error> {
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
pub fn print_json(value: &serde_json::Value) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| Error::Stdout(std::io::Error::other(err)))?;
    print_text(&format!("{text}\n"))
}

fn print_text(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::Stdout)
}
