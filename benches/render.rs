//! How long the in-memory stages take for the reference project: scoring and research, then
//! verification + rendering of the whole `FilePlan`. Run with `cargo bench --bench render`;
//! prints the median and the fastest of many runs. No disk is touched.

use std::hint::black_box;
use std::time::{Duration, Instant};

use arch_init::catalog::Catalog;
use arch_init::context::ProjectContext;
use arch_init::decision::Decided;
use arch_init::decision::Decision;
use arch_init::name::ProjectName;
use arch_init::project::{Inputs, assemble};
use arch_init::recommend::recommend;
use arch_init::requirements::RequirementAnswers;
use arch_init::research;
use arch_init::templates::TemplateSet;

/// The reference case, the one copy tests, bench and `scripts/bench.sh` read.
const REFERENCE: &str = include_str!("../tests/fixtures/reference.toml");
const RUNS: usize = 50;

fn measure(label: &str, mut run: impl FnMut()) {
    run(); // warm-up: lazily parsed catalog, page cache
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{label:<40} median {:>8.2?}  fastest {:>8.2?}  ({RUNS} runs)",
        times[RUNS / 2],
        times[0]
    );
}

fn main() {
    let ctx = ProjectContext::from_toml(REFERENCE).expect("the reference answers parse");
    let catalog = Catalog::builtin();
    let name = ProjectName::parse("ecommerce-platform").expect("a valid name");
    let templates =
        arch_init::render::compile(TemplateSet::builtin()).expect("the built-in templates parse");
    let date = jiff::civil::date(2026, 11, 22);
    let answers = RequirementAnswers::default();

    measure("recommend + research", || {
        let rec = recommend(catalog, &ctx);
        black_box(research::brief(
            &ctx,
            rec.primary,
            rec.secondary,
            catalog,
            2026,
        ));
    });

    let recommendation = recommend(catalog, &ctx);
    let research = research::brief(
        &ctx,
        recommendation.primary,
        recommendation.secondary,
        catalog,
        2026,
    );
    let decided = Decided {
        decision: Decision::new(catalog, &recommendation, None),
        recommendation,
        research: Some(research),
    };
    let inputs = Inputs {
        name: &name,
        date,
        ctx: &ctx,
        requirement_answers: &answers,
        decided: &decided,
    };
    let plan = assemble(&inputs)
        .and_then(|project| project.plan(&templates))
        .expect("the built-in templates render");
    println!("plan: {} files, {} bytes", plan.len(), plan.total_bytes());
    let requirements =
        arch_init::requirements::Requirements::derive(ctx.scalability, ctx.security, &answers);
    measure("model + verify + optimise replicas", || {
        black_box(arch_init::project::model_and_report(
            "ecommerce-platform",
            &decided.decision,
            &requirements,
        ));
    });
    measure("compile the built-in templates", || {
        black_box(arch_init::render::compile(TemplateSet::builtin()).expect("parses"));
    });
    measure("all of it: verify, ADR, session, parse + render", || {
        // As a run does it: the built-in set parsed as far as the plan needs it.
        let templates = arch_init::render::deferred(TemplateSet::builtin());
        black_box(
            assemble(&inputs)
                .and_then(|project| project.plan(&templates))
                .expect("renders"),
        );
    });
}
