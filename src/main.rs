//! The `continuum-vault` command: parse, run, print the error chain, map it to an exit code.

mod cli;

use std::process::ExitCode;

/// Every block the process frees is zeroed first: whatever a dependency leaves in memory it
/// frees (age's 64 KiB plaintext chunk, a parser's scratch buffer) is gone once freed.
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

fn main() -> ExitCode {
    cli::run()
}
