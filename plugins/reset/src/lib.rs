//! `kubectl flux-reset`: the "nuclear" Flux reset made safe. `plan` shows every API call and
//! changes nothing; `run` backs up, suspends, deletes (without pruning or uninstalling),
//! restarts the controllers, recreates, resumes and verifies, journaling every step so that
//! `resume` finishes after a crash; `restore` makes a cluster match a backup; `verify` checks.

mod args;
mod command;
pub mod confirm;
pub mod error;
pub mod hold;
pub mod journal;
pub mod lock;
pub mod log;
pub mod model;
pub mod plan;
pub mod render;
pub mod steps;
pub mod worth;

pub use args::{Args, Command, FailOn};

use confirm::Confirmation;
use error::{ResetError, Result};
use kubectl_flux_cli::{Origin, Resolved};
use kubectl_flux_output::{Format, Printer};
use kubectl_flux_source::Source;
use log::Log;

/// Output formats of flux-reset, default first.
pub const FORMATS: &[Format] = &[Format::Table, Format::Json, Format::Yaml];

/// Runs the plugin; returns the exit code.
pub fn run(args: Args, resolved: Resolved) -> kubectl_flux_model::Result<u8> {
    Ok(dispatch(&args, &resolved)?)
}

/// `plan` (it changes nothing): every API call a reset of what the command line names would
/// make, printed with every printer.
pub fn print_plan(args: &Args, resolved: &Resolved, printers: &mut [Printer]) -> kubectl_flux_model::Result<u8> {
    let runtime = runtime()?;
    Ok(command::plan(args, resolved, &runtime, printers)?)
}

/// `run` for a caller that cannot ask on a terminal (an MCP client): `context` must be the name
/// of the cluster the reset writes to ([`kubectl_flux_source::live::Cluster::confirmation_name`]),
/// as a user would type it at the prompt; otherwise nothing is changed. The `ResetReport` and
/// the lines the steps said are printed with every printer once the reset is over.
pub fn reset_confirmed(
    args: &Args,
    resolved: &Resolved,
    context: &str,
    printers: &mut [Printer],
) -> kubectl_flux_model::Result<u8> {
    let runtime = runtime()?;
    let scope = command::scope(args, resolved)?;
    let mut log = Log { keep_report: true, ..Log::default() };
    let code = runtime.block_on(command::run(args, resolved, scope, Confirmation::Typed(context.into()), &mut log))?;
    for p in printers {
        match &log.report {
            Some(doc) if p.output.is_document() => p.output.write_document(p.out, doc)?,
            _ => log.write(p.out)?,
        }
    }
    Ok(code)
}

/// The one-threaded runtime a command's API calls run on.
fn runtime() -> kubectl_flux_model::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(kubectl_flux_model::Error::Output)
}

fn dispatch(args: &Args, resolved: &Resolved) -> Result<u8> {
    let command = args.command.clone().unwrap_or(Command::Plan);
    if matches!(resolved.origin, Origin::One(Source::Files(_))) && command != Command::Plan {
        return Err(ResetError::Usage(
            "-f reads a snapshot: only `plan` works offline; `run`, `resume`, `restore` and `verify` need a cluster (restore --from BACKUP takes the backup)".into(),
        ));
    }
    let runtime = runtime()?;
    let mut log = Log { print: resolved.output.format == Format::Table, ..Log::default() };
    match command {
        Command::Plan => kubectl_flux_cli::to_stdout(&resolved.output, |printers| {
            Ok(command::plan(args, resolved, &runtime, printers)?)
        })
        .map_err(ResetError::Shared),
        Command::Run => {
            let scope = command::scope(args, resolved)?;
            confirm::require_terminal_or_yes(args.yes, "reset")?;
            let confirmation = if args.yes { Confirmation::Given } else { Confirmation::Ask };
            runtime.block_on(command::run(args, resolved, scope, confirmation, &mut log))
        }
        Command::Resume => {
            confirm::require_terminal_or_yes(args.yes, "resume a reset")?;
            runtime.block_on(command::resume(args, resolved, &mut log))
        }
        Command::Restore { from } => {
            // A corrupt backup is named before anything is asked or connected to.
            journal::read_backup(&journal::backup_path(&from))?;
            confirm::require_terminal_or_yes(args.yes, "restore")?;
            runtime.block_on(command::restore(args, resolved, &from, &mut log))
        }
        Command::Verify { from } => runtime.block_on(command::verify(args, resolved, from.as_deref(), &mut log)),
    }
}
