//! The paradigm catalog: every architecture style's facts (description, trade-off,
//! mitigation, best-for, avoid-when, companions, references) and how each answer affects its
//! fit, read from `catalog.toml` embedded in the binary. Editing the data, not code, changes
//! recommendations; this module only parses and checks the data, it never scores.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::context::Question;
use crate::context::choice::backticked;
use crate::context::choice::{Choice, choice};

choice! {
    /// An architecture paradigm the catalog describes; its id is the spelling users type.
    pub enum Paradigm {
        /// Horizontal layers.
        Layered = "layered",
        /// Pure decisions, effects at the edge.
        FunctionalCore = "functional-core",
        /// Ports and adapters.
        Hexagonal = "hexagonal",
        /// Concentric rings, dependencies pointing inwards.
        CleanArchitecture = "clean-architecture",
        /// One deployable with enforced modules.
        ModularMonolith = "modular-monolith",
        /// Independently deployable fine-grained services.
        Microservices = "microservices",
        /// A handful of coarse domain services.
        ServiceBased = "service-based",
        /// Components reacting to events on a broker.
        EventDriven = "event-driven",
        /// Commands, an event store and projections.
        CqrsEs = "cqrs-es",
        /// Managed functions scaled per request.
        Serverless = "serverless",
        /// Processing units over replicated in-memory grids.
        SpaceBased = "space-based",
        /// Pipes and filters.
        Pipeline = "pipeline",
        /// A minimal core with plug-ins.
        Microkernel = "microkernel",
        /// Installed clients and a server API.
        ClientServer = "client-server",
    }
}

impl Paradigm {
    /// The display name from the built-in catalog, e.g. "CQRS + Event Sourcing".
    #[must_use]
    pub(crate) fn name(self) -> &'static str {
        &Catalog::builtin().get(self).name
    }
}

choice! {
    /// What a paradigm shapes; a secondary recommendation comes from a different category.
    pub enum Category {
        /// Internal code organisation (layered, hexagonal, clean, ...).
        Structure = "structure",
        /// Deployment shape (modular monolith, microservices, serverless, ...).
        Topology = "topology",
        /// How components talk (event-driven, CQRS + event sourcing).
        Communication = "communication",
    }
}

/// A book or article worth reading about a paradigm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reference {
    /// Author and title.
    pub(crate) title: String,
    /// Where to find it.
    pub(crate) url: String,
}

/// Points an answer adds to (or removes from) a paradigm's fit, and why, in words.
///
/// Written in the TOML as bare points (`20`) or `[points, "reason"]`; serialized as
/// `{ "points": i32, "reason": string | null }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WeightSpelling")]
pub(crate) struct Weight {
    /// Points added to the score (negative counts against).
    pub(crate) points: i32,
    /// Why the answer matters for this paradigm; `None` leaves a generated phrase.
    pub(crate) reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WeightSpelling {
    Points(i32),
    Explained(i32, String),
}

impl From<WeightSpelling> for Weight {
    fn from(spelling: WeightSpelling) -> Self {
        match spelling {
            WeightSpelling::Points(points) => Weight {
                points,
                reason: None,
            },
            WeightSpelling::Explained(points, reason) => Weight {
                points,
                reason: Some(reason),
            },
        }
    }
}

/// How the answers affect a paradigm's score: a base plus weights per question and answer.
///
/// Serialized as `{ "base": Weight, "<question key>": { "<answer>": Weight } }`, keys sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fit {
    /// Points every context starts with.
    #[serde(default)]
    pub(crate) base: Weight,
    /// Question key → answer as typed → weight; unlisted answers contribute nothing.
    #[serde(flatten)]
    pub(crate) factors: BTreeMap<String, BTreeMap<String, Weight>>,
}

impl Fit {
    /// The lowest and highest total any context can give: the base plus, per question, the
    /// most negative and most positive weight (an unlisted answer counts as zero).
    #[cfg(test)]
    #[must_use]
    pub(crate) fn range(&self) -> (i32, i32) {
        self.factors.values().fold(
            (self.base.points, self.base.points),
            |(low, high), weights| {
                let points = weights.values().map(|weight| weight.points);
                (
                    low + points.clone().min().unwrap_or(0).min(0),
                    high + points.max().unwrap_or(0).max(0),
                )
            },
        )
    }

    /// The weight for answering `value` to the question `key`, if it has one.
    #[must_use]
    pub(crate) fn weight(&self, key: &str, value: &str) -> Option<&Weight> {
        self.factors.get(key)?.get(value)
    }
}

/// Everything the catalog knows about one paradigm.
///
/// Serialized (e.g. `arch-init paradigms --format json`) with exactly these field names:
/// `id`, `name`, `category`, `description`, `trade_off`, `mitigation`, `best_for`,
/// `avoid_when`, `companions`, `research_topics`, `references`, `fit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParadigmInfo {
    /// The paradigm (its id is the catalog table's key).
    pub(crate) id: Paradigm,
    /// Display name, e.g. "Modular Monolith".
    pub(crate) name: String,
    /// What the paradigm shapes.
    pub(crate) category: Category,
    /// One or two sentences on what it is.
    pub(crate) description: String,
    /// The main cost accepted by choosing it.
    pub(crate) trade_off: String,
    /// How to keep that cost down.
    pub(crate) mitigation: String,
    /// Situations it suits.
    pub(crate) best_for: Vec<String>,
    /// Situations it does not.
    pub(crate) avoid_when: Vec<String>,
    /// Paradigms that sit well beside it as a secondary, best first.
    pub(crate) companions: Vec<Paradigm>,
    /// Search phrases for the research brief, e.g. "saga pattern".
    #[serde(default)]
    pub(crate) research_topics: Vec<String>,
    /// Curated reading.
    pub(crate) references: Vec<Reference>,
    /// How the answers affect its score.
    pub(crate) fit: Fit,
}

/// Why catalog data is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CatalogError {
    /// Not valid TOML, or a field is missing or of the wrong type.
    #[error("invalid catalog: {0}")]
    Syntax(String),
    /// A paradigm without an entry.
    #[error("the catalog has no entry for `{0}`")]
    Missing(Paradigm),
    /// A fit table names something that is no question, or no answer to it.
    #[error("`{paradigm}.fit.{factor}`: {problem}")]
    BadFit {
        /// The paradigm whose fit is wrong.
        paradigm: Paradigm,
        /// The question key as written.
        factor: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A paradigm listed as its own companion.
    #[error("`{0}` lists itself as a companion")]
    SelfCompanion(Paradigm),
}

/// All paradigms' facts, one entry per `Paradigm`, in `Paradigm::ALL` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Catalog {
    entries: Vec<ParadigmInfo>,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    Catalog::from_toml_str(include_str!("catalog.toml"))
        .expect("the embedded catalog is checked by the catalog unit tests")
});

impl Catalog {
    /// The catalog embedded in the binary, parsed once.
    #[must_use]
    pub fn builtin() -> &'static Catalog {
        &CATALOG
    }

    /// Parses catalog TOML (the format of `catalog.toml`) and checks it is complete.
    pub(crate) fn from_toml_str(text: &str) -> Result<Catalog, CatalogError> {
        let tables: BTreeMap<Paradigm, toml::Table> =
            toml::from_str(text).map_err(|err| CatalogError::Syntax(one_line(&err)))?;
        let mut entries = Vec::with_capacity(Paradigm::ALL.len());
        for &paradigm in Paradigm::ALL {
            let mut table = tables
                .get(&paradigm)
                .cloned()
                .ok_or(CatalogError::Missing(paradigm))?;
            table.insert(
                "id".to_owned(),
                toml::Value::String(paradigm.as_str().to_owned()),
            );
            let info: ParadigmInfo = table
                .try_into()
                .map_err(|err| CatalogError::Syntax(format!("`{paradigm}`: {}", one_line(&err))))?;
            check(&info)?;
            entries.push(info);
        }
        Ok(Catalog { entries })
    }

    /// The entry for `paradigm`.
    #[must_use]
    pub(crate) fn get(&self, paradigm: Paradigm) -> &ParadigmInfo {
        &self.entries[paradigm as usize]
    }

    /// Every entry, in `Paradigm::ALL` order (stable, also the ranking's tie-break order).
    #[must_use]
    pub(crate) fn entries(&self) -> &[ParadigmInfo] {
        &self.entries
    }
}

/// Every fit factor is a question with options, every answer one of them; no self-companion.
fn check(info: &ParadigmInfo) -> Result<(), CatalogError> {
    let bad = |factor: &str, problem: String| CatalogError::BadFit {
        paradigm: info.id,
        factor: factor.to_owned(),
        problem,
    };
    for (factor, weights) in &info.fit.factors {
        let question = Question::find(factor)
            .filter(|question| question.key == factor)
            .ok_or_else(|| bad(factor, "is not a question key".to_owned()))?;
        let options = (question.options)();
        if options.is_empty() {
            return Err(bad(
                factor,
                "is free text and cannot be weighted".to_owned(),
            ));
        }
        for answer in weights.keys() {
            if !options.iter().any(|(value, _)| value == answer) {
                let valid = backticked(options.iter().map(|(v, _)| *v));
                return Err(bad(factor, format!("`{answer}` is not one of: {valid}")));
            }
        }
    }
    if info.companions.contains(&info.id) {
        return Err(CatalogError::SelfCompanion(info.id));
    }
    Ok(())
}

fn one_line(err: &toml::de::Error) -> String {
    err.message().trim().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::QUESTIONS;

    const TEXT: &str = include_str!("catalog.toml");

    #[test]
    fn every_paradigm_has_exactly_one_entry_that_parses() {
        let catalog = Catalog::from_toml_str(TEXT).unwrap();
        let ids: Vec<Paradigm> = catalog.entries().iter().map(|info| info.id).collect();
        assert_eq!(ids, Paradigm::ALL);
        let tables: toml::Table = toml::from_str(TEXT).unwrap();
        assert_eq!(tables.len(), Paradigm::ALL.len());
        for &paradigm in Paradigm::ALL {
            assert_eq!(Catalog::builtin().get(paradigm).id, paradigm);
        }
    }

    #[test]
    fn every_entry_is_complete_enough_to_explain_itself() {
        for info in Catalog::builtin().entries() {
            let id = info.id;
            assert!(
                !info.name.is_empty() && !info.description.is_empty(),
                "{id}"
            );
            assert!(
                !info.trade_off.is_empty() && !info.mitigation.is_empty(),
                "{id}"
            );
            assert!(
                !info.best_for.is_empty() && !info.avoid_when.is_empty(),
                "{id}"
            );
            assert!(!info.research_topics.is_empty(), "{id}");
            assert!(info.references.len() >= 2, "{id}");
            assert!(
                info.references.iter().all(|r| r.url.starts_with("http")),
                "{id}"
            );
            let other_category = info
                .companions
                .iter()
                .any(|&c| Catalog::builtin().get(c).category != info.category);
            assert!(
                other_category,
                "{id} has no companion from another category"
            );
        }
    }

    #[test]
    fn names_come_from_the_catalog() {
        assert_eq!(Paradigm::ModularMonolith.name(), "Modular Monolith");
        assert_eq!(Paradigm::CqrsEs.name(), "CQRS + Event Sourcing");
        assert_eq!(Paradigm::Hexagonal.to_string(), "hexagonal");
    }

    #[test]
    fn neutral_refinement_defaults_contribute_nothing_to_any_paradigm() {
        let defaults = crate::context::ProjectContext::default();
        for question in QUESTIONS.iter().filter(|q| q.refinement) {
            let default = defaults.value(question.key);
            for info in Catalog::builtin().entries() {
                let points = info
                    .fit
                    .weight(question.key, &default)
                    .map_or(0, |w| w.points);
                assert_eq!(
                    points, 0,
                    "{}.fit.{} weighs the default `{default}`",
                    info.id, question.key
                );
            }
        }
    }

    #[test]
    fn every_weight_says_why() {
        for info in Catalog::builtin().entries() {
            for (factor, weights) in &info.fit.factors {
                for (answer, weight) in weights {
                    assert!(weight.reason.is_some(), "{}.fit.{factor}.{answer}", info.id);
                }
            }
        }
    }

    #[track_caller]
    fn rejects(text: &str, expected: &str) {
        let err = Catalog::from_toml_str(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }

    #[test]
    fn broken_catalog_data_is_rejected_with_the_place_named() {
        let without_pipeline = TEXT.replace("[pipeline", "[removed");
        rejects(&without_pipeline, "removed");
        let mut table: toml::Table = toml::from_str(TEXT).unwrap();
        table.remove("pipeline");
        rejects(
            &toml::to_string(&table).unwrap(),
            "the catalog has no entry for `pipeline`",
        );
        let cases = [
            (
                "[layered.fit.team_size]",
                "[layered.fit.team_sise]",
                "`layered.fit.team_sise`: is not a question key",
            ),
            (
                "\"<5\" = [15,",
                "\"<6\" = [15,",
                "`layered.fit.team_size`: `<6` is not one of: `<5`",
            ),
            (
                "[layered.fit.project_type]",
                "[layered.fit.framework]",
                "`layered.fit.framework`: is free text",
            ),
            (
                "companions = [\"modular-monolith\", \"client-server\"",
                "companions = [\"layered\", \"client-server\"",
                "`layered` lists itself",
            ),
            (
                "category = \"structure\"",
                "category = \"shape\"",
                "`shape` is not one of: `structure`, `topology`, `communication`",
            ),
        ];
        for (from, to, expected) in cases {
            rejects(&TEXT.replacen(from, to, 1), expected);
        }
    }

    #[test]
    fn a_paradigm_serializes_with_its_documented_field_names() {
        let json = serde_json::to_value(Catalog::builtin().get(Paradigm::Microservices)).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "category",
                "description",
                "trade_off",
                "mitigation",
                "best_for",
                "avoid_when",
                "companions",
                "research_topics",
                "references",
                "fit"
            ]
        );
        assert_eq!(json["fit"]["team_size"]["15-50"]["points"], 20);
        assert_eq!(json["fit"]["base"]["points"], 0);
        assert_eq!(json["category"], "topology");
    }

    #[test]
    fn a_bare_number_is_a_weight_without_a_reason() {
        let text = TEXT.replacen("\"<5\" = [15, \"a team under 5 gets the most from the simplest structure everyone already knows\"]", "\"<5\" = 15", 1);
        let catalog = Catalog::from_toml_str(&text).unwrap();
        let weight = catalog
            .get(Paradigm::Layered)
            .fit
            .weight("team_size", "<5")
            .unwrap();
        assert_eq!(
            weight,
            &Weight {
                points: 15,
                reason: None
            }
        );
    }
}
