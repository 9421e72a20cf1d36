//! The command line as a user meets it: exit codes, what stderr says, what stdout holds, and
//! what is (or is not) on disk afterwards.

mod bad_input;
mod generate;
mod help;
mod subcommands;
mod support;
