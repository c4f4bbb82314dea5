//! `kubectl flux-controllers`: are the Flux controllers keeping up?

use kubectl_flux_controllers::{Args, FORMATS, run};
use std::process::ExitCode;

// Objects are many small maps and strings, built on every core: mimalloc serves them with
// less locking and fewer page faults than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    kubectl_flux_cli::main::<Args>("flux-controllers", FORMATS, run)
}
