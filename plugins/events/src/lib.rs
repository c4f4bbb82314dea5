//! `kubectl flux-events`: one classified timeline of Flux events and controller logs, with a
//! summary per class and object, and stuck detection.

mod args;
pub mod classify;
pub mod filter;
pub mod gather;
pub mod logs;
pub mod render;
pub mod stuck;
pub mod timeline;
pub mod watch;

pub use args::Args;
pub use gather::wants;
pub use render::FORMATS;

use filter::Filters;
use kubectl_flux_cli::Resolved;
use kubectl_flux_cli::fleet;
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_output::Printer;

/// Runs the plugin; returns the exit code.
pub fn run(args: Args, resolved: Resolved) -> Result<u8> {
    if args.watch {
        return watch::run(&args, &resolved, &filters_of(&args)?);
    }
    kubectl_flux_cli::to_stdout(&resolved.output, |printers| answer(&args, &resolved, printers))
}

/// Reads the timeline the command line asked for and prints it with every printer (`--watch`
/// streams instead: see [`run`]).
pub fn answer(args: &Args, resolved: &Resolved, printers: &mut [Printer]) -> Result<u8> {
    let filters = filters_of(args)?;
    let answers = fleet::answers(&resolved.origin, |source| gather::timeline(source, args, resolved, &filters))?;
    // A fleet's timelines are merged once, whatever the number of printers.
    let merged;
    let (shown, clusters) = match &answers {
        fleet::Answers::One(timeline) => (timeline, None),
        fleet::Answers::Fleet(outcomes) => {
            merged = gather::merge_fleet(outcomes);
            (&merged, Some(outcomes.as_slice()))
        }
    };
    for p in printers {
        render::write(p.out, shown, clusters, &p.output, resolved.now)?;
    }
    Ok(0)
}

/// The filters the flags ask for, once the flags are checked.
fn filters_of(args: &Args) -> Result<Filters> {
    let filters = Filters::of(args)?;
    if args.stuck_factor.is_nan() || args.stuck_factor <= 0.0 {
        return Err(Error::usage("--stuck-factor must be a positive number"));
    }
    Ok(filters)
}
