//! Every way arch-init can fail, what exit code each gets, and how it is printed: one line on
//! stderr, `error: ` then the whole cause chain joined by `: `.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::context::AnswersError;
use crate::requirements::RequirementError;

/// A failure of a run. Variants name what the user can get wrong and carry the value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadName(#[from] crate::name::NameError),

    #[error("cannot read answers file `{path}`")]
    AnswersUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {source}", path = path.display())]
    BadAnswers {
        path: PathBuf,
        #[source]
        source: AnswersError,
    },

    #[error("{path}: {source}", path = path.display())]
    BadRequirements {
        path: PathBuf,
        #[source]
        source: RequirementError,
    },

    #[error("{0}")]
    BadRequirementFlag(RequirementError),

    #[error(
        "no request path `{name}` in the architecture model for a latency bound; the model has: {known}"
    )]
    UnknownEntry { name: String, known: String },

    #[error(
        "no terminal to ask the questions on: pass `--yes` to accept the recommendation with the answers given as flags or `--answers FILE`"
    )]
    NeedsYes,

    #[error("interrupted; nothing was written")]
    Interrupted,

    #[error(
        "target directory `{path}` exists and is not empty: choose another `--output`, empty it, or pass `--force` to write over it",
        path = path.display()
    )]
    TargetNotEmpty { path: PathBuf },

    #[error("target `{path}` is not a directory (or lies below a file): choose another `--output`", path = path.display())]
    TargetNotDirectory { path: PathBuf },

    #[error("cannot write into `{path}` ({reason}): choose another `--output`", path = path.display())]
    TargetNotWritable { path: PathBuf, reason: String },

    #[error("no unit `{name}` in the architecture model; it has: {known}")]
    UnknownUnit { name: String, known: String },

    #[error("templates directory `{path}`: {reason}", path = path.display())]
    BadTemplatesDir { path: PathBuf, reason: String },

    #[error("template `{template}` line {line}: {reason}")]
    BadTemplate {
        template: String,
        line: String,
        reason: String,
    },

    #[error("failed to render built-in template `{template}`: {reason}")]
    Render { template: String, reason: String },

    #[error("export directory `{path}` exists and is not empty: choose an empty or new directory", path = path.display())]
    ExportNotEmpty { path: PathBuf },

    #[error("measurement `{path}`: {reason}", path = path.display())]
    BadMeasurement { path: PathBuf, reason: String },

    #[error("figures `{path}`: {reason}", path = path.display())]
    BadFigures { path: PathBuf, reason: String },

    #[error("{count} propert{ies} FAILED verification; change the requirements or the architecture", ies = if *count == 1 { "y" } else { "ies" })]
    VerificationFailed { count: usize },

    #[error("{count} propert{ies} FAILED verification and `--strict` is set, so nothing was written; `arch-init verify` with the same answers shows why", ies = if *count == 1 { "y" } else { "ies" })]
    StrictVerification { count: usize },

    #[error("cannot {action} `{path}`", path = path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write to standard output")]
    Stdout(#[source] std::io::Error),
}

impl Error {
    /// The process exit code: 2 for bad input, 130 for an interrupted prompt, 1 otherwise.
    #[must_use]
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::BadName(_)
            | Self::AnswersUnreadable { .. }
            | Self::BadAnswers { .. }
            | Self::BadRequirements { .. }
            | Self::BadRequirementFlag(_)
            | Self::UnknownEntry { .. }
            | Self::UnknownUnit { .. }
            | Self::NeedsYes
            | Self::TargetNotEmpty { .. }
            | Self::TargetNotDirectory { .. }
            | Self::TargetNotWritable { .. }
            | Self::BadTemplatesDir { .. }
            | Self::BadTemplate { .. }
            | Self::ExportNotEmpty { .. }
            | Self::BadMeasurement { .. }
            | Self::BadFigures { .. } => 2,
            Self::Interrupted => 130,
            Self::Render { .. }
            | Self::VerificationFailed { .. }
            | Self::StrictVerification { .. }
            | Self::Io { .. }
            | Self::Stdout(_) => 1,
        }
    }

    /// The one line printed for this error: the message and every cause, joined by `: `.
    #[must_use]
    pub(crate) fn line(&self) -> String {
        let mut line = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            // Variants that already print their source inline would repeat it.
            if !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            source = cause.source();
        }
        // Causes may span lines (parsers quote the source); values keep their own spaces.
        line.lines()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Prints `error: <line>` on stderr and returns the exit code.
    #[must_use]
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {}", self.line());
        ExitCode::from(self.exit_code())
    }
}

/// Clap's verdict on the command line: help and version print as clap prints them; a usage
/// error becomes one `error:` line (clap's lines joined, its usage block dropped), exit 2.
#[must_use]
pub fn usage(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
    }
    let text = err.render().to_string();
    let line = text
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("{line} (see `arch-init --help`)");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_joins_causes_and_fits_on_one_line() {
        let err = Error::Io {
            action: "create",
            path: PathBuf::from("out/x"),
            source: std::io::Error::other("disk\nfull"),
        };
        assert_eq!(err.line(), "cannot create `out/x`: disk full");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn bad_input_exits_with_two() {
        assert_eq!(Error::NeedsYes.exit_code(), 2);
        assert_eq!(
            Error::TargetNotEmpty {
                path: "shop".into()
            }
            .exit_code(),
            2
        );
        assert_eq!(Error::Interrupted.exit_code(), 130);
    }
}
