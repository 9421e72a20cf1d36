//! Trace context across events, in the W3C `traceparent` format
//! (<https://www.w3.org/TR/trace-context/>): `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
//!
//! The simplest version that keeps a saga on one trace: an envelope carries the `traceparent`
//! of the moment it was wrapped ([`EventEnvelope::wrap`](crate::EventEnvelope::wrap) calls
//! [`for_new_event`]). A bus runs each handler inside [`scope`] with the context of the event
//! it delivers, so an event wrapped while handling one (also one written to an outbox and
//! published later by a relay) continues the incoming trace with a new span id. Outside any
//! handler a new trace starts. No spans are exported: the ids end up in logs and in the broker
//! record's `traceparent` header, where a collector or a person can follow them.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// One position in a trace: which trace, which span (the parent of whatever comes next), and
/// the sampling flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: u128,
    pub span_id: u64,
    pub flags: u8,
}

/// Why a `traceparent` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid traceparent `{0}`")]
pub struct InvalidTraceparent(pub String);

impl TraceContext {
    /// The start of a new trace (sampled).
    #[must_use]
    pub fn new_root() -> Self {
        Self {
            trace_id: nonzero_u128(),
            span_id: nonzero_u64(),
            flags: 1,
        }
    }

    /// The next span of the same trace.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            span_id: nonzero_u64(),
            ..*self
        }
    }

    /// The trace id as 32 lowercase hex digits, as logs show it.
    #[must_use]
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

impl FromStr for TraceContext {
    type Err = InvalidTraceparent;

    /// Parses version `00` (and, as the spec asks, the first four fields of a later version).
    /// All-zero ids and the version `ff` are invalid.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTraceparent(value.to_owned());
        let mut parts = value.trim().split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let well_formed = version.len() == 2
            && trace.len() == 32
            && span.len() == 16
            && flags.len() == 2
            && [version, trace, span, flags]
                .iter()
                .all(|part| part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        if !well_formed || version == "ff" || (version == "00" && parts.next().is_some()) {
            return Err(invalid());
        }
        let context = Self {
            trace_id: u128::from_str_radix(trace, 16).map_err(|_| invalid())?,
            span_id: u64::from_str_radix(span, 16).map_err(|_| invalid())?,
            flags: u8::from_str_radix(flags, 16).map_err(|_| invalid())?,
        };
        if context.trace_id == 0 || context.span_id == 0 {
            return Err(invalid());
        }
        Ok(context)
    }
}

/// The context of the event being handled on this task, if any.
#[must_use]
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|context| *context).ok()
}

/// The context for an event created now: a child of the event being handled, or a new trace.
#[must_use]
pub fn for_new_event() -> TraceContext {
    current().map_or_else(TraceContext::new_root, |context| context.child())
}

/// Runs `work` with `context` as the current trace context (a bus wraps each handler call).
pub async fn scope<F: Future>(context: TraceContext, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

fn nonzero_u128() -> u128 {
    Uuid::new_v4().as_u128().max(1)
}

fn nonzero_u64() -> u64 {
    // The low half of a v4 uuid is random apart from the variant bits.
    u64::try_from(Uuid::new_v4().as_u128() & u128::from(u64::MAX))
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_round_trips_through_its_traceparent() {
        let context = TraceContext::new_root();
        let header = context.to_string();
        assert_eq!(header.len(), 55, "{header}");
        assert!(
            header.starts_with("00-") && header.ends_with("-01"),
            "{header}"
        );
        assert_eq!(header.parse::<TraceContext>().unwrap(), context);
    }

    #[test]
    fn the_spec_example_parses() {
        let context: TraceContext = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap();
        assert_eq!(context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id, 0x00f0_67aa_0ba9_02b7);
        assert_eq!(context.flags, 1);
    }

    #[test]
    fn malformed_values_are_refused() {
        for value in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert!(value.parse::<TraceContext>().is_err(), "{value:?}");
        }
    }

    #[test]
    fn a_later_version_with_more_fields_is_read() {
        let context: TraceContext = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more"
            .parse()
            .unwrap();
        assert_eq!(context.span_id, 0x00f0_67aa_0ba9_02b7);
    }

    #[tokio::test]
    async fn events_created_while_handling_one_continue_its_trace() {
        assert!(current().is_none());
        let incoming = TraceContext::new_root();
        let created = scope(incoming, async { for_new_event() }).await;
        assert_eq!(created.trace_id, incoming.trace_id);
        assert_ne!(created.span_id, incoming.span_id);
        let unrelated = for_new_event();
        assert_ne!(unrelated.trace_id, incoming.trace_id);
    }
}
