//! `kubectl flux-ratelimit`: GitHub API budget per credential.

use kubectl_flux_ratelimit::{Args, FORMATS, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    kubectl_flux_shared::cli::main::<Args>("flux-ratelimit", FORMATS, run)
}
