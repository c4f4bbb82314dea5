//! The command line of `kubectl flux-reset`.

use clap::{Parser, Subcommand, ValueEnum};
use kubectl_flux_cli::flags::CommonFlags;
use kubectl_flux_model::duration;
use std::path::PathBuf;
use std::time::Duration;

/// Which verification findings make the command exit 3 (for CI gates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// An object that was not Ready before the reset and still is not after it.
    NotReady,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Change nothing: print every object in scope and every API call `run` would make (default).
    Plan,
    /// Reset: back up, suspend, delete, restart the controllers, recreate, resume, verify.
    Run,
    /// Continue the reset recorded in --dir after Ctrl-C, a crash or a lost connection.
    Resume,
    /// Make the cluster match a backup: create the objects it lacks (suspended, then resumed) and
    /// set spec.suspend and spec.deletionPolicy back to the backed-up values. Deletes nothing.
    Restore {
        /// The backup: a reset directory or its backup.json.
        #[arg(long, value_name = "BACKUP")]
        from: PathBuf,
    },
    /// Check a cluster against a reset's backup (and its journal's baseline, when --dir is a
    /// reset directory): same specs, no managed object deleted, nothing Terminating, Ready.
    Verify {
        /// The backup to verify against (default: --dir).
        #[arg(long, value_name = "BACKUP")]
        from: Option<PathBuf>,
    },
}

/// The "nuclear" Flux reset, made safe: every Flux object in scope (sources, Kustomizations,
/// HelmReleases, image automation, notification) is backed up, suspended (Kustomizations also
/// get `deletionPolicy: Orphan`), confirmed suspended by re-reading, deleted without pruning or
/// uninstalling anything, the Flux controllers are restarted, the objects are recreated from the
/// backup (spec kept, still suspended) and resumed, and the result is verified: same specs, no
/// managed object deleted, nothing Terminating, everything that was soundly Ready is Ready again
/// within --timeout. A Ready that was stale before the reset (judged before its source or a
/// dependency failed, or at an older generation) is judged afresh by the controllers: if it
/// comes back not Ready, that is a finding naming the cause, not a failed reset.
///
/// Every step is recorded in a journal next to the backup (--dir) and verified before the next;
/// `resume` continues after Ctrl-C, a crash or a lost connection. A Lease
/// (`kubectl-flux-reset` in --controllers-namespace) stops two resets at once.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-flux_reset",
    bin_name = "kubectl flux-reset",
    version,
    after_help = "\
Examples:
  # What would a reset of the shop and flux-system namespaces do? (changes nothing)
  kubectl flux-reset plan -n shop,flux-system

  # The same for a snapshot, offline.
  kubectl flux-reset plan --all -f flux-state-backup.yaml

  # Reset every Flux object of the cluster; asks for the context name first.
  kubectl flux-reset run --all

  # In automation: no question, backup and journal in a known place.
  kubectl flux-reset run -n apps --yes --dir /var/backups/flux-reset-1

  # After Ctrl-C, a crash or a lost connection: continue where it stopped.
  kubectl flux-reset resume --dir /var/backups/flux-reset-1 --yes

  # Recreate what a backup holds in an emptied namespace.
  kubectl flux-reset restore --from /var/backups/flux-reset-1/backup.json --yes

  # Check a cluster against a reset's backup and baseline; exit 3 on objects still not Ready.
  kubectl flux-reset verify --dir /var/backups/flux-reset-1 --fail-on not-ready

Scope: -n NS[,NS...] or --all (cluster-wide); -l SELECTOR; --kind KIND[,KIND...]
(gitrepo, ocirepo, bucket, helmrepo, hc, ks, hr, provider, alert, receiver, imagerepository,
imagepolicy, imageupdateautomation). ExternalArtifacts and ArtifactGenerators have no spec.suspend
and are never reset.

The backup (DIR/backup.json) is a kubectl `List` of the objects as read, status included, so
`-f DIR/backup.json` works with every kubectl-flux plugin. Secrets are not backed up: Flux
objects only reference them, and the reset never deletes one.

Exit codes: 0 reset complete and verified; 1 a step failed, an object was lost, or one soundly
Ready before is not Ready again (the message says what to run next); 2 usage, a corrupt backup,
or no terminal and no --yes; 3 --fail-on findings (objects not Ready before and still not, or
whose Ready was stale).

Output formats (-o): table (default), json, yaml."
)]
pub struct Args {
    /// plan (default), run, resume, restore, verify.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Reset every namespace (a cluster-wide reset must say so).
    #[arg(long, global = true)]
    pub all: bool,
    /// Only these Flux kinds (repeatable or comma-separated), e.g. --kind ks,hr.
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',', global = true)]
    pub kinds: Vec<String>,
    /// The reset's directory: backup.json and journal.jsonl (default: ./flux-reset-<UTC time>).
    #[arg(long, value_name = "DIR", global = true)]
    pub dir: Option<PathBuf>,
    /// Do not ask for confirmation (automation). Without a terminal, writes need --yes.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// How long objects and controllers may take to become Ready/available (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration::parse_flag, global = true)]
    pub timeout: Duration,
    /// How long the controllers get to release a deleted, suspended object before the reset
    /// removes Flux's finalizer itself (safe: a suspended object's finalizer prunes nothing).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration::parse_flag, global = true)]
    pub finalizer_wait: Duration,
    /// Where the Flux controller Deployments run (and the reset's Lease lives).
    #[arg(long, value_name = "NS", default_value = "flux-system", global = true)]
    pub controllers_namespace: String,
    /// Exit 3 when verification finds objects that were not Ready before the reset and still are not.
    #[arg(long, value_enum, value_name = "WHEN", global = true)]
    pub fail_on: Option<FailOn>,
    #[command(flatten)]
    common: CommonFlags,
}

kubectl_flux_cli::command!(Args);
