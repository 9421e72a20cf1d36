//! The cheapest replica counts satisfying every property, by exhaustive branch-and-bound.
//! Each unit ranges from the fewest replicas its load needs to `EXTRA_REPLICAS` more; the
//! search is exact over that space because availability and capacity only improve as a
//! unit gains replicas while cost only grows, so a branch is cut only when it cannot be
//! feasible or cannot be cheaper. Ties go to the lexicographically smallest counts.

use std::collections::BTreeMap;

use crate::model::ArchitectureModel;
use crate::requirements::Requirements;

use super::capacity::{
    across_regions, loads, read_replicas_needed, replicas_needed, touched, unit_availability,
};
use super::{Optimum, Sizing, Verdict, deployment, model_checks, ppm_floor, ppm_percent};

/// Replicas tried above the load minimum of each unit.
pub const EXTRA_REPLICAS: u32 = 8;

/// The fewest replicas of each unit that carry its load. Some load grows with the replicas
/// themselves (each client's retry floor, each relay's polls), so the counts are raised until
/// they carry the load they cause.
fn load_minimum(model: &ArchitectureModel, req: &Requirements) -> Result<Vec<u32>, String> {
    let mut lo: Vec<u32> = vec![1; model.units.len()];
    let mut sized = model.clone();
    for _ in 0..MINIMUM_ROUNDS {
        let loads = loads(&sized, req);
        let next = model
            .units
            .iter()
            .zip(&lo)
            .map(|(u, &l)| replicas_needed(&sized, &loads, u).map(|n| n.max(l)))
            .collect::<Result<Vec<u32>, String>>()?;
        if next == lo {
            return Ok(lo);
        }
        lo = next;
        sized = model.with_replicas(&counts(model, &lo));
    }
    Ok(lo)
}

/// Rounds of [`load_minimum`]: the load replicas cause is small beside what they carry, so
/// the counts settle in two or three.
const MINIMUM_ROUNDS: usize = 8;

/// Replica counts by unit name, in model order.
fn counts(model: &ArchitectureModel, replicas: &[u32]) -> BTreeMap<String, u32> {
    model
        .units
        .iter()
        .map(|u| u.name.clone())
        .zip(replicas.iter().copied())
        .collect()
}

/// The search problem: per-unit ranges, costs, and each entry path's availability terms.
struct Problem {
    lo: Vec<u32>,
    cost: Vec<u64>,
    /// `avail[u][i]` = availability of unit `u` with `lo[u] + i` replicas.
    avail: Vec<Vec<f64>>,
    /// Per entry path: unit indices and the product of its stores' availability.
    entries: Vec<(Vec<usize>, f64)>,
    target: u64,
}

impl Problem {
    fn new(model: &ArchitectureModel, req: &Requirements) -> Result<Self, String> {
        let lo = load_minimum(model, req)?;
        let avail = model
            .units
            .iter()
            .zip(&lo)
            .map(|(u, &l)| {
                (l..=l.saturating_add(EXTRA_REPLICAS))
                    .map(|r| unit_availability(&u.ops, r))
                    .collect()
            })
            .collect();
        let entries = model
            .entries
            .iter()
            .map(|e| {
                let (mut units, mut stores) = (Vec::new(), Vec::new());
                touched(&e.root, &mut units, &mut stores);
                let idx = units
                    .iter()
                    .filter_map(|n| model.units.iter().position(|u| &u.name == n))
                    .collect();
                (
                    idx,
                    stores
                        .iter()
                        .filter_map(|n| model.store(n))
                        .map(|s| s.availability)
                        .product(),
                )
            })
            .collect();
        let cost = model.units.iter().map(|u| u.ops.cost_cents).collect();
        Ok(Self {
            lo,
            cost,
            avail,
            entries,
            target: req.availability_ppm,
        })
    }

    /// Whether every entry path meets the target with offsets `pick` for the first units
    /// and the most replicas for the rest.
    fn feasible(&self, model: &ArchitectureModel, pick: &[u32]) -> bool {
        self.entries.iter().all(|(units, fixed)| {
            let a: f64 = units
                .iter()
                .map(|&u| {
                    pick.get(u)
                        .map_or(self.avail[u][EXTRA_REPLICAS as usize], |&i| {
                            self.avail[u][i as usize]
                        })
                })
                .product();
            ppm_floor(across_regions(model, a * fixed)) >= self.target
        })
    }

    fn search(&self, model: &ArchitectureModel) -> Option<Vec<u32>> {
        let mut best: Option<(u64, Vec<u32>)> = None;
        let mut pick = Vec::with_capacity(self.lo.len());
        self.descend(model, &mut pick, 0, &mut best);
        best.map(|(_, offsets)| offsets.iter().zip(&self.lo).map(|(i, l)| l + i).collect())
    }

    fn descend(
        &self,
        model: &ArchitectureModel,
        pick: &mut Vec<u32>,
        spent: u64,
        best: &mut Option<(u64, Vec<u32>)>,
    ) {
        let d = pick.len();
        if d == self.lo.len() {
            if best.as_ref().is_none_or(|(c, _)| spent < *c) {
                *best = Some((spent, pick.clone()));
            }
            return;
        }
        let rest: u64 = (d + 1..self.lo.len())
            .map(|j| u64::from(self.lo[j]) * self.cost[j])
            .sum();
        for i in 0..=EXTRA_REPLICAS {
            let here = spent + u64::from(self.lo[d] + i) * self.cost[d];
            if best.as_ref().is_some_and(|(c, _)| here + rest >= *c) {
                break;
            }
            pick.push(i);
            if self.feasible(model, pick) {
                self.descend(model, pick, here, best);
            }
            pick.pop();
        }
    }
}

/// The cheapest replica counts under which every check passes, or why there are none.
#[must_use]
pub fn optimise(model: &ArchitectureModel, req: &Requirements) -> Optimum {
    if model.units.is_empty() {
        return Optimum::NothingToSize;
    }
    let problem = match Problem::new(model, req) {
        Ok(p) => p,
        Err(reason) => {
            return Optimum::Infeasible {
                reasons: vec![reason],
                closest: None,
            };
        }
    };
    let Some(replicas) = problem.search(model) else {
        let mut reasons = Vec::new();
        for (e, (_, fixed)) in model.entries.iter().zip(&problem.entries) {
            let ceiling = ppm_floor(across_regions(model, *fixed));
            if ceiling < problem.target {
                reasons.push(format!(
                    "availability of {}: no replica count can work, its stores alone give {} < {}",
                    e.name,
                    ppm_percent(ceiling),
                    ppm_percent(problem.target)
                ));
            }
        }
        if reasons.is_empty() {
            reasons.push(format!("availability needs more than {EXTRA_REPLICAS} replicas above some unit's load minimum"));
        }
        return Optimum::Infeasible {
            reasons,
            closest: None,
        };
    };
    let replicas = counts(model, &replicas);
    let sized = model.with_replicas(&replicas);
    let read_replicas = read_replicas_needed(&sized, &loads(&sized, req));
    let sized = sized.with_read_replicas(&read_replicas);
    let sizing = Sizing {
        replicas,
        read_replicas,
        monthly_cost_cents: deployment::bill(&sized).iter().map(|i| i.cents).sum(),
    };
    let reasons: Vec<String> = model_checks(&sized, req)
        .into_iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .map(|c| format!("{} of {}: {}", c.property.label(), c.subject, c.detail))
        .collect();
    if reasons.is_empty() {
        Optimum::Found(sizing)
    } else {
        Optimum::Infeasible {
            reasons,
            closest: Some(sizing),
        }
    }
}
