//! The Architecture Decision Record's content, from the context, the recommendation, the
//! decision and the verification: what the ADR template renders. Everything project-specific
//! (considerations, consequences, the override note) is derived here from the same numbers
//! the ranking used, so the record explains this decision rather than paradigms in general.

use serde::Serialize;

use crate::catalog::{Catalog, Paradigm, ParadigmInfo};
use crate::context::{ProjectContext, Question};
use crate::decision::Decision;
use crate::model::Shape;
use crate::recommend::{Contribution, Recommendation, Score};
use crate::requirements::Requirements;
use crate::verify::{Verdict, VerificationReport};

/// How many paradigms the rationale table shows.
const TOP: usize = 5;
/// How many contributions become key considerations.
const CONSIDERATIONS: usize = 6;

/// The ADR's content, serialized into the template context as `adr`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    pub(crate) title: String,
    pub(crate) chosen: Summary,
    pub(crate) secondary: Option<Summary>,
    /// The recommended paradigm when the user chose another one.
    pub(crate) recommended: Option<Summary>,
    pub(crate) context: Vec<Row>,
    pub(crate) top: Vec<Ranked>,
    pub(crate) considerations: Vec<String>,
    pub(crate) alternatives: Vec<Considered>,
    pub(crate) positive: Vec<String>,
    pub(crate) negative: Vec<String>,
    pub(crate) mitigations: Vec<String>,
    pub(crate) override_note: Option<String>,
    pub(crate) shape_note: Option<String>,
    pub(crate) language_note: Option<String>,
}

/// An alternative that lost, with its name and why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Considered {
    pub(crate) name: String,
    pub(crate) score: i32,
    pub(crate) gap: i32,
    pub(crate) why_not: String,
}

/// A paradigm's catalog facts, as the ADR quotes them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) id: Paradigm,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) trade_off: String,
    pub(crate) mitigation: String,
    pub(crate) score: i32,
}

/// One answer in the context table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) question: &'static str,
    pub(crate) answer: String,
    pub(crate) flag: &'static str,
}

/// One paradigm of the rationale table with its contributions spelled out.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Ranked {
    pub(crate) rank: usize,
    pub(crate) name: String,
    pub(crate) total: i32,
    /// "+20 team size 15-50, −10 time to market rapid, …", largest first.
    pub(crate) contributions: String,
}

/// What the ADR is built from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sources<'a> {
    pub(crate) catalog: &'a Catalog,
    pub(crate) ctx: &'a ProjectContext,
    pub(crate) rec: &'a Recommendation,
    pub(crate) decision: &'a Decision,
    pub(crate) requirements: &'a Requirements,
    pub(crate) report: &'a VerificationReport,
    /// How many services, or a monolith's modules, the rendered model has (0 when no code is
    /// rendered).
    pub(crate) services: usize,
}

/// Builds the record.
#[must_use]
pub(crate) fn record(sources: &Sources<'_>) -> Record {
    let Sources {
        catalog,
        ctx,
        rec,
        decision,
        report,
        ..
    } = *sources;
    let summary = |paradigm: Paradigm| summarize(catalog.get(paradigm), rec.score_of(paradigm));
    let chosen = rec.score_of(decision.chosen);
    let mut by_weight: Vec<&Contribution> = chosen
        .contributions
        .iter()
        .filter(|c| c.points != 0)
        .collect();
    by_weight.sort_by_key(|c| std::cmp::Reverse(c.points.abs()));
    let info = catalog.get(decision.chosen);
    let mut negative = vec![info.trade_off.clone()];
    if let Some(secondary) = decision.secondary {
        negative.push(catalog.get(secondary).trade_off.clone());
    }
    negative.extend(
        by_weight
            .iter()
            .filter(|c| c.points < 0)
            .map(|c| sentence(c)),
    );
    let mut mitigations = vec![info.mitigation.clone()];
    if report.has_failures() {
        mitigations.push(format!(
            "{} verified propert{} FAILED against the stated requirements; see Verification below for the counterexample and what the replica search found.",
            report.failures(),
            if report.failures() == 1 { "y" } else { "ies" }
        ));
    }
    Record {
        title: match decision.secondary {
            Some(secondary) => format!("{} with {}", decision.chosen.name(), secondary.name()),
            None => decision.chosen.name().to_owned(),
        },
        chosen: summary(decision.chosen),
        secondary: decision.secondary.map(summary),
        recommended: decision.overridden.then(|| summary(decision.recommended)),
        context: ctx.rows().into_iter().map(|(question, answer, flag)| Row { question, answer, flag }).collect(),
        top: rec
            .ranking
            .iter()
            .take(TOP)
            .enumerate()
            .map(|(index, score)| Ranked {
                rank: index + 1,
                name: score.paradigm.name().to_owned(),
                total: score.total,
                contributions: spelled(score),
            })
            .collect(),
        considerations: considerations(sources, &by_weight),
        alternatives: rec
            .alternatives
            .iter()
            .map(|alt| Considered {
                name: alt.paradigm.name().to_owned(),
                score: alt.score,
                gap: alt.gap,
                why_not: alt.why_not.clone(),
            })
            .collect(),
        positive: positive(catalog, decision),
        negative,
        mitigations,
        override_note: decision.overridden.then(|| {
            format!(
                "The recommendation was {} ({} points); {} ({} points) was chosen instead, {} points behind. The reasons it scored lower are listed under Consequences; revisit this decision if they start to bite.",
                decision.recommended.name(),
                rec.score_of(decision.recommended).total,
                decision.chosen.name(),
                chosen.total,
                decision.score_gap
            )
        }),
        shape_note: (decision.shape == Shape::DecisionOnly).then(|| {
            format!(
                "arch-init generates code for the microservices, event-driven and modular-monolith shapes today; for {} this record and the session file are the output, and the code structure is yours to lay out along the decision above.",
                decision.chosen.name()
            )
        }),
        language_note: (!ctx.language.is_rendered()).then(|| {
            format!(
                "The team's language is {}; the decision applies to it, while the code arch-init generates is Rust.",
                ctx.language
            )
        }),
    }
}

fn summarize(info: &ParadigmInfo, score: &Score) -> Summary {
    Summary {
        id: info.id,
        name: info.name.clone(),
        description: info.description.clone(),
        trade_off: info.trade_off.clone(),
        mitigation: info.mitigation.clone(),
        score: score.total,
    }
}

/// The question a contribution answers, as the ADR names it.
fn label(factor: &str) -> &'static str {
    Question::find(factor).map_or("Baseline", |question| question.label)
}

/// What this decision means for this project: the requirements it is held to, the team it
/// must fit, what counts against it, what verification found, and when to revisit it.
fn considerations(sources: &Sources<'_>, by_weight: &[&Contribution]) -> Vec<String> {
    let Sources {
        catalog,
        ctx,
        decision,
        requirements: req,
        report,
        services,
        ..
    } = *sources;
    let mut out = Vec::new();
    if services > 0 {
        out.push(format!(
            "**Requirements it is held to** (from scalability `{}` and security `{}`; each can be set with a flag): {} orders/s and {} requests/s at peak, p99 ≤ {} ms per request path, availability ≥ {}, failover ≤ {} s, data loss ≤ {} s, budget ${}/month.",
            ctx.scalability,
            ctx.security,
            req.orders_per_second,
            req.busiest_rps,
            req.p99_ms,
            crate::model::percent(ppm(req.availability_ppm)),
            req.rto_ms / 1000,
            req.rpo_ms / 1000,
            req.monthly_budget_cents / 100,
        ));
        out.push(if decision.shape == Shape::ModularMonolith {
            format!(
                "**Team size = {}**: one deployable unit of {services} modules, each a crate with an owner; a call between modules is a function call and an event stays in the process, so there is no network hop, broker or second database to run. Extract a module into a service only when it must scale, fail or be deployed on its own (ARCHITECTURE.md says what extraction changes).",
                ctx.team_size
            )
        } else {
            format!(
                "**Team size = {}**: {services} services to own; give each a team of its own before splitting any further, and merge services a single team cannot keep up with.",
                ctx.team_size
            )
        });
    }
    out.extend(
        by_weight
            .iter()
            .filter(|c| c.points < 0)
            .take(CONSIDERATIONS)
            .map(|c| {
                format!(
                    "**Against it: {} = {}** ({:+}): {}",
                    label(c.factor),
                    c.answer,
                    c.points,
                    c.reason
                )
            }),
    );
    out.extend(
        report
            .checks
            .iter()
            .filter(|c| c.verdict == Verdict::Failed)
            .map(|c| {
                format!(
                    "**Verification FAILED: {} ({})**: {}",
                    c.property.label(),
                    c.subject,
                    c.detail
                )
            }),
    );
    let avoid = &catalog.get(decision.chosen).avoid_when;
    if !avoid.is_empty() {
        out.push(format!(
            "**Revisit this decision if**: {}.",
            avoid.join("; ")
        ));
    }
    out
}

#[allow(clippy::cast_precision_loss, reason = "ppm values stay far below 2^53")]
fn ppm(value: u64) -> f64 {
    value as f64 / 1_000_000.0
}

/// What the chosen paradigm (and its companion) are best at, from the catalog.
fn positive(catalog: &Catalog, decision: &Decision) -> Vec<String> {
    let mut out: Vec<String> = catalog
        .get(decision.chosen)
        .best_for
        .iter()
        .map(|b| format!("Suited to {b}."))
        .collect();
    if let Some(secondary) = decision.secondary {
        let name = secondary.name();
        out.extend(
            catalog
                .get(secondary)
                .best_for
                .iter()
                .take(2)
                .map(|b| format!("{name} suits {b}.")),
        );
    }
    out
}

fn sentence(c: &Contribution) -> String {
    format!(
        "{} ({} = {})",
        c.reason,
        label(c.factor).to_lowercase(),
        c.answer
    )
}

fn spelled(score: &Score) -> String {
    let mut parts: Vec<&Contribution> = score
        .contributions
        .iter()
        .filter(|c| c.points != 0)
        .collect();
    parts.sort_by_key(|c| std::cmp::Reverse(c.points.abs()));
    parts
        .iter()
        .map(|c| {
            format!(
                "{:+} {} {}",
                c.points,
                label(c.factor).to_lowercase(),
                c.answer
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
