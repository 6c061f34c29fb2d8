//! The `continuum-vault` command: parse, run, print the error chain, map it to an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
