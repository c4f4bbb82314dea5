//! The commands of flux-reset, one file each (as flux2's `cmd/flux`): [`plan`], [`run`],
//! [`resume`], [`restore`], [`verify`]; what they share: the connection, the scope, the reset
//! directory, and how a verification is printed and judged.

mod plan;
mod restore;
mod resume;
mod run;
mod verify;

pub use plan::plan;
pub use restore::restore;
pub use resume::resume;
pub use run::run;
pub use verify::verify;

pub(crate) use crate::render::finish;

use crate::error::{ResetError, Result};
use crate::model::Scope;
use crate::steps::Verification;
use crate::{Args, FailOn};
use kubectl_flux_cli::{Origin, Resolved};
use kubectl_flux_model::error::EXIT_FINDINGS;
use kubectl_flux_source::Source;
use kubectl_flux_source::live::Cluster;
use std::path::{Path, PathBuf};

/// Connects to the one cluster the command line names: a reset changes one cluster, and the
/// name the user confirms is the one it writes to ([`Cluster::confirmation_name`]).
pub(crate) async fn connect(resolved: &Resolved) -> Result<Cluster> {
    match &resolved.origin {
        Origin::One(Source::Cluster(connection)) => Ok(kubectl_flux_source::live::connect(connection).await?),
        Origin::One(Source::Files(_)) => Err(ResetError::Usage(
            "-f reads a snapshot: only `plan` works offline; `run`, `resume`, `restore` and `verify` need a cluster (restore --from BACKUP takes the backup)".into(),
        )),
        Origin::Fleet(_) => Err(ResetError::Usage(
            "flux-reset changes one cluster at a time: give one --context, not a fleet".into(),
        )),
    }
}

/// The reset's scope: `-n` or `--all`, `-l`, `--kind`.
pub(crate) fn scope(args: &Args, resolved: &Resolved) -> Result<Scope> {
    let s = &resolved.scope;
    Scope::from_flags(
        s.namespace.as_deref(),
        s.all_namespaces,
        args.all,
        s.selector.as_ref().map(|s| s.as_str()),
        &args.kinds,
    )
}

/// The reset directory: `--dir`, else one named after "now".
pub(crate) fn dir_of(args: &Args, resolved: &Resolved) -> PathBuf {
    match &args.dir {
        Some(d) => d.clone(),
        None => PathBuf::from(crate::plan::default_dir(resolved.now)),
    }
}

/// The exit code of a verification: failures are exit 1 (what failed, and what to run next);
/// findings exit 3 with --fail-on.
pub(crate) fn verdict(args: &Args, v: &Verification, dir: &Path, code: u8) -> Result<u8> {
    if !v.failures.is_empty() {
        return Err(ResetError::Verification(format!(
            "{}. Nothing was deleted beyond what the backup recreates; check again with `kubectl flux-reset verify --dir {}`",
            v.failures.join("; "),
            dir.display()
        )));
    }
    if args.fail_on == Some(FailOn::NotReady) && !v.findings.is_empty() {
        return Ok(EXIT_FINDINGS);
    }
    Ok(code)
}
