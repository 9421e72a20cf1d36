//! The project in memory: requirements → sized model → verification → ADR → session →
//! `FilePlan`. Pure: nothing here prompts, prints or touches the disk.

use serde_json::json;

use crate::catalog::Catalog;
use crate::context::ProjectContext;
use crate::decision::Decision;
use crate::error::Error;
use crate::model::{ArchitectureModel, Shape, UnitKind};
use crate::name::ProjectName;
use crate::plan::{FilePlan, Mode};
use crate::recommend::Recommendation;
use crate::render::{Compiled, DEVSTACK, RenderScope, render};
use crate::requirements::{RequirementAnswers, Requirements};
use crate::research::ResearchBrief;
use crate::session::{self, Session};
use crate::verify::{VerificationReport, optimise, verify as check};

/// The model for the decision, sized by the replica optimiser, and its verification report.
#[must_use]
pub fn model_and_report(
    project: &str,
    decision: &Decision,
    requirements: &Requirements,
) -> (ArchitectureModel, VerificationReport) {
    size_and_verify(base_model(project, decision), requirements)
}

/// The decision's model with its planning figures, before sizing.
#[must_use]
pub fn base_model(project: &str, decision: &Decision) -> ArchitectureModel {
    match decision.shape {
        Shape::Microservices => ArchitectureModel::microservices(project),
        Shape::DecisionOnly => ArchitectureModel::decision_only(project),
    }
}

/// `model` sized by the replica optimiser (its cheapest counts, or the closest when none
/// satisfies every property), and the verification of the sized model.
#[must_use]
pub fn size_and_verify(
    model: ArchitectureModel,
    requirements: &Requirements,
) -> (ArchitectureModel, VerificationReport) {
    let optimum = optimise(&model, requirements);
    let model = match optimum.sizing() {
        Some(sizing) => model
            .with_replicas(&sizing.replicas)
            .with_read_replicas(&sizing.read_replicas),
        None => model,
    };
    let report = check(&model, requirements);
    (model, report)
}

/// A latency bound must name a request path of the model (of the one shape that has request
/// paths), so a typo is reported before any question rather than silently ignored.
pub fn check_entry_names(answers: &RequirementAnswers) -> Result<(), Error> {
    let model = ArchitectureModel::microservices("");
    let known: Vec<&str> = model.entries.iter().map(|e| e.name.as_str()).collect();
    match answers
        .entry_p99_ms
        .keys()
        .find(|name| !known.contains(&name.as_str()))
    {
        None => Ok(()),
        Some(unknown) => Err(Error::UnknownEntry {
            name: unknown.clone(),
            known: known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
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
    pub templates: &'a Compiled,
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
    templates: &Compiled,
    model: &ArchitectureModel,
    session: &Session<'_>,
    adr: &crate::adr::Record,
) -> Result<FilePlan, Error> {
    let model_value = json_of(model)?;
    let mut scope = RenderScope {
        workspace: !model.units.is_empty(),
        ..RenderScope::default()
    };
    for unit in &model.units {
        let entry = (unit.name.clone(), json_of(unit)?);
        match unit.kind {
            UnitKind::Service => scope.services.push(entry),
            UnitKind::Gateway => scope.units.push(entry),
        }
    }
    if scope.workspace {
        scope
            .units
            .push((DEVSTACK.to_owned(), serde_json::Value::Null));
    }
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

/// Serialized data for the templates; plain data never fails, so a failure is a bug.
fn json_of(data: &impl serde::Serialize) -> Result<serde_json::Value, Error> {
    serde_json::to_value(data).map_err(|err| Error::Render {
        template: "(template context)".into(),
        reason: err.to_string(),
    })
}
