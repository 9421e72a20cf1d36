//! `cargo run --release -p loadgen -- --help`: parse the flags, run, and turn the outcome into
//! the exit code CI reads (see `loadgen::flags::HELP`).

use std::process::ExitCode;

use loadgen::error::EXIT_VIOLATED;
use loadgen::flags::{ADMIN_PASSWORD, Command, Flags, HELP};

#[tokio::main]
async fn main() -> ExitCode {
    let flags = match Flags::parse(std::env::args().skip(1)) {
        Ok(Command::Run(mut flags)) => {
            flags.admin_password = std::env::var(ADMIN_PASSWORD).ok();
            flags
        }
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(err) => return err.report(),
    };
    match loadgen::run(&flags).await {
        Ok(report) => {
            print!("{}", loadgen::markdown::render(&report));
            if report.passed {
                ExitCode::SUCCESS
            } else {
                eprintln!("error: orders did not settle or an invariant broke; see the report");
                ExitCode::from(EXIT_VIOLATED)
            }
        }
        Err(err) => err.report(),
    }
}
