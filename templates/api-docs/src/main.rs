//! Prints the `OpenAPI` document generated from the code, or with `--write` rewrites
//! `docs/api/openapi.yaml`, or with `--check` fails if that file is out of date.

use std::process::ExitCode;

fn main() -> ExitCode {
    let yaml = api_docs::yaml();
    let path = api_docs::document_path();
    match std::env::args().nth(1).as_deref() {
        None => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Some("--write") => match std::fs::write(&path, yaml) {
            Ok(()) => {
                eprintln!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("cannot write {}: {err}", path.display());
                ExitCode::FAILURE
            }
        },
        Some("--check") => {
            if std::fs::read_to_string(&path).is_ok_and(|committed| committed == yaml) {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "{} is out of date; run `{}`",
                    path.display(),
                    api_docs::REGENERATE
                );
                ExitCode::FAILURE
            }
        }
        Some(other) => {
            eprintln!("unknown argument `{other}`; usage: api-docs [--write | --check]");
            ExitCode::from(2)
        }
    }
}
