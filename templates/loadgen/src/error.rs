//! Every way a load run can fail before it has a report, the exit code each gets, and how it
//! is printed: one line on stderr. A run that finishes but finds a broken invariant is no
//! error: it has a report, and `main` turns its verdict into [`EXIT_VIOLATED`].

use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code of a finished run whose orders did not all settle or whose invariants broke.
pub const EXIT_VIOLATED: u8 = 3;

/// Why the load generator stopped without a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag is unknown, lacks its value or has one it cannot use.
    #[error("`{flag}`: {reason} (see `loadgen --help`)")]
    BadFlag { flag: String, reason: String },
    /// Nothing answers at the target, or it never became ready.
    #[error(
        "cannot reach the gateway at `{target}`: {reason}; start the devstack first (`make load` starts one)"
    )]
    Unreachable { target: String, reason: String },
    /// A setup call (registering, creating products, filling carts) was refused.
    #[error("setup: `{call}` answered {status}: {hint}")]
    Setup {
        call: String,
        status: String,
        hint: String,
    },
    /// The report could not be written.
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// 2 for bad flags, 1 for everything else.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::BadFlag { .. } => 2,
            Self::Unreachable { .. } | Self::Setup { .. } | Self::Write { .. } => 1,
        }
    }

    /// The message and every cause, joined by `: ` on one line.
    #[must_use]
    pub fn line(&self) -> String {
        let mut line = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            line.push_str(": ");
            line.push_str(&cause.to_string());
            source = cause.source();
        }
        line.lines().map(str::trim).collect::<Vec<_>>().join(" ")
    }

    /// Prints `error: <line>` on stderr and returns the exit code.
    #[must_use]
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {}", self.line());
        ExitCode::from(self.exit_code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_flags_exit_with_two_and_everything_else_with_one() {
        let bad = Error::BadFlag {
            flag: "--rate 0".into(),
            reason: "must be at least 1".into(),
        };
        assert_eq!(bad.exit_code(), 2);
        assert_eq!(
            bad.line(),
            "`--rate 0`: must be at least 1 (see `loadgen --help`)"
        );
        let unreachable = Error::Unreachable {
            target: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
        };
        assert_eq!(unreachable.exit_code(), 1);
        assert!(!unreachable.line().contains('\n'));
    }

    #[test]
    fn a_write_error_names_the_path_and_its_cause_on_one_line() {
        let err = Error::Write {
            path: "out/report.md".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(err.line(), "cannot write `out/report.md`: disk full");
    }
}
