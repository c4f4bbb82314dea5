//! `kubectl flux-reset`: the nuclear Flux reset, made safe and resumable.

use kubectl_flux_reset::{Args, FORMATS, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    kubectl_flux_shared::cli::main::<Args>("flux-reset", FORMATS, run)
}
