//! The project in memory: requirements → sized model → verification → ADR → session → what
//! the templates see, then the `FilePlan`. Pure: nothing here prompts, prints or touches the
//! disk.

use serde_json::json;

use crate::catalog::Catalog;
use crate::context::ProjectContext;
use crate::decision::{Decided, Decision};
use crate::error::Error;
use crate::model::{ArchitectureModel, Shape, UnitKind};
use crate::name::ProjectName;
use crate::plan::{FilePlan, Mode};
use crate::render::{Compiled, DEVSTACK, GATEWAY_CRATE, Layout, RenderScope, render};
use crate::requirements::{RequirementAnswers, Requirements};
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
        Shape::ModularMonolith => ArchitectureModel::modular_monolith(project),
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

/// What the project is made from: the name, the date, the answers and what was decided.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub name: &'a ProjectName,
    pub date: jiff::civil::Date,
    pub ctx: &'a ProjectContext,
    pub requirement_answers: &'a RequirementAnswers,
    pub decided: &'a Decided,
}

/// The project in memory, verified and recorded, ready to render: the report, the session
/// record, and what the templates see.
#[derive(Debug)]
pub struct Assembled {
    pub(crate) report: VerificationReport,
    /// The session record as written to `.arch-init/arch-init-session.json`.
    pub(crate) session: serde_json::Value,
    /// The same, as the file's text.
    session_file: String,
    /// Which units get files, each with its serialized unit.
    pub(crate) scope: RenderScope,
    /// What every template sees (docs/templates.md); per-unit templates also see `unit`.
    pub(crate) context: serde_json::Value,
}

/// Requirements → model → verification → ADR → session → template context.
pub fn assemble(inputs: &Inputs<'_>) -> Result<Assembled, Error> {
    let ctx = inputs.ctx;
    let Decided {
        recommendation,
        decision,
        research,
    } = inputs.decided;
    let requirements =
        Requirements::derive(ctx.scalability, ctx.security, inputs.requirement_answers);
    let (model, report) = model_and_report(inputs.name.as_str(), decision, &requirements);
    let session = Session {
        arch_init_version: env!("CARGO_PKG_VERSION"),
        project: inputs.name.as_str(),
        date: inputs.date.to_string(),
        answers: ctx.to_answers(),
        requirement_answers: inputs.requirement_answers,
        requirements: &requirements,
        research: research.as_ref(),
        recommendation,
        decision,
        verification: &report,
    };
    let adr = crate::adr::record(&crate::adr::Sources {
        catalog: Catalog::builtin(),
        ctx,
        rec: recommendation,
        decision,
        requirements: &requirements,
        report: &report,
        services: model.services().count().max(model.modules.len()),
    });
    let scope = scope(&model)?;
    let context = json!({
        "project": session.project,
        "date": session.date,
        "tool_version": session.arch_init_version,
        "model": json_of(&model)?,
        "decision": session.decision,
        "answers": session.answers,
        "recommendation": session.recommendation,
        "research": session.research,
        "requirements": session.requirements,
        "verification": session.verification,
        "verification_markdown": session.verification.to_markdown(),
        "adr": adr,
    });
    let session_file = session.to_json();
    let session = json_of(&session)?;
    Ok(Assembled {
        report,
        session,
        session_file,
        scope,
        context,
    })
}

impl Assembled {
    /// Every file of the project: the templates' and the session record.
    pub fn plan(&self, templates: &Compiled) -> Result<FilePlan, Error> {
        let mut plan = render(templates, &self.scope, &self.context)?;
        plan.insert(session::PATH, self.session_file.clone(), Mode::Regular);
        Ok(plan)
    }

    /// The files of `layout` rendered with Tera, and the session record: every file that is
    /// not a copy of a template.
    pub(crate) fn rendered(
        &self,
        layout: &Layout<'_>,
        templates: &Compiled,
    ) -> Result<FilePlan, Error> {
        let mut plan = layout.render(templates, &self.context)?;
        plan.insert(session::PATH, self.session_file.clone(), Mode::Regular);
        Ok(plan)
    }
}

/// Which units of `model` get files: services from the per-service templates, the gateway, the
/// monolith and the devstack from their own directories, a monolith's modules (and the
/// gateway's crate, its front door) as library crates; the workspace only when there are
/// units. The devstack runs services in one process: a monolith is one already.
fn scope(model: &ArchitectureModel) -> Result<RenderScope, Error> {
    let mut scope = RenderScope {
        workspace: !model.units.is_empty(),
        ..RenderScope::default()
    };
    for unit in &model.units {
        let entry = (unit.name.clone(), json_of(unit)?);
        match unit.kind {
            UnitKind::Service => scope.services.push(entry),
            UnitKind::Gateway | UnitKind::Monolith => scope.units.push(entry),
        }
    }
    for module in &model.modules {
        scope.modules.push((module.name.clone(), json_of(module)?));
    }
    if model.shape == Shape::ModularMonolith {
        scope
            .modules
            .push((GATEWAY_CRATE.to_owned(), serde_json::Value::Null));
    } else if scope.workspace {
        scope
            .units
            .push((DEVSTACK.to_owned(), serde_json::Value::Null));
    }
    Ok(scope)
}

/// Serialized data for the templates; plain data never fails, so a failure is a bug.
fn json_of(data: &impl serde::Serialize) -> Result<serde_json::Value, Error> {
    serde_json::to_value(data).map_err(|err| Error::Render {
        template: "(template context)".into(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Decided;

    /// The words in backticks, in order.
    fn backticked(text: &str) -> Vec<&str> {
        text.split('`').skip(1).step_by(2).collect()
    }

    #[test]
    fn docs_templates_md_lists_exactly_what_a_template_sees() {
        let ctx = ProjectContext::from_toml(include_str!("../tests/fixtures/reference.toml"))
            .expect("the reference answers parse");
        let decided = Decided::new(Catalog::builtin(), &ctx, None, Some(2026));
        let name = ProjectName::parse("shop").expect("a valid name");
        let project = assemble(&Inputs {
            name: &name,
            date: jiff::civil::date(2026, 11, 22),
            ctx: &ctx,
            requirement_answers: &RequirementAnswers::default(),
            decided: &decided,
        })
        .unwrap();
        let mut seen = project.context.as_object().unwrap().clone();
        let (_, service) = project.scope.units()[0];
        seen.insert("unit".into(), service.clone());

        let doc = include_str!("../docs/templates.md");
        let section = doc
            .split("## What a template sees")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/templates.md has the section");
        let mut documented = Vec::new();
        for row in section.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let names = backticked(cells[1]);
            let fields = backticked(cells[2]);
            // An object's row that lists fields in backticks lists them all; the rows of other
            // values may quote examples.
            if let ([name], false) = (names.as_slice(), fields.is_empty()) {
                if let Some(object) = seen[*name].as_object() {
                    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
                    assert_eq!(fields, keys, "docs/templates.md: the fields of `{name}`");
                }
            }
            documented.extend(names);
        }
        let mut keys: Vec<&str> = seen.keys().map(String::as_str).collect();
        keys.sort_unstable();
        documented.sort_unstable();
        assert_eq!(documented, keys, "docs/templates.md: the variables");
    }
}
