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
use kubectl_flux_output::Printer;

/// Runs the plugin; returns the exit code.
pub fn run(args: Args, resolved: Resolved) -> Result<u8> {
    kubectl_flux_cli::to_stdout(&resolved.output, |printers| answer(&args, &resolved, printers))
}

/// Reads what the command line asked about, prints the answer with every printer and returns
/// the exit code `--fail-on` asks for (the highest of them).
pub fn answer(args: &Args, resolved: &Resolved, printers: &mut [Printer]) -> Result<u8> {
    let question = Question::of(args, resolved)?;
    let mut code = 0;
    match &resolved.origin {
        Origin::One(source) => {
            let answer = answer::read(source, args, &question)?;
            for p in printers {
                code = code.max(render::write(p.out, &answer, args.fail_on, &p.output, resolved.now)?);
            }
        }
        Origin::Fleet(fleet) => {
            // A cluster without an answer failed; each answered one is printed as far as it can
            // be where it was read (once per printer), and its objects are dropped there.
            let outputs: Vec<_> = printers.iter().map(|p| p.output.clone()).collect();
            let outcomes = fleet::ask(&fleet.members, fleet.parallel, |member| {
                let answer = answer::read(&member.source, args, &question)?.given()?;
                outputs.iter().map(|output| render::Part::of(&answer, args.fail_on, output, resolved.now)).collect()
            });
            fleet::report(&outcomes)?;
            for (which, p) in printers.iter_mut().enumerate() {
                code = code.max(render::write_fleet(p.out, &outcomes, which, &p.output)?);
            }
        }
    }
    Ok(code)
}
