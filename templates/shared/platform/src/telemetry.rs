//! Structured logs and traces: `RUST_LOG` filters (default `info`), `LOG_FORMAT` picks JSON
//! lines or human-readable output. Human-readable output is coloured only on a terminal and
//! only while `NO_COLOR` is unset or empty (<https://no-color.org>); JSON never is.

use std::ffi::OsStr;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (several units in one process) are no-ops.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = use_colour(
        format,
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let _already_installed = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Whether logs in `format` get ANSI colours, given whether stdout is a terminal and the
/// value of `NO_COLOR` (`None` when unset). Any non-empty `NO_COLOR` turns colour off.
#[must_use]
pub fn use_colour(format: LogFormat, stdout_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    let colour_refused = no_color.is_some_and(|value| !value.is_empty());
    matches!(format, LogFormat::Pretty) && stdout_is_terminal && !colour_refused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_logs_on_a_terminal_are_coloured_unless_no_color_is_set() {
        assert!(use_colour(LogFormat::Pretty, true, None));
        assert!(
            use_colour(LogFormat::Pretty, true, Some(OsStr::new(""))),
            "an empty NO_COLOR counts as unset"
        );
        for value in ["1", "0", "false", "yes"] {
            assert!(
                !use_colour(LogFormat::Pretty, true, Some(OsStr::new(value))),
                "NO_COLOR={value}"
            );
        }
    }

    #[test]
    fn output_that_is_not_a_terminal_is_never_coloured() {
        assert!(!use_colour(LogFormat::Pretty, false, None));
        assert!(!use_colour(LogFormat::Pretty, false, Some(OsStr::new(""))));
    }

    #[test]
    fn json_logs_are_never_coloured() {
        assert!(!use_colour(LogFormat::Json, true, None));
        assert!(!use_colour(LogFormat::Json, false, None));
        assert!(!use_colour(LogFormat::Json, true, Some(OsStr::new("1"))));
    }
}
