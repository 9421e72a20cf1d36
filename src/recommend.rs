//! Pure scoring: a `ProjectContext` and the `Catalog` in, a `Recommendation` out. Every score
//! is a sum of named contributions (the catalog's base plus one weight per answer), so the
//! ranking, the rationale, the confidence (margin to the runner-up) and the alternatives all
//! come from the same numbers. No I/O, no randomness: the same inputs give the same output.

use std::fmt;

use serde::Serialize;

use crate::catalog::{Catalog, Paradigm, ParadigmInfo, Weight};
use crate::context::ProjectContext;

mod explain;

use explain::{alternative, label, rationale};

/// A margin of at least this many points over the runner-up gives `Confidence::High`.
pub const HIGH_MARGIN: i32 = 20;
/// A margin of at least this many points (and under `HIGH_MARGIN`) gives `Confidence::Medium`.
pub const MEDIUM_MARGIN: i32 = 10;
/// How many runners-up are reported as alternatives.
const ALTERNATIVES: usize = 3;

/// Points one answer (or the base) adds to one paradigm's score.
///
/// Serialized as `{ "factor", "answer", "points", "reason" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contribution {
    /// The question key (e.g. `team_size`), or `base` for the paradigm's baseline.
    pub factor: &'static str,
    /// The answer as typed (e.g. `15-50`); empty for the base.
    pub answer: String,
    /// Points added (negative counts against).
    pub points: i32,
    /// Why, in words, from the catalog.
    pub reason: String,
}

/// One paradigm's score; `total` is always the sum of `contributions`' points.
///
/// Serialized as `{ "paradigm", "total", "contributions" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Score {
    /// The paradigm scored.
    pub paradigm: Paradigm,
    /// Sum of the contributions.
    pub total: i32,
    /// Every non-zero contribution, base first, then in question order.
    pub contributions: Vec<Contribution>,
}

/// How clearly the primary beat the runner-up (see `HIGH_MARGIN` and `MEDIUM_MARGIN`).
///
/// Displayed as `HIGH`, `MEDIUM`, `LOW`; serialized in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Margin of at least `HIGH_MARGIN` points.
    High,
    /// Margin of at least `MEDIUM_MARGIN` points.
    Medium,
    /// A close call: the answers barely separate the top two.
    Low,
}

impl Confidence {
    /// The confidence a margin over the runner-up gives.
    #[must_use]
    pub fn from_margin(margin: i32) -> Confidence {
        if margin >= HIGH_MARGIN {
            Confidence::High
        } else if margin >= MEDIUM_MARGIN {
            Confidence::Medium
        } else {
            Confidence::Low
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Confidence::High => "HIGH",
            Confidence::Medium => "MEDIUM",
            Confidence::Low => "LOW",
        })
    }
}

/// A runner-up considered and not chosen.
///
/// Serialized as `{ "paradigm", "score", "gap", "why_not" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alternative {
    /// The paradigm.
    pub paradigm: Paradigm,
    /// Its total score.
    pub score: i32,
    /// Points behind the primary (zero on a tie broken by catalog order).
    pub gap: i32,
    /// Why it lost, from its own contributions or where the primary beat it most.
    pub why_not: String,
}

/// The costs the primary brings, from the catalog.
///
/// Serialized as `{ "accepted", "mitigation", "avoid_when" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeOffs {
    /// The main cost accepted.
    pub accepted: String,
    /// How to keep it down.
    pub mitigation: String,
    /// When this choice should be revisited.
    pub avoid_when: Vec<String>,
}

/// The explained outcome of scoring every paradigm.
///
/// Serialized with exactly these field names: `primary`, `secondary` (id or null),
/// `confidence`, `margin`, `rationale`, `alternatives`, `trade_offs`, `ranking`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    /// The best-scoring paradigm.
    pub primary: Paradigm,
    /// The best-scoring of the primary's companions from another category, if any scores
    /// above zero (e.g. event-driven beside microservices).
    pub secondary: Option<Paradigm>,
    /// From the margin to the runner-up.
    pub confidence: Confidence,
    /// Points between the primary and the runner-up.
    pub margin: i32,
    /// The primary's largest positive contributions, in words, largest first.
    pub rationale: Vec<String>,
    /// The next three in the ranking (the secondary excluded), with why each lost.
    pub alternatives: Vec<Alternative>,
    /// What choosing the primary costs.
    pub trade_offs: TradeOffs,
    /// Every paradigm, best first; ties keep catalog order.
    pub ranking: Vec<Score>,
}

impl Recommendation {
    /// The winning score.
    #[must_use]
    pub fn best(&self) -> &Score {
        &self.ranking[0]
    }

    /// The score of any paradigm in the catalog.
    ///
    /// # Panics
    /// Only if `paradigm` was not in the catalog scored, which `Catalog` rules out.
    #[must_use]
    pub fn score_of(&self, paradigm: Paradigm) -> &Score {
        self.ranking
            .iter()
            .find(|score| score.paradigm == paradigm)
            .expect("the ranking scores every paradigm in the catalog")
    }
}

/// Scores every paradigm in `catalog` for `ctx` and explains the winner.
#[must_use]
pub fn recommend(catalog: &Catalog, ctx: &ProjectContext) -> Recommendation {
    let answers = ctx.values();
    let mut ranking: Vec<Score> = catalog
        .entries()
        .iter()
        .map(|info| score(info, &answers))
        .collect();
    // A stable sort keeps catalog order among equal totals, so ties are deterministic.
    ranking.sort_by_key(|score| std::cmp::Reverse(score.total));

    let best = &ranking[0];
    let info = catalog.get(best.paradigm);
    let margin = ranking
        .get(1)
        .map_or(best.total, |runner_up| best.total - runner_up.total);
    let secondary = secondary(catalog, info, &ranking);
    let alternatives = ranking[1..]
        .iter()
        .filter(|score| Some(score.paradigm) != secondary)
        .take(ALTERNATIVES)
        .map(|score| alternative(best, score))
        .collect();

    Recommendation {
        primary: best.paradigm,
        secondary,
        confidence: Confidence::from_margin(margin),
        margin,
        rationale: rationale(best),
        alternatives,
        trade_offs: TradeOffs {
            accepted: info.trade_off.clone(),
            mitigation: info.mitigation.clone(),
            avoid_when: info.avoid_when.clone(),
        },
        ranking,
    }
}

/// The base plus one contribution per answer the paradigm's fit weighs.
fn score(info: &ParadigmInfo, answers: &[(&'static str, String)]) -> Score {
    let mut contributions = Vec::new();
    let base = &info.fit.base;
    if base.points != 0 {
        let reason = reason(base, || format!("baseline fit of {}", info.name));
        contributions.push(Contribution {
            factor: "base",
            answer: String::new(),
            points: base.points,
            reason,
        });
    }
    for (key, answer) in answers {
        let Some(weight) = info
            .fit
            .weight(key, answer)
            .filter(|weight| weight.points != 0)
        else {
            continue;
        };
        let reason = reason(weight, || {
            let effect = if weight.points > 0 {
                "suits"
            } else {
                "counts against"
            };
            format!("{} `{answer}` {effect} {}", label(key), info.name)
        });
        contributions.push(Contribution {
            factor: key,
            answer: answer.clone(),
            points: weight.points,
            reason,
        });
    }
    let total = contributions
        .iter()
        .map(|contribution| contribution.points)
        .sum();
    Score {
        paradigm: info.id,
        total,
        contributions,
    }
}

fn reason(weight: &Weight, generated: impl FnOnce() -> String) -> String {
    weight.reason.clone().unwrap_or_else(generated)
}

/// The best-scoring companion of `primary` from another category with a positive score: the
/// recommendation's secondary, and the secondary of an overriding choice.
#[must_use]
pub(crate) fn secondary(
    catalog: &Catalog,
    primary: &ParadigmInfo,
    ranking: &[Score],
) -> Option<Paradigm> {
    let total = |paradigm: Paradigm| {
        ranking
            .iter()
            .find(|s| s.paradigm == paradigm)
            .map_or(i32::MIN, |s| s.total)
    };
    primary
        .companions
        .iter()
        .copied()
        .filter(|&companion| catalog.get(companion).category != primary.category)
        .filter(|&companion| total(companion) > 0)
        // `max_by_key` keeps the last maximum; reversing first keeps the catalog's order of preference.
        .rev()
        .max_by_key(|&companion| total(companion))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> &'static Catalog {
        Catalog::builtin()
    }

    #[track_caller]
    fn case(answers: &str, expected: Paradigm) {
        let ctx = ProjectContext::from_toml(answers).unwrap();
        let rec = recommend(catalog(), &ctx);
        let top: Vec<String> = rec
            .ranking
            .iter()
            .take(4)
            .map(|s| format!("{}={}", s.paradigm, s.total))
            .collect();
        assert_eq!(
            rec.best().paradigm,
            expected,
            "{answers}: {}",
            top.join(" ")
        );
    }

    #[test]
    fn team_size_and_complexity_pick_the_textbook_primary() {
        use Paradigm::{
            CqrsEs, EventDriven, FunctionalCore, Hexagonal, Layered, Microservices, ModularMonolith,
        };
        let complexities = ["simple", "moderate", "complex", "highly-complex"];
        let grid = [
            ("<5", [Layered, Layered, Hexagonal, FunctionalCore]),
            (
                "5-15",
                [Layered, ModularMonolith, ModularMonolith, Hexagonal],
            ),
            (
                "15-50",
                [ModularMonolith, Microservices, Microservices, CqrsEs],
            ),
            ("50+", [Microservices, Microservices, EventDriven, CqrsEs]),
        ];
        for (team, expected) in grid {
            for (complexity, paradigm) in complexities.iter().zip(expected) {
                case(
                    &format!("team_size = \"{team}\"\ncomplexity = \"{complexity}\""),
                    paradigm,
                );
            }
        }
    }

    /// The reference case, `tests/fixtures/reference.toml`.
    const REFERENCE: &str = include_str!("../tests/fixtures/reference.toml");

    #[test]
    fn the_reference_platform_gets_microservices_with_events_and_high_confidence() {
        let rec = recommend(catalog(), &ProjectContext::from_toml(REFERENCE).unwrap());
        assert_eq!(rec.primary, Paradigm::Microservices);
        assert_eq!(rec.secondary, Some(Paradigm::EventDriven));
        assert_eq!(rec.confidence, Confidence::High);
        let alternatives: Vec<Paradigm> = rec.alternatives.iter().map(|a| a.paradigm).collect();
        assert!(
            alternatives.contains(&Paradigm::ModularMonolith),
            "{alternatives:?}"
        );
        assert!(
            alternatives.contains(&Paradigm::ServiceBased),
            "{alternatives:?}"
        );
        assert_eq!(alternatives.len(), 3);
        assert!(
            rec.rationale[0].contains("service in a larger system"),
            "{:?}",
            rec.rationale
        );
    }

    #[test]
    fn every_paradigm_has_an_honest_textbook_example() {
        let examples = [
            (
                Paradigm::Layered,
                "project_type = \"web-application\"\nteam_size = 3\ncomplexity = \"simple\"\ntime_to_market = \"rapid\"",
            ),
            (
                Paradigm::FunctionalCore,
                "project_type = \"library\"\nteam_size = 3\ncomplexity = \"complex\"\nteam_experience = \"senior\"",
            ),
            (
                Paradigm::Hexagonal,
                "project_type = \"microservice\"\nteam_size = 4\ncomplexity = \"complex\"",
            ),
            (
                Paradigm::CleanArchitecture,
                "project_type = \"web-application\"\nteam_size = 10\ncomplexity = \"highly-complex\"\nlifespan = \"long\"\nteam_experience = \"senior\"\ntime_to_market = \"not-urgent\"",
            ),
            (
                Paradigm::ModularMonolith,
                "project_type = \"web-application\"\nteam_size = 10\ncomplexity = \"moderate\"",
            ),
            (
                Paradigm::Microservices,
                "project_type = \"microservice\"\nteam_size = 80\ncomplexity = \"moderate\"\nscalability = \"high\"\nops_maturity = \"advanced\"",
            ),
            (
                Paradigm::ServiceBased,
                "team_size = 30\ncomplexity = \"moderate\"\nscalability = \"high\"\nconsistency = \"strong\"",
            ),
            (
                Paradigm::EventDriven,
                "project_type = \"streaming-app\"\nteam_size = 30\ncomplexity = \"complex\"\ndata_flow = \"streaming\"",
            ),
            (
                Paradigm::CqrsEs,
                "team_size = 30\ncomplexity = \"highly-complex\"\naudit_trail = \"required\"\nsecurity = \"high\"",
            ),
            (
                Paradigm::Serverless,
                "team_size = 3\ncomplexity = \"simple\"\ntime_to_market = \"rapid\"\nworkload = \"spiky-idle\"\nops_maturity = \"basic\"",
            ),
            (
                Paradigm::SpaceBased,
                "project_type = \"real-time-system\"\nteam_size = 30\ncomplexity = \"complex\"\nscalability = \"extreme\"\nworkload = \"bursty\"",
            ),
            (
                Paradigm::Pipeline,
                "project_type = \"data-pipeline\"\nteam_size = 8\ncomplexity = \"moderate\"\ndata_flow = \"batch\"",
            ),
            (
                Paradigm::Microkernel,
                "project_type = \"desktop-app\"\nteam_size = 8\ncomplexity = \"moderate\"\nextensibility = \"plugins\"",
            ),
            (
                Paradigm::ClientServer,
                "project_type = \"mobile-app\"\nteam_size = 8\ncomplexity = \"moderate\"",
            ),
        ];
        for (expected, answers) in examples {
            case(answers, expected);
        }
        let covered: Vec<Paradigm> = examples.iter().map(|(p, _)| *p).collect();
        assert_eq!(covered, Paradigm::ALL);
    }

    /// Every question that has a closed set of answers, with those answers.
    fn answer_space() -> Vec<(&'static str, Vec<&'static str>)> {
        crate::context::QUESTIONS
            .iter()
            .map(|q| {
                (
                    q.key,
                    (q.options)()
                        .into_iter()
                        .map(|(value, _)| value)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, values)| !values.is_empty())
            .collect()
    }

    fn context(choices: &[(&'static str, &'static str)]) -> ProjectContext {
        let mut answers = crate::context::Answers::default();
        for (key, value) in choices {
            answers.set(key, value).unwrap();
        }
        ProjectContext::from_answers(&answers)
    }

    fn lead(catalog: &Catalog, ctx: &ProjectContext, target: Paradigm) -> i32 {
        let rec = recommend(catalog, ctx);
        let others = rec
            .ranking
            .iter()
            .filter(|s| s.paradigm != target)
            .map(|s| s.total)
            .max()
            .unwrap();
        rec.score_of(target).total - others
    }

    #[test]
    fn a_search_of_the_answer_space_finds_a_context_where_each_paradigm_wins() {
        // Coordinate ascent from the defaults: change one answer at a time to whichever value
        // most improves the target's lead, until it wins or no single change helps.
        let space = answer_space();
        for &target in Paradigm::ALL {
            let mut choices: Vec<(&str, &str)> = space
                .iter()
                .map(|(key, values)| {
                    let default = ProjectContext::default().value(key);
                    (
                        *key,
                        values
                            .iter()
                            .copied()
                            .find(|value| *value == default)
                            .unwrap(),
                    )
                })
                .collect();
            let mut current = lead(catalog(), &context(&choices), target);
            let mut improved = true;
            while improved && recommend(catalog(), &context(&choices)).primary != target {
                improved = false;
                for (index, (_, values)) in space.iter().enumerate() {
                    for value in values {
                        let mut candidate = choices.clone();
                        candidate[index].1 = value;
                        let candidate_lead = lead(catalog(), &context(&candidate), target);
                        if candidate_lead > current {
                            (choices, current, improved) = (candidate, candidate_lead, true);
                        }
                    }
                }
            }
            let rec = recommend(catalog(), &context(&choices));
            assert_eq!(rec.primary, target, "search stalled at {choices:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_score_is_the_bounded_sum_of_its_contributions(
            picks in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 15)
        ) {
            let space = answer_space();
            let choices: Vec<(&str, &str)> =
                space.iter().zip(&picks).map(|((key, values), pick)| (*key, *pick.get(values))).collect();
            let ctx = context(&choices);
            let rec = recommend(catalog(), &ctx);
            proptest::prop_assert_eq!(&rec, &recommend(catalog(), &ctx));
            for score in &rec.ranking {
                let (low, high) = catalog().get(score.paradigm).fit.range();
                proptest::prop_assert_eq!(score.total, score.contributions.iter().map(|c| c.points).sum::<i32>());
                proptest::prop_assert!((low..=high).contains(&score.total));
            }
            proptest::prop_assert!(rec.ranking.windows(2).all(|pair| pair[0].total >= pair[1].total));
            proptest::prop_assert_eq!(rec.primary, rec.best().paradigm);
            proptest::prop_assert_eq!(rec.margin, rec.ranking[0].total - rec.ranking[1].total);
            proptest::prop_assert_eq!(rec.alternatives.len(), 3);
            for alternative in &rec.alternatives {
                proptest::prop_assert!(alternative.paradigm != rec.primary && Some(alternative.paradigm) != rec.secondary);
                proptest::prop_assert_eq!(alternative.gap, rec.best().total - alternative.score);
            }
            if let Some(secondary) = rec.secondary {
                let category = |p: Paradigm| catalog().get(p).category;
                proptest::prop_assert!(category(secondary) != category(rec.primary));
                proptest::prop_assert!(catalog().get(rec.primary).companions.contains(&secondary));
            }
            proptest::prop_assert!(!rec.rationale.is_empty());
        }
    }

    #[test]
    fn ties_are_broken_by_catalog_order() {
        let flat = Catalog::from_toml_str(&edited(|_| {}, true)).unwrap();
        let rec = recommend(&flat, &ProjectContext::default());
        let order: Vec<Paradigm> = rec.ranking.iter().map(|s| s.paradigm).collect();
        assert_eq!(order, Paradigm::ALL);
        assert_eq!(rec.confidence, Confidence::Low);
    }

    /// The built-in catalog text with `edit` applied; `flatten` removes every weight first.
    fn edited(edit: impl FnOnce(&mut toml::Table), flatten: bool) -> String {
        let mut table: toml::Table = toml::from_str(include_str!("catalog.toml")).unwrap();
        if flatten {
            for (_, entry) in &mut table {
                entry
                    .as_table_mut()
                    .unwrap()
                    .insert("fit".to_owned(), toml::Value::Table(toml::Table::new()));
            }
        }
        edit(&mut table);
        toml::to_string(&table).unwrap()
    }

    #[test]
    fn changing_a_weight_in_the_catalog_data_changes_the_recommendation() {
        let ctx = ProjectContext::default();
        assert_eq!(recommend(catalog(), &ctx).primary, Paradigm::Microservices);
        let text = edited(
            |table| {
                table["microservices"]["fit"]["team_size"]
                    .as_table_mut()
                    .unwrap()
                    .insert("15-50".to_owned(), toml::Value::Integer(-20));
            },
            false,
        );
        let changed = Catalog::from_toml_str(&text).unwrap();
        let rec = recommend(&changed, &ctx);
        assert_eq!(rec.primary, Paradigm::ModularMonolith);
        let contribution = &rec.score_of(Paradigm::Microservices).contributions[1];
        assert_eq!(contribution.points, -20);
        assert_eq!(
            contribution.reason,
            "Team size `15-50` counts against Microservices"
        );
    }

    #[test]
    fn confidence_follows_the_documented_margins() {
        let cases = [
            (0, Confidence::Low),
            (9, Confidence::Low),
            (10, Confidence::Medium),
            (19, Confidence::Medium),
            (20, Confidence::High),
        ];
        for (margin, expected) in cases {
            assert_eq!(Confidence::from_margin(margin), expected, "{margin}");
        }
        assert_eq!(Confidence::High.to_string(), "HIGH");
        assert_eq!(
            serde_json::to_string(&Confidence::Medium).unwrap(),
            r#""medium""#
        );
    }

    #[test]
    fn the_recommendation_serializes_with_its_documented_field_names() {
        let rec = recommend(catalog(), &ProjectContext::from_toml(REFERENCE).unwrap());
        let json = serde_json::to_value(&rec).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "primary",
                "secondary",
                "confidence",
                "margin",
                "rationale",
                "alternatives",
                "trade_offs",
                "ranking"
            ]
        );
        assert_eq!(json["primary"], "microservices");
        assert_eq!(json["confidence"], "high");
        assert_eq!(
            json["ranking"][0]["contributions"][0]["factor"],
            "project_type"
        );
    }
}
