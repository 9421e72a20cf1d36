//! How results read in a terminal: the recommendation, the research brief, the verification
//! summary and the catalog as plain text (no color, so it reads the same everywhere). Pure:
//! data in, strings out.

use std::fmt::Write as _;

use crate::catalog::Catalog;
use crate::recommend::Recommendation;
use crate::research::ResearchBrief;
use crate::verify::{Verdict, VerificationReport};

/// How many paradigms the ranking shows.
const SHOWN: usize = 5;

/// The recommendation: decision, confidence, why, ranking, alternatives, trade-offs.
#[must_use]
pub(crate) fn recommendation(catalog: &Catalog, rec: &Recommendation) -> String {
    let mut out = String::new();
    let best = rec.best();
    let _ = writeln!(out, "Recommendation");
    let _ = writeln!(
        out,
        "  Primary:    {} (score {})",
        rec.primary.name(),
        best.total
    );
    match rec.secondary {
        Some(secondary) => {
            let _ = writeln!(
                out,
                "  Secondary:  {} (score {})",
                secondary.name(),
                rec.score_of(secondary).total
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  Secondary:  none (no companion of {} fits these answers)",
                rec.primary.name()
            );
        }
    }
    let runner_up = rec
        .ranking
        .get(1)
        .map_or("nothing", |score| score.paradigm.name());
    let _ = writeln!(
        out,
        "  Confidence: {} (leads {runner_up} by {} points)",
        rec.confidence, rec.margin
    );
    let _ = writeln!(out, "\nWhy {}", rec.primary.name());
    for line in &rec.rationale {
        let _ = writeln!(out, "  - {line}");
    }
    let _ = writeln!(out, "\nRanking");
    for (rank, score) in rec.ranking.iter().take(SHOWN).enumerate() {
        let category = catalog.get(score.paradigm).category;
        let _ = writeln!(
            out,
            "  {:>2}. {:<28} {:>4}  ({category})",
            rank + 1,
            score.paradigm.name(),
            score.total
        );
    }
    let _ = writeln!(out, "\nAlternatives considered");
    for alt in &rec.alternatives {
        let _ = writeln!(
            out,
            "  - {} ({}, {} behind): {}",
            alt.paradigm.name(),
            alt.score,
            alt.gap,
            alt.why_not
        );
    }
    let _ = writeln!(out, "\nTrade-offs");
    let _ = writeln!(out, "  Accepted:   {}", rec.trade_offs.accepted);
    let _ = writeln!(out, "  Mitigation: {}", rec.trade_offs.mitigation);
    out
}

/// The research brief: queries with the command that runs each, focus areas, references.
#[must_use]
pub(crate) fn research(brief: &ResearchBrief) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Research ({})", brief.year);
    for query in &brief.queries {
        let _ = writeln!(out, "  - {}\n      {}", query.text, query.command);
    }
    let _ = writeln!(out, "\nFocus areas");
    for area in &brief.focus_areas {
        let _ = writeln!(out, "  - {}: {}", area.name, area.why);
    }
    let _ = writeln!(out, "\nReferences");
    for reference in &brief.references {
        let _ = writeln!(out, "  - {} <{}>", reference.title, reference.url);
    }
    out
}

/// What is said when the decision renders no system model.
pub(crate) const NOTHING_TO_VERIFY: &str =
    "Verification: nothing to verify; no system model is generated for this paradigm\n";

/// The verification in a few lines: counts per verdict and every FAILED check in full.
#[must_use]
pub(crate) fn verification_summary(report: &VerificationReport) -> String {
    if report.checks.is_empty() {
        return NOTHING_TO_VERIFY.to_owned();
    }
    let count = |verdict: Verdict| {
        report
            .checks
            .iter()
            .filter(|c| c.verdict == verdict)
            .count()
    };
    let mut out = format!(
        "Verification: {} proved, {} failed, {} tested, {} unchecked (full report: `arch-init verify` with the same answers; also in the ADR)\n",
        count(Verdict::Proved),
        count(Verdict::Failed),
        count(Verdict::Tested),
        count(Verdict::Unchecked),
    );
    for check in report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
    {
        let _ = writeln!(
            out,
            "  FAILED {} ({}): {}",
            check.property.label(),
            check.subject,
            check.detail
        );
    }
    out
}

/// The catalog as a table: id, name, category, what it is best for.
#[must_use]
pub(crate) fn paradigms(catalog: &Catalog) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<28} {:<14} best for",
        "id", "name", "category"
    );
    for entry in catalog.entries() {
        let best_for = entry.best_for.first().map_or("", String::as_str);
        let _ = writeln!(
            out,
            "{:<20} {:<28} {:<14} {best_for}",
            entry.id.to_string(),
            entry.name,
            entry.category.to_string()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ProjectContext;
    use crate::recommend::recommend;

    #[test]
    fn the_recommendation_text_names_the_decision_and_its_reasons() {
        let ctx = ProjectContext::from_toml(
            "project_type = \"microservice\"\nteam_size = \"15-50\"\nscalability = \"extreme\"\nsecurity = \"critical\"",
        )
        .unwrap();
        let catalog = Catalog::builtin();
        let text = recommendation(catalog, &recommend(catalog, &ctx));
        assert!(text.contains("Primary:    Microservices"), "{text}");
        assert!(text.contains("Secondary:  Event-Driven"), "{text}");
        assert!(text.contains("Confidence: HIGH"), "{text}");
        assert!(text.contains("Alternatives considered"), "{text}");
    }

    #[test]
    fn the_catalog_table_lists_every_paradigm() {
        let catalog = Catalog::builtin();
        let text = paradigms(catalog);
        assert_eq!(text.lines().count(), catalog.entries().len() + 1);
        assert!(text.contains("cqrs-es"));
    }
}
