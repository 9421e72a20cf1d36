//! Words for the numbers: the rationale (the primary's largest contributions), and why each
//! alternative lost (its own worst contribution, or where the primary gained most over it).
//! Only reads scores already computed; never changes a number.

use super::{Alternative, Contribution, Score};
use crate::context::Question;

/// How many of the primary's contributions the rationale names.
const RATIONALE_LINES: usize = 4;

/// "Team size" for `team_size`, "Baseline" for `base`.
pub(super) fn label(factor: &str) -> &'static str {
    Question::find(factor).map_or("Baseline", |question| question.label)
}

/// "(+20: team size `15-50`)", or "(-20)" for the base.
fn cite(contribution: &Contribution) -> String {
    if contribution.factor == "base" {
        format!("({:+})", contribution.points)
    } else {
        let label = label(contribution.factor).to_lowercase();
        format!(
            "({:+}: {label} `{}`)",
            contribution.points, contribution.answer
        )
    }
}

pub(super) fn rationale(best: &Score) -> Vec<String> {
    let mut positive: Vec<&Contribution> =
        best.contributions.iter().filter(|c| c.points > 0).collect();
    positive.sort_by_key(|contribution| std::cmp::Reverse(contribution.points));
    let mut lines: Vec<String> = positive
        .into_iter()
        .take(RATIONALE_LINES)
        .map(|contribution| {
            format!(
                "{} {}",
                capitalised(&contribution.reason),
                cite(contribution)
            )
        })
        .collect();
    if lines.is_empty() {
        lines.push("no answer favours it strongly, but every other paradigm fits worse".to_owned());
    }
    lines
}

pub(super) fn alternative(best: &Score, other: &Score) -> Alternative {
    let gap = best.total - other.total;
    let points = |score: &Score, factor: &str| {
        score
            .contributions
            .iter()
            .find(|c| c.factor == factor)
            .map_or(0, |c| c.points)
    };
    // The factor where the primary gained most over this paradigm explains the gap best; on
    // equal gains, one where this paradigm loses points says "why not" in its own words.
    let own_loss = |factor: &str| {
        other
            .contributions
            .iter()
            .any(|c| c.factor == factor && c.points < 0)
    };
    let deciding = best
        .contributions
        .iter()
        .chain(&other.contributions)
        .map(|c| {
            (
                points(best, c.factor) - points(other, c.factor),
                own_loss(c.factor),
                c.factor,
            )
        })
        .filter(|(difference, _, _)| *difference > 0)
        .rev()
        .max_by_key(|(difference, own_loss, _)| (*difference, *own_loss))
        .map(|(_, _, factor)| factor);
    let behind = format!("{gap} points behind {}", best.paradigm.name());
    let own = |factor| {
        other
            .contributions
            .iter()
            .find(|c| c.factor == factor && c.points < 0)
    };
    let theirs = |factor| best.contributions.iter().find(|c| c.factor == factor);
    let why_not = match (deciding.and_then(own), deciding.and_then(theirs)) {
        (Some(own), _) => format!("{behind}: {} {}", own.reason, cite(own)),
        (None, Some(theirs)) => {
            let (reason, cited) = (&theirs.reason, cite(theirs));
            format!("{behind}, which gains more here: {reason} {cited}")
        }
        (None, None) => format!("{behind}: scores the same and comes later in catalog order"),
    };
    Alternative {
        paradigm: other.paradigm,
        score: other.total,
        gap,
        why_not,
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
