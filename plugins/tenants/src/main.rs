//! `kubectl flux-tenants`: per-tenant Flux load and the guilty tenant.

use kubectl_flux_tenants::{Args, FORMATS, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    kubectl_flux_shared::cli::main::<Args>("flux-tenants", FORMATS, run)
}
