//! The decision: which paradigm is used, how it relates to the recommendation (an override
//! and its score gap), and which shape of repository it renders.

use serde::Serialize;

use crate::catalog::{Catalog, Paradigm};
use crate::model::Shape;
use crate::recommend::Recommendation;

/// The repository shape rendered for `paradigm`.
#[must_use]
pub fn shape_for(paradigm: Paradigm) -> Shape {
    match paradigm {
        // The rendered platform is services that talk through events, which is both.
        Paradigm::Microservices | Paradigm::EventDriven => Shape::Microservices,
        _ => Shape::DecisionOnly,
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
            catalog
                .get(chosen)
                .companions
                .iter()
                .copied()
                .max_by_key(|&companion| {
                    (rec.score_of(companion).total, std::cmp::Reverse(companion))
                })
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
