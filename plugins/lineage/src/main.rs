//! `kubectl flux-lineage`: the dependency and ownership chain around any object.

use kubectl_flux_lineage::{Args, FORMATS, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    kubectl_flux_shared::cli::main::<Args>("flux-lineage", FORMATS, run)
}
