//! The subcommands: `recommend`, `verify`, `paradigms`, `templates list|export|context`,
//! `completions` and `man`. Each reads its flags, asks the pipeline's modules, and prints
//! data on stdout through `terminal`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use clap::CommandFactory;
use serde_json::json;

use crate::catalog::Catalog;
use crate::cli::{AnswerArgs, Cli, ContextArgs, Format, TemplatesAction, VerifyArgs};
use crate::context::ProjectContext;
use crate::context::choice::backticked;
use crate::decision::{Decided, Decision};
use crate::error::Error;
use crate::name::ProjectName;
use crate::plan::{FilePlan, Mode};
use crate::recommend::recommend as score;
use crate::requirements::Requirements;
use crate::templates::{Origin, TERA_SUFFIX, TemplateSet};
use crate::terminal::{print_json, print_text, text};
use crate::verify::{Comparison, Measurement, compare};
use crate::write::{self, Git, Overwrite};
use crate::{input, project};

/// `arch-init recommend`: the ranking and its explanation on stdout.
pub(crate) fn recommend(args: &AnswerArgs, format: Format) -> Result<(), Error> {
    let input = input::load(args)?;
    let ctx = ProjectContext::from_answers(&input.answers);
    let catalog = Catalog::builtin();
    let rec = score(catalog, &ctx);
    match format {
        Format::Json => print_json(&json!({ "answers": ctx.to_answers(), "recommendation": rec })),
        Format::Text => print_text(&text::recommendation(catalog, &rec)),
    }
}

/// `arch-init verify`: the verification report; `VerificationFailed` (exit 1) if a property FAILED.
pub(crate) fn verify(args: &VerifyArgs) -> Result<(), Error> {
    let name = ProjectName::parse(&args.name)?;
    let input = input::load(&args.answers)?;
    let figures = args.figures.as_deref().map(read_figures).transpose()?;
    let measurement = args
        .measured
        .as_deref()
        .map(|path| read_measurement(path).map(|m| (path, m)))
        .transpose()?;
    let ctx = ProjectContext::from_answers(&input.answers);
    let catalog = Catalog::builtin();
    let rec = score(catalog, &ctx);
    let decision = Decision::new(catalog, &rec, args.arch.or(input.arch));
    let requirements = Requirements::derive(ctx.scalability, ctx.security, &input.requirements);
    let mut model = project::base_model(name.as_str(), &decision);
    if let (Some(figures), Some(path)) = (&figures, args.figures.as_deref()) {
        model = model
            .with_figures(figures)
            .map_err(|err| Error::BadFigures {
                path: path.to_owned(),
                reason: err.to_string(),
            })?;
    }
    let (model, report) = project::size_and_verify(model, &requirements);
    let comparison = match &measurement {
        Some((path, m)) => {
            let known: Vec<&str> = model.entries.iter().map(|e| e.name.as_str()).collect();
            if !m.entries.iter().any(|e| known.contains(&e.name.as_str())) {
                return Err(Error::BadMeasurement {
                    path: (*path).to_owned(),
                    reason: format!(
                        "it names no request path of this model (it has: {})",
                        known.join(", ")
                    ),
                });
            }
            Some(compare(&model, &requirements, &report, m))
        }
        None => None,
    };
    match args.format {
        Format::Json => print_json(&json!({
            "decision": decision,
            "requirements": requirements,
            "verification": report,
            "measured": comparison,
        }))?,
        Format::Text if report.checks.is_empty() => print_text(text::NOTHING_TO_VERIFY)?,
        Format::Text => {
            let mut out = report.to_text();
            if let Some(c) = &comparison {
                out.push('\n');
                out.push_str(&c.to_text());
            }
            print_text(&out)?;
        }
    }
    let failures = report.failures() + comparison.as_ref().map_or(0, Comparison::failures);
    if failures > 0 {
        return Err(Error::VerificationFailed { count: failures });
    }
    Ok(())
}

/// Reads a table of measured figures, TOML or JSON by its extension.
fn read_figures(path: &Path) -> Result<BTreeMap<String, f64>, Error> {
    let bad = |reason: String| Error::BadFigures {
        path: path.to_owned(),
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|err| bad(format!("cannot read it: {err}")))?;
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text)
            .map_err(|err| bad(format!("{err}; write {{\"subject.figure\": number, …}}")))
    } else {
        toml::from_str(&text).map_err(|err| {
            bad(format!(
                "{}; write lines of \"subject.figure\" = number",
                err.message()
            ))
        })
    }
}

/// Reads a load run's `report.json`.
fn read_measurement(path: &Path) -> Result<Measurement, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::BadMeasurement {
        path: path.to_owned(),
        reason: format!("cannot read it: {err}"),
    })?;
    serde_json::from_str(&text).map_err(|err| Error::BadMeasurement {
        path: path.to_owned(),
        reason: format!("not a load report ({err}); pass the report.json `make load` writes"),
    })
}

/// `arch-init paradigms`: the catalog.
pub(crate) fn paradigms(format: Format) -> Result<(), Error> {
    let catalog = Catalog::builtin();
    match format {
        Format::Json => print_json(&json!({ "paradigms": catalog.entries() })),
        Format::Text => print_text(&text::paradigms(catalog)),
    }
}

/// `arch-init templates list|export`.
pub(crate) fn templates(action: &TemplatesAction) -> Result<(), Error> {
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
        TemplatesAction::Context(args) => context(args),
        TemplatesAction::Export { dir } => {
            let count = export(&builtin, dir)?;
            eprintln!(
                "Exported {count} templates to {}; edit them and pass `--templates {}`",
                dir.display(),
                dir.display()
            );
            Ok(())
        }
    }
}

/// `arch-init templates context`: the template context for these answers, and `unit` with
/// `--unit`.
fn context(args: &ContextArgs) -> Result<(), Error> {
    let name = ProjectName::parse(&args.name)?;
    let grounds = input::ground(&args.answers, args.arch, args.date, args.skip_research)?;
    let ctx = ProjectContext::from_answers(&grounds.answers);
    let research_year = grounds.research.then(|| grounds.date.year());
    let decided = Decided::new(Catalog::builtin(), &ctx, grounds.arch, research_year);
    let project = project::assemble(&project::Inputs {
        name: &name,
        date: grounds.date,
        ctx: &ctx,
        requirement_answers: &grounds.requirements,
        decided: &decided,
    })?;
    let mut context = project.context;
    if let Some(unit) = &args.unit {
        let known = project.scope.units();
        let value = known
            .iter()
            .find(|(name, _)| name == unit)
            .map(|(_, value)| (*value).clone())
            .ok_or_else(|| Error::UnknownUnit {
                name: unit.clone(),
                known: backticked(known.iter().map(|(name, _)| *name)),
            })?;
        context["unit"] = value;
    }
    print_json(&context)
}

/// Writes `templates` under `dir`, which must be absent or empty; returns how many.
fn export(templates: &TemplateSet, dir: &Path) -> Result<usize, Error> {
    write::check_target(dir, Overwrite::Refuse).map_err(|err| match err {
        Error::TargetNotEmpty { path } => Error::ExportNotEmpty { path },
        other => other,
    })?;
    let mut plan = FilePlan::default();
    for (path, template) in &templates.files {
        plan.insert(path.clone(), template.source.clone(), template.mode);
    }
    write::write(&plan, dir, Overwrite::Refuse, Git::Skip).map(|written| written.files)
}

/// `arch-init completions SHELL`.
pub(crate) fn completions(shell: clap_complete::Shell) {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "arch-init",
        &mut std::io::stdout(),
    );
}

/// `arch-init man`: the manual page, made from the same definitions as `--help` and the
/// completions, so the three cannot disagree.
pub(crate) fn man() -> Result<(), Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(Error::Stdout)?;
    print_text(&String::from_utf8_lossy(&page))
}
