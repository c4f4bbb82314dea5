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
    let output = &resolved.output;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let code = match &resolved.origin {
        Origin::One(source) => {
            let answer = answer::read(source, &args, &question)?;
            render::write(&mut out, &answer, args.fail_on, output, resolved.now)?
        }
        Origin::Fleet(fleet) => {
            // A cluster without an answer failed; each answered one is printed as far as it can
            // be where it was read, and its objects are dropped there.
            let outcomes = fleet::ask(&fleet.members, fleet.parallel, |member| {
                let answer = answer::read(&member.source, &args, &question)?.given()?;
                render::Part::of(&answer, args.fail_on, output, resolved.now)
            });
            fleet::report(&outcomes)?;
            render::write_fleet(&mut out, &outcomes, output)?
        }
    };
    out.flush()?;
    Ok(code)
}
