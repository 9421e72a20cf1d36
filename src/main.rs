use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match arch_init::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return arch_init::error::usage(&err),
    };
    match arch_init::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}
