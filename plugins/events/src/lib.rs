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
use std::io::Write;

/// Runs the plugin; returns the exit code.
pub fn run(args: Args, resolved: Resolved) -> Result<u8> {
    let filters = Filters::of(&args)?;
    if args.stuck_factor.is_nan() || args.stuck_factor <= 0.0 {
        return Err(Error::usage("--stuck-factor must be a positive number"));
    }
    if args.watch {
        return watch::run(&args, &resolved, &filters);
    }
    let answers = fleet::answers(&resolved.origin, |source| gather::timeline(source, &args, &resolved, &filters))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    render::write(&mut out, answers, &resolved.output, resolved.now)?;
    out.flush()?;
    Ok(0)
}
