//! The decision: which paradigm is used, how it relates to the recommendation (an override
//! and its score gap), and which shape of repository it renders; `Decided` bundles it with the
//! ranking and the research it was made with.

use serde::Serialize;

use crate::catalog::{Catalog, Paradigm};
use crate::context::ProjectContext;
use crate::model::Shape;
use crate::recommend::Recommendation;
use crate::research::ResearchBrief;

/// The repository shape rendered for `paradigm`.
#[must_use]
pub fn shape_for(paradigm: Paradigm) -> Shape {
    match paradigm {
        // The rendered platform is services that talk through events, which is both.
        Paradigm::Microservices | Paradigm::EventDriven => Shape::Microservices,
        Paradigm::ModularMonolith => Shape::ModularMonolith,
        _ => Shape::DecisionOnly,
    }
}

/// What the decision stage settled: the ranking, the paradigm used, and the research done
/// for it (none with `--skip-research`).
#[derive(Debug, Clone)]
pub struct Decided {
    pub recommendation: Recommendation,
    pub decision: Decision,
    pub research: Option<ResearchBrief>,
}

impl Decided {
    /// Decides without asking: scores the paradigms, takes `forced` or the recommendation, and
    /// researches the result for `research_year` (no research without one).
    #[must_use]
    pub fn new(
        catalog: &Catalog,
        ctx: &ProjectContext,
        forced: Option<Paradigm>,
        research_year: Option<i16>,
    ) -> Self {
        let recommendation = crate::recommend::recommend(catalog, ctx);
        let decision = Decision::new(catalog, &recommendation, forced);
        let research = research_year.map(|year| {
            crate::research::brief(ctx, decision.chosen, decision.secondary, catalog, year)
        });
        Self {
            recommendation,
            decision,
            research,
        }
    }
}

/// The paradigm chosen, next to the one recommended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub recommended: Paradigm,
    pub chosen: Paradigm,
    /// The best-scoring companion of the chosen paradigm.
    pub secondary: Option<Paradigm>,
    /// Whether `--arch` (or the user at the prompt) chose against the recommendation.
    pub overridden: bool,
    /// Points the chosen paradigm scored below the recommended one (0 when not overridden).
    pub score_gap: i32,
    pub shape: Shape,
}

impl Decision {
    /// Takes the recommendation, or `forced` when given.
    #[must_use]
    pub fn new(catalog: &Catalog, rec: &Recommendation, forced: Option<Paradigm>) -> Self {
        let chosen = forced.unwrap_or(rec.primary);
        let overridden = chosen != rec.primary;
        let secondary = if overridden {
            crate::recommend::secondary(catalog, catalog.get(chosen), &rec.ranking)
        } else {
            rec.secondary
        };
        Self {
            recommended: rec.primary,
            chosen,
            secondary,
            overridden,
            score_gap: rec.score_of(rec.primary).total - rec.score_of(chosen).total,
            shape: shape_for(chosen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ProjectContext;
    use crate::recommend::recommend;

    fn decide(answers: &str, forced: Option<Paradigm>) -> Decision {
        let ctx = ProjectContext::from_toml(answers).unwrap();
        let catalog = Catalog::builtin();
        Decision::new(catalog, &recommend(catalog, &ctx), forced)
    }

    #[test]
    fn accepting_the_recommendation_is_no_override_and_no_gap() {
        let decision = decide("team_size = \"15-50\"\nscalability = \"extreme\"", None);
        assert!(!decision.overridden);
        assert_eq!(decision.score_gap, 0);
        assert_eq!(decision.chosen, decision.recommended);
    }

    #[test]
    fn an_override_records_the_gap_and_picks_a_companion_by_the_same_rule() {
        let decision = decide("team_size = \"<5\"", Some(Paradigm::Microservices));
        assert!(decision.overridden);
        assert!(decision.score_gap > 0);
        let catalog = Catalog::builtin();
        let secondary = decision
            .secondary
            .expect("microservices has a companion that fits here");
        let microservices = catalog.get(Paradigm::Microservices);
        assert!(microservices.companions.contains(&secondary));
        assert_ne!(catalog.get(secondary).category, microservices.category);
    }

    #[test]
    fn only_microservices_and_event_driven_render_code() {
        for paradigm in Paradigm::ALL {
            let expected = matches!(paradigm, Paradigm::Microservices | Paradigm::EventDriven);
            assert_eq!(
                shape_for(*paradigm) == Shape::Microservices,
                expected,
                "{paradigm}"
            );
        }
    }
}
