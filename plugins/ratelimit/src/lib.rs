//! `kubectl flux-ratelimit`: GitHub API budget per credential, time to exhaustion, the cheapest
//! fix, and the rate-limit errors already visible.

mod args;
pub mod budget;
pub mod check;
pub mod fix;
pub mod reads;
pub mod render;

pub use args::{Args, FailOn};
pub use render::FORMATS;

use budget::{Analysis, Budget};
use kubectl_flux_cli::Resolved;
use kubectl_flux_cli::fleet::{self, Answers};
use kubectl_flux_model::error::{EXIT_FINDINGS, Error, Result};
use kubectl_flux_output::Printer;
use kubectl_flux_source::{self as source, Source};

pub use reads::first as wants;

/// Runs the plugin; returns the exit code.
pub fn run(args: Args, resolved: Resolved) -> Result<u8> {
    kubectl_flux_cli::to_stdout(&resolved.output, |printers| answer(&args, &resolved, printers))
}

/// Reads and analyses what the command line asked about (asking GitHub with `--check`), prints
/// the answer with every printer and returns the exit code `--fail-on` asks for.
pub fn answer(args: &Args, resolved: &Resolved, printers: &mut [Printer]) -> Result<u8> {
    let answers = fleet::answers(&resolved.origin, |source| analyse_cluster(source, args, resolved))?;
    let merged;
    let analysis = match &answers {
        Answers::One(analysis) => analysis,
        Answers::Fleet(outcomes) => {
            merged = budget::merge_fleet(outcomes);
            &merged
        }
    };
    let checks = check::all(analysis, args, resolved.request_timeout);
    for p in printers {
        render::write(p.out, &answers, analysis, &checks, args, &p.output)?;
    }
    let over = |b: &Budget, level: f64| b.utilisation().is_some_and(|u| u > level);
    let hit = match args.fail_on {
        Some(FailOn::OverLimit) => analysis.budgets.iter().any(|b| over(b, 1.0)),
        Some(FailOn::OverTarget) => analysis.budgets.iter().any(|b| over(b, args.target)),
        None => false,
    };
    Ok(if hit { EXIT_FINDINGS } else { 0 })
}

/// Lists and analyses one cluster (or snapshot), every namespace unless `-n` names one.
fn analyse_cluster(source: &Source, args: &Args, resolved: &Resolved) -> Result<Analysis> {
    // Offline, the Secrets and the Events about the spenders are read in the first pass over the
    // files; a second pass only when Alerts forward Events of other kinds.
    let namespaces = resolved.scope.namespaces_or_all();
    let snapshot = source::load_staged(source, &namespaces, &reads::first(), &reads::offline_also(), reads::then)?;
    budget::analyse(&snapshot, args, resolved.now).map_err(|m| {
        if m.starts_with("--cost") { Error::usage(m) } else { Error::Malformed { file: "input".into(), message: m } }
    })
}
