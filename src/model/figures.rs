//! Measured figures: planning figures replaced by what someone measured (`verify --figures
//! FILE`), each keyed as the report's assumed list names it (`subject.figure`). A figure set
//! here is marked measured, so it leaves the assumed list; a key the model does not have is an
//! error naming the figures it does have, never silently ignored.

use std::collections::BTreeMap;

use super::ArchitectureModel;

/// A figure key that cannot be applied, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FigureError {
    /// The subject is no unit, store or topic of the model.
    #[error("`{key}`: the model has no unit, store or topic `{subject}`")]
    UnknownSubject { key: String, subject: String },
    /// The subject has no such figure.
    #[error("`{key}`: a {kind} has no figure `{figure}` (it has: {known})")]
    UnknownFigure {
        key: String,
        kind: &'static str,
        figure: String,
        known: &'static str,
    },
    /// The value is out of the figure's range.
    #[error("`{key}` = {value}: {reason}")]
    OutOfRange {
        key: String,
        value: f64,
        reason: &'static str,
    },
}

const UNIT_FIGURES: &str = "p50_ms, p99_ms, capacity_rps, availability, error_rate, cost_cents";
const STORE_FIGURES: &str = "p99_ms, capacity_rps, availability, cost_cents, replica_lag_ms";
const TOPIC_FIGURES: &str = "outbox_poll_ms, outbox_batch, delivery_p99_ms, per_order";

/// `value` as a whole number of at most [`MAX`].
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "checked to be a whole number within range first"
)]
fn whole(key: &str, value: f64) -> Result<u64, FigureError> {
    if value.fract() != 0.0 || value < 0.0 || value > MAX as f64 {
        return Err(FigureError::OutOfRange {
            key: key.to_owned(),
            value,
            reason: "must be a whole number from 0 to 10^9",
        });
    }
    Ok(value as u64)
}

/// A percentage as a probability.
fn percent(key: &str, value: f64) -> Result<f64, FigureError> {
    if (0.0..=100.0).contains(&value) {
        Ok(value / 100.0)
    } else {
        Err(FigureError::OutOfRange {
            key: key.to_owned(),
            value,
            reason: "a percentage must be from 0 to 100",
        })
    }
}

/// The largest whole figure taken (the error message says 10^9).
const MAX: u64 = 1_000_000_000;

impl ArchitectureModel {
    /// The model with `figures` (`subject.figure` → value; availability and error rate in
    /// percent) set and marked measured.
    ///
    /// # Errors
    /// The first key naming no subject or figure of the model, or a value out of range.
    pub fn with_figures(&self, figures: &BTreeMap<String, f64>) -> Result<Self, FigureError> {
        let mut model = self.clone();
        for (key, &value) in figures {
            let Some((subject, figure)) = key.rsplit_once('.') else {
                return Err(FigureError::UnknownSubject {
                    key: key.clone(),
                    subject: key.clone(),
                });
            };
            let unknown = |kind, known| FigureError::UnknownFigure {
                key: key.clone(),
                kind,
                figure: figure.to_owned(),
                known,
            };
            if let Some(unit) = model.unit_mut(subject) {
                let ops = &mut unit.ops;
                match figure {
                    "p50_ms" => ops.p50_ms = whole(key, value)?,
                    "p99_ms" => ops.p99_ms = whole(key, value)?,
                    "capacity_rps" => ops.capacity_rps = whole(key, value)?,
                    "cost_cents" => ops.cost_cents = whole(key, value)?,
                    "availability" => ops.availability = percent(key, value)?,
                    "error_rate" => ops.error_rate = percent(key, value)?,
                    _ => return Err(unknown("unit", UNIT_FIGURES)),
                }
            } else if let Some(store) = model.store_mut(subject) {
                match figure {
                    "p99_ms" => store.p99_ms = whole(key, value)?,
                    "capacity_rps" => store.capacity_rps = whole(key, value)?,
                    "cost_cents" => store.cost_cents = whole(key, value)?,
                    "replica_lag_ms" => store.replica_lag_ms = whole(key, value)?,
                    "availability" => store.availability = percent(key, value)?,
                    _ => return Err(unknown("store", STORE_FIGURES)),
                }
            } else if let Some(topic) = model.topics.iter_mut().find(|t| t.name == subject) {
                match figure {
                    "outbox_poll_ms" => topic.outbox_poll_ms = whole(key, value)?,
                    "outbox_batch" => topic.outbox_batch = whole(key, value)?,
                    "delivery_p99_ms" => topic.delivery_p99_ms = whole(key, value)?,
                    "per_order" => topic.per_order = whole(key, value)?,
                    _ => return Err(unknown("topic", TOPIC_FIGURES)),
                }
            } else {
                return Err(FigureError::UnknownSubject {
                    key: key.clone(),
                    subject: subject.to_owned(),
                });
            }
            model.mark_measured(key.clone());
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn a_measured_figure_replaces_the_planning_default_and_leaves_the_assumed_list() {
        let model = ArchitectureModel::microservices("shop");
        let measured = model
            .with_figures(&figures(&[
                ("payment-provider.p99_ms", 50.0),
                ("order-service.availability", 99.9),
                ("order.created.outbox_batch", 500.0),
            ]))
            .unwrap();
        assert_eq!(measured.store("payment-provider").unwrap().p99_ms, 50);
        assert!((measured.unit("order-service").unwrap().ops.availability - 0.999).abs() < 1e-12);
        assert_eq!(measured.topic("order.created").unwrap().outbox_batch, 500);
        let assumed: Vec<String> = measured.assumed().into_iter().map(|a| a.key).collect();
        assert!(!assumed.contains(&"payment-provider.p99_ms".to_owned()));
        assert!(assumed.contains(&"payment-service.p99_ms".to_owned()));
    }

    #[test]
    fn an_unknown_key_or_a_bad_value_is_refused_with_what_the_model_has() {
        let model = ArchitectureModel::microservices("shop");
        for (key, value, says) in [
            (
                "basket-service.p99_ms",
                1.0,
                "the model has no unit, store or topic `basket-service`",
            ),
            (
                "order-db.p50_ms",
                1.0,
                "a store has no figure `p50_ms` (it has: p99_ms, capacity_rps",
            ),
            (
                "order-service.latency",
                1.0,
                "a unit has no figure `latency`",
            ),
            ("order-service.p99_ms", 1.5, "must be a whole number"),
            (
                "order-db.availability",
                101.0,
                "a percentage must be from 0 to 100",
            ),
            (
                "p99_ms",
                1.0,
                "the model has no unit, store or topic `p99_ms`",
            ),
        ] {
            let err = model.with_figures(&figures(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(says), "{key}: {err}");
        }
    }
}
