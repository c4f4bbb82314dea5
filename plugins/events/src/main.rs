//! `kubectl flux-events`: one classified timeline of Flux events and controller logs.

use kubectl_flux_events::{Args, FORMATS, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    kubectl_flux_shared::cli::main::<Args>("flux-events", FORMATS, run)
}
