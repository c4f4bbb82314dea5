//! `kubectl flux-controllers`: are the Flux controllers keeping up? Reconcile time, queues,
//! workers, memory growth, OOM kills, API throttling and weight, sizing and sharding, from the
//! controllers' own metrics; the verdicts, and what to change first.

pub mod answer;
mod args;
pub mod controllers;
pub mod instance;
pub mod metrics;
pub mod render;
pub mod rules;
pub mod scrape;
pub mod shard;
pub mod verdicts;
pub mod vitals;
pub mod weight;

pub use args::{Args, Severity};
pub use render::FORMATS;

use answer::Answer;
use kubectl_flux_cli::fleet::{self, Answers};
use kubectl_flux_cli::{Origin, Resolved};
use kubectl_flux_model::error::{EXIT_FINDINGS, Error, Result};
use kubectl_flux_output::Format;
use kubectl_flux_output::Printer;
use kubectl_flux_source::Source;
use std::io::{IsTerminal, Write};

/// Runs the plugin; returns the exit code.
pub fn run(args: Args, resolved: Resolved) -> Result<u8> {
    if args.watch && resolved.output.format != Format::PrometheusRules {
        if !matches!(resolved.origin, Origin::One(Source::Cluster(_))) || !args.metrics_files.is_empty() {
            return Err(Error::usage("--watch refreshes a live answer: one cluster, no -f or --metrics-file"));
        }
        return watch(&args, &resolved);
    }
    kubectl_flux_cli::to_stdout(&resolved.output, |printers| answer(&args, &resolved, printers))
}

/// Reads and judges what the command line asked about, prints the answer with every printer
/// and returns the exit code `--fail-on` asks for (`--watch` refreshes instead: see [`run`]).
pub fn answer(args: &Args, resolved: &Resolved, printers: &mut [Printer]) -> Result<u8> {
    let thresholds = answer::thresholds(args);
    if resolved.output.format == Format::PrometheusRules {
        for p in printers {
            render::write(p.out, &Answers::One(empty()), &p.output, &args.flux_namespace, &thresholds)?;
        }
        return Ok(0);
    }
    let answers = fleet::answers(&resolved.origin, |source| answer::read(source, args, resolved))?;
    for p in printers {
        render::write(p.out, &answers, &p.output, &args.flux_namespace, &thresholds)?;
    }
    Ok(exit_code(&answers, args.fail_on))
}

/// Exit 3 when a verdict is at or above `--fail-on`, in any cluster.
fn exit_code(answers: &Answers<Answer>, fail_on: Option<Severity>) -> u8 {
    let Some(level) = fail_on else { return 0 };
    let hit = match answers {
        Answers::One(a) => a.verdicts.iter().any(|v| v.severity >= level),
        Answers::Fleet(outcomes) => outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok())
            .any(|a| a.verdicts.iter().any(|v| v.severity >= level)),
    };
    if hit { EXIT_FINDINGS } else { 0 }
}

/// `--watch`: the answer again every `--interval`, the screen cleared first on a terminal (as
/// top does); one JSON document per line with `-o json`. Stops when stdout closes.
fn watch(args: &Args, resolved: &Resolved) -> Result<u8> {
    let Origin::One(source) = &resolved.origin else { unreachable!("checked by the caller") };
    let terminal = std::io::stdout().is_terminal();
    loop {
        let mut now = resolved.clone();
        now.now = kubectl_flux_model::time::now().map_err(Error::usage)?;
        let answer = answer::read(source, args, &now)?;
        let mut text = Vec::new();
        let output = kubectl_flux_output::Output { format: resolved.output.format, ..resolved.output.clone() };
        match output.format {
            Format::Json => {
                let doc = serde_json::to_vec(&render::document(&answer)).map_err(|e| Error::Output(e.into()))?;
                text.extend(doc);
                text.push(b'\n');
            }
            _ => render::write(
                &mut text,
                &Answers::One(answer),
                &output,
                &args.flux_namespace,
                &answer::thresholds(args),
            )?,
        }
        let mut out = std::io::stdout().lock();
        if terminal && output.format != Format::Json {
            out.write_all(b"\x1b[H\x1b[2J")?;
        }
        out.write_all(&text)?;
        out.flush()?;
        drop(out);
        std::thread::sleep(args.interval);
    }
}

/// An answer with nothing in it (the alert rules need no cluster).
fn empty() -> Answer {
    Answer {
        apps: 0,
        controllers: Vec::new(),
        verdicts: Vec::new(),
        decision: Vec::new(),
        shard_plan: None,
        api_weight: Default::default(),
        flux_instance: None,
        notes: Vec::new(),
    }
}
