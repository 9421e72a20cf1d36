//! Validation shared by the requirement flags and the answers file's `[requirements]`
//! table: one range per setting, and errors that show the setting as the user wrote it.

use serde_json::Value;

use super::{RequirementAnswers, RequirementArgs, RequirementError};

/// Where a setting came from; decides how an error shows it.
#[derive(Clone, Copy)]
pub(super) enum Syntax {
    Toml,
    Json,
    Flag,
}

const KEYS: [&str; 12] = [
    "orders_per_second",
    "requests_per_second",
    "p99_ms",
    "entry_p99_ms",
    "availability",
    "error_rate",
    "monthly_budget",
    "rto",
    "rpo",
    "order_confirmed_p99",
    "order_confirmed_within",
    "stock_visible_within",
];

fn shown(syntax: Syntax, key: &str, value: &str) -> String {
    match syntax {
        Syntax::Toml => format!("`{key} = {value}`"),
        Syntax::Json => format!("`\"{key}\": {value}`"),
        Syntax::Flag => format!("`--{} {value}`", key.replace('_', "-")),
    }
}

/// A whole number in `min..=max`.
fn whole(
    syntax: Syntax,
    key: &str,
    value: &Value,
    min: u64,
    max: u64,
    expected: &'static str,
) -> Result<u64, RequirementError> {
    let setting = || shown(syntax, key, &value.to_string());
    let n = value.as_u64().ok_or_else(|| match value {
        Value::Number(_) => RequirementError::OutOfRange {
            setting: setting(),
            expected,
        },
        _ => RequirementError::WrongType {
            setting: setting(),
            expected: "a whole number",
        },
    })?;
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(RequirementError::OutOfRange {
            setting: setting(),
            expected,
        })
    }
}

/// A decimal in `min..=max`, scaled by `scale` and rounded to an integer.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "range-checked, non-negative, far below 2^53"
)]
fn scaled(
    syntax: Syntax,
    key: &str,
    value: &Value,
    (min, max): (f64, f64),
    scale: f64,
    expected: &'static str,
) -> Result<u64, RequirementError> {
    let setting = || shown(syntax, key, &value.to_string());
    let x = value.as_f64().ok_or_else(|| RequirementError::WrongType {
        setting: setting(),
        expected: "a number",
    })?;
    if x.is_finite() && x >= min && x <= max {
        Ok((x * scale).round() as u64)
    } else {
        Err(RequirementError::OutOfRange {
            setting: setting(),
            expected,
        })
    }
}

const SECONDS: &str = "whole seconds from 1 to 86400";

fn apply(
    out: &mut RequirementAnswers,
    syntax: Syntax,
    key: &str,
    value: &Value,
) -> Result<(), RequirementError> {
    let count = |max, expected| whole(syntax, key, value, 1, max, expected).map(Some);
    let percent = |range, expected| scaled(syntax, key, value, range, 10_000.0, expected).map(Some);
    let secs = |min| {
        let expected = if min == 0 {
            "whole seconds from 0 to 86400"
        } else {
            SECONDS
        };
        whole(syntax, key, value, min, 86_400, expected).map(Some)
    };
    match key {
        "orders_per_second" => {
            out.orders_per_second = count(1_000_000, "a whole number from 1 to 1000000")?;
        }
        "requests_per_second" => {
            out.requests_per_second = count(10_000_000, "a whole number from 1 to 10000000")?;
        }
        "p99_ms" => out.p99_ms = count(60_000, "whole milliseconds from 1 to 60000")?,
        "availability" => {
            out.availability_ppm = percent(
                (90.0, 99.9999),
                "a percentage from 90 to 99.9999, e.g. 99.9",
            )?;
        }
        "error_rate" => {
            out.error_rate_ppm =
                percent((0.0001, 50.0), "a percentage from 0.0001 to 50, e.g. 0.1")?;
        }
        "monthly_budget" => {
            out.monthly_budget_cents = Some(scaled(
                syntax,
                key,
                value,
                (0.0, 100_000_000.0),
                100.0,
                "dollars from 0 to 100000000",
            )?);
        }
        "rto" => out.rto = secs(1)?,
        "rpo" => out.rpo = secs(0)?,
        "order_confirmed_p99" => out.order_confirmed_p99 = secs(1)?,
        "order_confirmed_within" => out.order_confirmed_within = secs(1)?,
        "stock_visible_within" => out.stock_visible_within = secs(0)?,
        "entry_p99_ms" => {
            let Value::Object(table) = value else {
                let setting = shown(syntax, key, &value.to_string());
                return Err(RequirementError::WrongType {
                    setting,
                    expected: "a table of entry path = milliseconds",
                });
            };
            for (entry, ms) in table {
                let ms = whole(
                    syntax,
                    &format!("{key}.{entry}"),
                    ms,
                    1,
                    60_000,
                    "whole milliseconds from 1 to 60000",
                )?;
                out.entry_p99_ms.insert(entry.clone(), ms);
            }
        }
        _ => {
            let known = KEYS.map(|k| format!("`{k}`")).join(", ");
            return Err(RequirementError::UnknownKey {
                key: key.to_owned(),
                known,
            });
        }
    }
    Ok(())
}

pub(super) fn from_table(
    value: &Value,
    syntax: Syntax,
) -> Result<RequirementAnswers, RequirementError> {
    let Value::Object(table) = value else {
        return Err(RequirementError::NotATable);
    };
    let mut out = RequirementAnswers::default();
    for (key, value) in table {
        apply(&mut out, syntax, key, value)?;
    }
    Ok(out)
}

pub(super) fn from_args(args: &RequirementArgs) -> Result<RequirementAnswers, RequirementError> {
    let mut out = RequirementAnswers::default();
    let whole_flags = [
        ("orders_per_second", args.orders_per_second),
        ("requests_per_second", args.requests_per_second),
        ("p99_ms", args.p99_ms),
        ("rto", args.rto),
        ("rpo", args.rpo),
        ("order_confirmed_p99", args.order_confirmed_p99),
        ("order_confirmed_within", args.order_confirmed_within),
        ("stock_visible_within", args.stock_visible_within),
    ];
    for (key, value) in whole_flags {
        if let Some(v) = value {
            apply(&mut out, Syntax::Flag, key, &Value::from(v))?;
        }
    }
    for (key, value) in [
        ("availability", args.availability),
        ("error_rate", args.error_rate),
        ("monthly_budget", args.monthly_budget),
    ] {
        if let Some(v) = value {
            // A NaN or infinite flag has no JSON number; show it as typed and reject it.
            let Some(number) = serde_json::Number::from_f64(v) else {
                return Err(RequirementError::OutOfRange {
                    setting: shown(Syntax::Flag, key, &v.to_string()),
                    expected: "a finite number",
                });
            };
            // Whole values stay integers so errors show `120`, as typed, not `120.0`.
            #[allow(
                clippy::cast_possible_truncation,
                reason = "whole and within i64 range"
            )]
            let json = if v.fract() == 0.0 && v.abs() < 1e15 {
                Value::from(v as i64)
            } else {
                Value::Number(number)
            };
            apply(&mut out, Syntax::Flag, key, &json)?;
        }
    }
    for pair in &args.entry_p99 {
        let bad = || RequirementError::WrongType {
            setting: format!("`--entry-p99 {pair}`"),
            expected: "`ENTRY=MS`, e.g. `checkout=300`",
        };
        let (entry, ms) = pair.split_once('=').ok_or_else(bad)?;
        let ms: u64 = ms.trim().parse().map_err(|_| bad())?;
        if !(1..=60_000).contains(&ms) || entry.trim().is_empty() {
            return Err(RequirementError::OutOfRange {
                setting: format!("`--entry-p99 {pair}`"),
                expected: "an entry path name and whole milliseconds from 1 to 60000",
            });
        }
        out.entry_p99_ms.insert(entry.trim().to_owned(), ms);
    }
    Ok(out)
}
