//! The research brief: from the answers and the recommendation, about six web searches
//! tailored to the project (each stamped with the year and with a command that runs it), the
//! focus areas worth studying and why, and curated references from the catalog. Pure and
//! offline: it builds the searches, it never performs them, and the year comes in as input.

use std::fmt::Write as _;

use serde::Serialize;

use crate::catalog::{Catalog, Paradigm, ParadigmInfo};
use crate::context::{
    AuditTrail, Complexity, DataFlow, ProjectContext, Scalability, Security, TeamSize,
    TimeToMarket, Workload,
};

/// How many searches a brief proposes.
const QUERIES: usize = 6;
/// How many references each recommended paradigm contributes.
const REFERENCES_PER_PARADIGM: usize = 3;
/// The search engine queries are addressed to.
const SEARCH_URL: &str = "https://duckduckgo.com/?q=";

/// What to research before building, and where to start reading.
///
/// Serialized as `{ "year", "queries", "focus_areas", "references" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResearchBrief {
    /// The year every query is stamped with.
    pub year: i16,
    /// Searches, most important first.
    pub queries: Vec<Query>,
    /// Areas to study, each with the answer that makes it matter.
    pub focus_areas: Vec<FocusArea>,
    /// Curated reading for the primary and secondary paradigms, without duplicates.
    pub references: Vec<BriefReference>,
}

/// One web search. Serialized as `{ "topic", "text", "url", "command" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Query {
    /// What the search is about, e.g. "security".
    pub topic: &'static str,
    /// The words to search for, ending with the year.
    pub text: String,
    /// The search URL, query form-encoded.
    pub url: String,
    /// A shell command that opens the search, e.g. `xdg-open 'https://…'`.
    pub command: String,
}

/// An area to study. Serialized as `{ "name", "why" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FocusArea {
    /// One of: industry standards, language patterns, domain modelling, security architecture,
    /// scalability patterns, framework integration, team structure.
    pub name: &'static str,
    /// The answers that make it matter.
    pub why: String,
}

/// A reference from the catalog. Serialized as `{ "paradigm", "title", "url" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BriefReference {
    /// The paradigm it is about.
    pub paradigm: Paradigm,
    /// Author and title.
    pub title: String,
    /// Where to find it.
    pub url: String,
}

/// The research brief for `ctx` and the paradigms decided on (the recommendation's, or the
/// user's choice), with queries stamped with `year`.
#[must_use]
pub fn brief(
    ctx: &ProjectContext,
    primary: Paradigm,
    secondary: Option<Paradigm>,
    catalog: &Catalog,
    year: i16,
) -> ResearchBrief {
    let primary = catalog.get(primary);
    let secondary = secondary.map(|paradigm| catalog.get(paradigm));
    let queries = candidates(ctx, primary, secondary)
        .into_iter()
        .flatten()
        .take(QUERIES)
        .map(|(topic, words)| query(topic, &format!("{words} {year}")))
        .collect();
    let mut references: Vec<BriefReference> = Vec::new();
    for info in std::iter::once(primary).chain(secondary) {
        for reference in info.references.iter().take(REFERENCES_PER_PARADIGM) {
            if references.iter().all(|seen| seen.url != reference.url) {
                let (title, url) = (reference.title.clone(), reference.url.clone());
                references.push(BriefReference {
                    paradigm: info.id,
                    title,
                    url,
                });
            }
        }
    }
    ResearchBrief {
        year,
        queries,
        focus_areas: focus_areas(ctx, primary),
        references,
    }
}

/// Every search worth proposing, in priority order; `None` where the answers do not call for it.
fn candidates(
    ctx: &ProjectContext,
    primary: &ParadigmInfo,
    secondary: Option<&ParadigmInfo>,
) -> Vec<Option<(&'static str, String)>> {
    let stack = format!("{} {}", ctx.language, ctx.framework);
    let name = short_name(primary);
    let topic = |info: &ParadigmInfo, index: usize| info.research_topics.get(index).cloned();
    vec![
        Some((
            "architecture",
            format!("{stack} {name} architecture best practices"),
        )),
        topic(primary, 0).map(|t| ("pattern", format!("{stack} {name} {t} best practices"))),
        secondary.and_then(|info| {
            let with = short_name(info);
            topic(info, 0).map(|t| ("companion", format!("{name} with {with} {t}")))
        }),
        match ctx.security {
            Security::Critical => Some((
                "security",
                format!("{stack} threat modeling OWASP ASVS level 3 compliance"),
            )),
            Security::High => Some((
                "security",
                format!("{stack} OWASP API security top 10 authentication authorization"),
            )),
            Security::Standard => None,
        },
        {
            let users = match ctx.scalability {
                Scalability::High => "1M users",
                Scalability::Extreme => "over 1M users",
                Scalability::Low | Scalability::Moderate => "",
            };
            let load = match ctx.workload {
                Workload::Bursty => "traffic bursts",
                Workload::SpikyIdle => "scale to zero",
                Workload::Steady => "",
            };
            let needed = !users.is_empty() || !load.is_empty();
            needed.then(|| {
                (
                    "scalability",
                    format!("{name} scaling patterns {users} {load}"),
                )
            })
        },
        matches!(
            ctx.complexity,
            Complexity::Complex | Complexity::HighlyComplex
        )
        .then(|| {
            (
                "domain",
                format!(
                    "domain-driven design bounded contexts aggregates {} {stack}",
                    ctx.project_type
                ),
            )
        }),
        (ctx.audit_trail == AuditTrail::Required).then(|| {
            (
                "audit",
                format!("{stack} immutable audit trail event log compliance"),
            )
        }),
        matches!(ctx.team_size, TeamSize::Medium | TeamSize::Large).then(|| {
            (
                "team",
                format!(
                    "team topologies {name} ownership {} engineers",
                    ctx.team_size
                ),
            )
        }),
        match ctx.data_flow {
            DataFlow::Streaming => Some((
                "data",
                format!("{stack} stream processing back-pressure exactly-once"),
            )),
            DataFlow::Batch => Some((
                "data",
                format!("{stack} batch jobs idempotent retries scheduling"),
            )),
            DataFlow::RequestResponse => None,
        },
        (ctx.time_to_market == TimeToMarket::Rapid).then(|| {
            (
                "delivery",
                format!("{stack} production-ready project template"),
            )
        }),
        topic(primary, 1).map(|t| ("pattern", format!("{stack} {name} {t}"))),
        Some(("testing", format!("{stack} {name} testing strategy"))),
    ]
}

/// "Hexagonal" for "Hexagonal (Ports & Adapters)", lowercased for search text.
fn short_name(info: &ParadigmInfo) -> String {
    info.name
        .split(" (")
        .next()
        .unwrap_or(&info.name)
        .to_lowercase()
}

fn query(topic: &'static str, text: &str) -> Query {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let url = format!("{SEARCH_URL}{}", form_encode(&text));
    // The encoded URL never contains a single quote, so single-quoting it is safe in any shell.
    let command = format!("xdg-open '{url}'");
    Query {
        topic,
        text,
        url,
        command,
    }
}

/// `application/x-www-form-urlencoded`: unreserved bytes kept, space as `+`, the rest `%XX`.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

fn focus_areas(ctx: &ProjectContext, primary: &ParadigmInfo) -> Vec<FocusArea> {
    let name = &primary.name;
    let mut areas = Vec::new();
    let mut add = |name: &'static str, why: String| areas.push(FocusArea { name, why });
    if ctx.security == Security::Critical || ctx.audit_trail == AuditTrail::Required {
        add(
            "industry standards",
            format!(
                "security `{}` and audit trail `{}`: an external standard (PCI DSS, HIPAA, SOC 2, ISO 27001) will dictate controls and evidence",
                ctx.security, ctx.audit_trail
            ),
        );
    }
    if ctx.security != Security::Standard {
        add(
            "security architecture",
            format!(
                "security `{}`: decide authentication, authorisation, secrets and encryption boundaries before the first service exists",
                ctx.security
            ),
        );
    }
    if matches!(
        ctx.complexity,
        Complexity::Complex | Complexity::HighlyComplex
    ) {
        add(
            "domain modelling",
            format!(
                "domain complexity `{}`: bounded contexts and aggregates decide where the {name} boundaries go",
                ctx.complexity
            ),
        );
    }
    if matches!(ctx.scalability, Scalability::High | Scalability::Extreme)
        || ctx.workload != Workload::Steady
    {
        add(
            "scalability patterns",
            format!(
                "scalability `{}` with a `{}` workload: caching, partitioning and back-pressure need a plan",
                ctx.scalability, ctx.workload
            ),
        );
    }
    if matches!(ctx.team_size, TeamSize::Medium | TeamSize::Large) {
        add(
            "team structure",
            format!(
                "team size `{}`: align team ownership with the {name} boundaries (Conway's law)",
                ctx.team_size
            ),
        );
    }
    add(
        "language patterns",
        format!(
            "language `{}`: idiomatic error handling, module layout and concurrency for {name}",
            ctx.language
        ),
    );
    add(
        "framework integration",
        format!(
            "framework `{}`: how routing, shared state, middleware and testing fit the {name} structure",
            ctx.framework
        ),
    );
    areas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::recommend;

    fn brief_for(answers: &str) -> ResearchBrief {
        let ctx = ProjectContext::from_toml(answers).unwrap();
        let rec = recommend(Catalog::builtin(), &ctx);
        brief(&ctx, rec.primary, rec.secondary, Catalog::builtin(), 2026)
    }

    fn texts(brief: &ResearchBrief) -> Vec<&str> {
        brief.queries.iter().map(|q| q.text.as_str()).collect()
    }

    /// Undoes `form_encode`, to prove commands search for exactly the query text.
    fn form_decode(encoded: &str) -> String {
        let bytes = encoded.as_bytes();
        let mut out = Vec::new();
        let mut index = 0;
        while index < bytes.len() {
            match bytes[index] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    index += 2;
                }
                byte => out.push(byte),
            }
            index += 1;
        }
        String::from_utf8(out).unwrap()
    }

    /// The reference case, `tests/fixtures/reference.toml`.
    const REFERENCE: &str = include_str!("../tests/fixtures/reference.toml");

    #[test]
    fn the_reference_platform_gets_six_searches_led_by_its_stack_and_paradigm() {
        let brief = brief_for(REFERENCE);
        assert_eq!(
            texts(&brief),
            [
                "rust axum microservices architecture best practices 2026",
                "rust axum microservices saga pattern best practices 2026",
                "microservices with event-driven transactional outbox pattern 2026",
                "rust axum threat modeling OWASP ASVS level 3 compliance 2026",
                "microservices scaling patterns over 1M users 2026",
                "domain-driven design bounded contexts aggregates microservice rust axum 2026",
            ]
        );
    }

    #[test]
    fn every_query_carries_the_year_and_a_well_formed_command() {
        for answers in [
            "",
            REFERENCE,
            "project_type = \"data-pipeline\"\ndata_flow = \"batch\"",
            "language = \"csharp\"\nframework = \"ASP.NET Core & 'minimal' APIs\"",
        ] {
            let brief = brief_for(answers);
            assert!((5..=QUERIES).contains(&brief.queries.len()), "{answers}");
            for query in &brief.queries {
                assert!(query.text.ends_with(" 2026"), "{}", query.text);
                let encoded = query.url.strip_prefix(SEARCH_URL).unwrap();
                assert_eq!(form_decode(encoded), query.text);
                assert!(
                    !query.url.contains([' ', '\'', '"', '&', '#']),
                    "{}",
                    query.url
                );
                assert_eq!(query.command, format!("xdg-open '{}'", query.url));
            }
        }
    }

    #[test]
    fn the_answers_shape_the_searches_and_focus_areas() {
        let has =
            |brief: &ResearchBrief, topic: &str| brief.queries.iter().any(|q| q.topic == topic);
        let focus =
            |brief: &ResearchBrief, name: &str| brief.focus_areas.iter().any(|a| a.name == name);
        let standard = brief_for("");
        let critical = brief_for("security = \"critical\"");
        assert!(!has(&standard, "security") && has(&critical, "security"));
        assert!(!focus(&standard, "industry standards") && focus(&critical, "industry standards"));
        assert!(focus(&critical, "security architecture"));
        let actix = brief_for("framework = \"actix-web\"");
        assert!(texts(&actix).iter().any(|text| text.contains("actix-web")));
        let pipeline = brief_for(
            "project_type = \"data-pipeline\"\ndata_flow = \"batch\"\ncomplexity = \"moderate\"\nteam_size = 8",
        );
        assert_ne!(texts(&pipeline), texts(&standard));
        assert!(texts(&pipeline)[0].contains("pipeline"));
        assert!(!focus(&pipeline, "domain modelling") && focus(&standard, "domain modelling"));
        assert!(focus(&pipeline, "language patterns") && focus(&pipeline, "framework integration"));
    }

    #[test]
    fn references_come_from_the_recommended_paradigms_without_duplicates() {
        let brief = brief_for(REFERENCE);
        let paradigms: Vec<Paradigm> = brief.references.iter().map(|r| r.paradigm).collect();
        assert!(
            paradigms.contains(&Paradigm::Microservices)
                && paradigms.contains(&Paradigm::EventDriven)
        );
        let catalog = Catalog::builtin();
        for reference in &brief.references {
            assert!(
                catalog
                    .get(reference.paradigm)
                    .references
                    .iter()
                    .any(|r| r.url == reference.url)
            );
            assert_eq!(
                brief
                    .references
                    .iter()
                    .filter(|r| r.url == reference.url)
                    .count(),
                1
            );
        }
    }

    #[test]
    fn form_encoding_keeps_unreserved_bytes_and_escapes_the_rest() {
        let cases = [
            ("rust axum", "rust+axum"),
            ("c# & 'x'", "c%23+%26+%27x%27"),
            ("a-b_c.d~", "a-b_c.d~"),
            ("é", "%C3%A9"),
            (">1M", "%3E1M"),
        ];
        for (text, expected) in cases {
            assert_eq!(form_encode(text), expected);
        }
    }
}
