//! `loadgen`: an open-loop load run of the architecture model's entry paths against the
//! gateway, ending in a report (Markdown, JSON, SVG) and a verdict on the invariants.
//!
//! The pipeline, in [`run`]: the mix ([`mix`], rendered from the model) and the flags give a
//! [`Schedule`] fixed in advance; setup registers customers and creates products through the
//! gateway; the driver sends every request at its intended start and records latencies from
//! that start in HDR histograms; then the orders are waited for and checked, and the report
//! is written. See README.md for why this is a few hundred lines on reqwest instead of goose.

mod api;
mod drive;
pub mod error;
pub mod flags;
mod journey;
pub mod markdown;
mod mix;
mod plot;
mod record;
pub mod report;
mod schedule;
mod settle;
mod setup;
mod watch;

use std::path::Path;
use std::sync::Arc;

use crate::api::Api;
use crate::drive::Limits;
use crate::error::Error;
use crate::flags::Flags;
use crate::journey::{Journey, Shop};
use crate::mix::ENTRIES;
use crate::report::{Inputs, Report};
use crate::schedule::Schedule;
use crate::setup::Plan;
use crate::watch::Sampler;

/// Runs the load described by `flags` and writes the report to `flags.out`; answers the
/// report, whose `passed` says whether every order settled and every invariant held.
///
/// # Panics
///
/// Only on a bug: an entry path of the model without a journey (a test guards that).
pub async fn run(flags: &Flags) -> Result<Report, Error> {
    let journeys: Vec<Journey> = ENTRIES
        .iter()
        .map(|e| Journey::of(e).expect("every entry path has a journey (tested)"))
        .collect();
    let weights = flags.weights();
    let target = flags.target.as_str().trim_end_matches('/');
    let schedule = Schedule::new(flags.rate, flags.duration, &weights);
    let count = |journey| {
        (0..journeys.len())
            .filter(|&e| journeys[e] == journey)
            .map(|e| schedule.count(e))
            .sum::<usize>()
    };
    let admin_password = flags
        .admin_password
        .as_deref()
        .filter(|password| !password.is_empty())
        .ok_or_else(|| Error::BadFlag {
            flag: crate::flags::ADMIN_PASSWORD.to_owned(),
            reason: format!(
                "unset: it is the password of `--admin-email {}`, the admin the devstack makes when started with DEVSTACK_ADMIN_EMAIL and DEVSTACK_ADMIN_PASSWORD",
                flags.admin_email
            ),
        })?;
    let targets = watch::resolve(&flags.watch)?;
    let api = Api::new(&flags.target, flags.timeout);
    api.wait_ready(flags.wait)
        .await
        .map_err(|reason| Error::Unreachable {
            target: target.to_owned(),
            reason,
        })?;

    let plan = Plan::new(
        usize::try_from(flags.products).unwrap_or(usize::MAX),
        count(Journey::Checkout),
        count(Journey::AddToCart),
        &flags.admin_email,
        admin_password,
    );
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    progress(&format!(
        "setting up {} customers and {} products through {}",
        plan.customers, plan.products, target
    ));
    let shop: Arc<Shop> = Arc::new(setup::prepare(api, &plan, &run_id).await?);

    progress(&format!(
        "sending {} requests at {}/s for {:?}",
        schedule.len(),
        flags.rate,
        flags.duration
    ));
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let watcher = Sampler::start(targets);
    let limits = Limits {
        max_in_flight: flags.max_in_flight,
        grace: flags.timeout,
    };
    let driven = drive::drive(shop.clone(), &schedule, &journeys, limits).await;
    let samples = watcher.stop().await;

    progress(&format!(
        "waiting up to {:?} for {} orders to settle",
        flags.settle_timeout,
        driven.orders.len()
    ));
    let settlement = settle::settle(&shop, &driven.orders, flags.settle_timeout).await;
    let report = Report::new(Inputs {
        flags,
        entries: ENTRIES,
        schedule: &schedule,
        driven: &driven,
        settlement: &settlement,
        samples: &samples,
        started_at: &started_at,
    });
    write(&report, &flags.out)?;
    Ok(report)
}

/// Writes `report.md`, `report.json` and `report.svg` into `dir`, creating it.
///
/// # Panics
///
/// Never: a report holds only numbers and strings, which always serialize.
pub fn write(report: &Report, dir: &Path) -> Result<(), Error> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    let json = serde_json::to_string_pretty(report).expect("a report always serializes");
    for (name, text) in [
        ("report.md", markdown::render(report)),
        ("report.json", json + "\n"),
        ("report.svg", plot::render(report)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(failed(&path))?;
    }
    progress(&format!(
        "wrote {}",
        dir.join("report.{md,json,svg}").display()
    ));
    Ok(())
}

/// A progress line on stderr (stdout carries the report).
fn progress(line: &str) {
    eprintln!("loadgen: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_without_the_admins_password_stops_before_any_request() {
        // Nothing listens on the discard port: a request would fail differently.
        let flags = Flags {
            target: "http://127.0.0.1:9".parse().unwrap(),
            ..Flags::default()
        };
        let Err(err) = run(&flags).await else {
            panic!("a run without DEVSTACK_ADMIN_PASSWORD went ahead");
        };
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.line().starts_with("`DEVSTACK_ADMIN_PASSWORD`: unset"),
            "{}",
            err.line()
        );
    }
}
