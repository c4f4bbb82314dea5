//! `kubectl flux-tenants`: per-tenant Flux load, the guilty tenant named with its reason,
//! isolation findings, budgets for CI and sizing advice.

mod args;
pub mod cost;
pub mod render;
pub mod tenants;

pub use args::{Args, Severity};
pub use render::FORMATS;

use kubectl_flux_cli::Resolved;
use kubectl_flux_cli::fleet::{self, Answers};
use kubectl_flux_model::error::{EXIT_FINDINGS, Error, Result};
use kubectl_flux_model::kinds::FLUX_KINDS;
use kubectl_flux_output::Printer;
use kubectl_flux_source::{self as source, Source, Want};
use tenants::Report;

/// What flux-tenants lists from a cluster: every Flux kind, Helm storage Secrets (`owner=helm`)
/// in full (the objects each HelmRelease applies are in their `data.release`), and the
/// Namespaces' metadata (their tenant label).
pub fn wants() -> Vec<Want> {
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    wants.push(Want::helm_storage());
    wants.push(Want::namespaces());
    wants
}

/// Runs the plugin; returns the exit code.
pub fn run(args: Args, resolved: Resolved) -> Result<u8> {
    kubectl_flux_cli::to_stdout(&resolved.output, |printers| answer(&args, &resolved, printers))
}

/// Reads what the command line asked about, prints the answer with every printer and returns
/// the exit code (3 when `--fail-on` findings exist).
pub fn answer(args: &Args, resolved: &Resolved, printers: &mut [Printer]) -> Result<u8> {
    let answers = fleet::answers(&resolved.origin, |source| report_of(source, args, resolved))?;
    for p in printers {
        render::write(p.out, &answers, &p.output)?;
    }
    let findings = match &answers {
        Answers::One(report) => report.findings.iter().collect::<Vec<_>>(),
        Answers::Fleet(outcomes) => {
            outcomes.iter().filter_map(|o| o.result.as_ref().ok()).flat_map(|r| &r.findings).collect()
        }
    };
    let hit = args.fail_on.is_some_and(|level| findings.iter().any(|f| f.severity >= level));
    Ok(if hit { EXIT_FINDINGS } else { 0 })
}

/// Reads one cluster (or snapshot), every namespace unless `-n` names one, and builds its report.
fn report_of(source: &Source, args: &Args, resolved: &Resolved) -> Result<Report> {
    let snapshot = source::load(source, &resolved.scope.namespaces_or_all(), &wants())?;
    tenants::build(&snapshot, args, &resolved.scope)
        .map_err(|message| Error::Malformed { file: source.describe(), message })
}
