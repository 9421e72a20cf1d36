//! The subcommands (`recommend`, `verify`, `paradigms`, `templates`, `completions`) and the
//! printing of data on stdout they share with generation.

use std::collections::BTreeMap;
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
use crate::name::ProjectName;
use crate::plan::{FilePlan, Mode};
use crate::recommend::recommend as score;
use crate::requirements::Requirements;
use crate::templates::{Origin, TERA_SUFFIX, TemplateSet};
use crate::verify::{Comparison, Measurement, compare};
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
/// What `verify` is given beside the answers: measured figures and a load run's report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// A table of measured figures (`--figures`).
    pub figures: Option<&'a Path>,
    /// A load run's `report.json` (`--measured`).
    pub measured: Option<&'a Path>,
}

pub fn verify(
    args: &AnswerArgs,
    name: &ProjectName,
    arch: Option<Paradigm>,
    evidence: Evidence<'_>,
    format: Format,
) -> Result<(), Error> {
    let input = input::load(args)?;
    let figures = evidence.figures.map(read_figures).transpose()?;
    let measured = evidence.measured;
    let measurement = measured.map(read_measurement).transpose()?;
    let ctx = ProjectContext::from_answers(&input.answers);
    let catalog = Catalog::builtin();
    let rec = score(catalog, &ctx);
    let decision = Decision::new(catalog, &rec, arch.or(input.arch));
    let requirements = Requirements::derive(ctx.scalability, ctx.security, &input.requirements);
    let mut model = crate::project::base_model(name.as_str(), &decision);
    if let (Some(figures), Some(path)) = (&figures, evidence.figures) {
        model = model
            .with_figures(figures)
            .map_err(|err| Error::BadFigures {
                path: path.to_owned(),
                reason: err.to_string(),
            })?;
    }
    let (model, report) = crate::project::size_and_verify(model, &requirements);
    let comparison = match (&measurement, measured) {
        (Some(m), Some(path)) => {
            let known: Vec<&str> = model.entries.iter().map(|e| e.name.as_str()).collect();
            if !m.entries.iter().any(|e| known.contains(&e.name.as_str())) {
                return Err(Error::BadMeasurement {
                    path: path.to_owned(),
                    reason: format!(
                        "it names no request path of this model (it has: {})",
                        known.join(", ")
                    ),
                });
            }
            Some(compare(&model, &requirements, &report, m))
        }
        _ => None,
    };
    match format {
        Format::Json => print_json(&json!({
            "decision": decision,
            "requirements": requirements,
            "verification": report,
            "measured": comparison,
        }))?,
        Format::Text if report.checks.is_empty() => print_text(present::NOTHING_TO_VERIFY)?,
        Format::Text => {
            let mut text = report.to_text();
            if let Some(c) = &comparison {
                text.push('\n');
                text.push_str(&c.to_text());
            }
            print_text(&text)?;
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
