use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match arch_init::run(arch_init::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}
