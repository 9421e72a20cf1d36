//! Ctrl-C: restore the terminal a prompt may have changed (a hidden cursor), remove a
//! half-staged project, say so in one line and exit 130. Nothing reaches the target
//! directory before the final rename, so nothing else needs undoing.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

/// The staging directory being filled, if any; `write` registers and clears it.
static STAGING: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Remembers the staging directory to remove if the user interrupts (`None` when done).
pub(crate) fn staging(path: Option<PathBuf>) {
    *STAGING.lock().unwrap_or_else(PoisonError::into_inner) = path;
}

/// Installs the handler; a second call (tests running `run` twice) keeps the first.
pub(crate) fn install() {
    let _already_installed = ctrlc::set_handler(|| {
        let _ = console::Term::stderr().show_cursor();
        if let Some(path) = STAGING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = std::fs::remove_dir_all(path);
        }
        eprintln!();
        eprintln!("error: {}", crate::error::Error::Interrupted);
        std::process::exit(130);
    });
}
