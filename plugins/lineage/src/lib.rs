//! `kubectl flux-lineage`: the dependency and ownership chain around any object, the root cause
//! of a failure first (`--why`), and every deadlock cycle across kinds (`--cycles`).

pub mod answer;
mod args;
pub mod cycles;
pub mod node;
pub mod reach;
pub mod render;
pub mod traverse;
pub mod view;
pub mod why;

pub use answer::wants;
pub use args::{Args, FailOn};
pub use render::FORMATS;

use answer::Question;
use kubectl_flux_cli::fleet;
use kubectl_flux_cli::{Origin, Resolved};
use kubectl_flux_model::error::Result;
use std::io::Write;

/// Runs the plugin; returns the exit code.
pub fn run(args: Args, resolved: Resolved) -> Result<u8> {
    let question = Question::of(&args, &resolved)?;
    let fleet = matches!(resolved.origin, Origin::Fleet(_));
    let answers = fleet::answers(&resolved.origin, |source| {
        let answer = answer::read(source, &args, &question)?;
        // In a fleet, a cluster without an answer failed; alone, its notes come first.
        if fleet { answer.given() } else { Ok(answer) }
    })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let code = render::write(&mut out, &answers, args.fail_on, &resolved.output, resolved.now)?;
    out.flush()?;
    Ok(code)
}
