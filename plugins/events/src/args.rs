//! The command line of `kubectl flux-events`.

use clap::Parser;
use kubectl_flux_cli::flags::CommonFlags;
use kubectl_flux_model::duration;
use std::path::PathBuf;
use std::time::Duration;

/// One timeline of Kubernetes Events about Flux objects (and, with --related, about the objects
/// they manage), merged with the Flux controllers' log lines, ordered by when things happened,
/// deduplicated (x42, first and last seen) and classified (auth, rate-limit, conflict, timeout,
/// dependency-not-ready, not-found, oom, health-check, other). Ends with counts per class, the
/// noisiest objects, and objects that are stuck.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kubectl-flux_events",
    bin_name = "kubectl flux-events",
    version,
    after_help = "\
Examples:
  # Everything Flux said in the last 30 minutes, warnings and errors only.
  kubectl flux-events --since 30m --type Warning

  # One Kustomization, with the events of what it applied and the controller's log lines.
  kubectl flux-events --for ks/apps -n flux-system --related --logs

  # Offline: a snapshot of events and a saved controller log.
  kubectl flux-events -f events.yaml --logs-file kustomize-controller.log --grep 'timeout'

Output formats (-o): table (default), wide, json, yaml, tsv.
Times are true occurrence times (series, lastTimestamp, eventTime, firstTimestamp), never
creationTimestamp; relative ages in tables, RFC 3339 in json/yaml."
)]
pub struct Args {
    /// Only this object: KIND/NAME (namespace from -n).
    #[arg(long = "for", value_name = "KIND/NAME")]
    pub for_object: Option<String>,
    /// Only entries newer than this (Go duration, e.g. 30m).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_flag)]
    pub since: Option<Duration>,
    /// Only entries of this type: Warning (events of type Warning, log lines of level error) or Normal.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Only entries with this reason (repeatable).
    #[arg(long = "reason", value_name = "REASON")]
    pub reasons: Vec<String>,
    /// Only objects of this tenant (label toolkit.fluxcd.io/tenant on the object, else on its
    /// Namespace, else the namespace).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Only entries whose message matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,
    /// Also the events of the objects Flux objects manage (inventory, Helm, owned Pods, PVCs...).
    #[arg(long)]
    pub related: bool,
    /// Merge the Flux controllers' logs, read through the API (pods/log of flux-system).
    #[arg(long)]
    pub logs: bool,
    /// Merge a saved controller log (Flux's JSON lines; other lines kept as text). Repeatable.
    #[arg(long = "logs-file", value_name = "FILE")]
    pub logs_files: Vec<PathBuf>,
    /// Keep streaming new entries (the watch API; resumes after a dropped watch or 410 Gone
    /// without losing or repeating entries). With -o json, one object per line.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// An object is stuck when its last successful reconcile is older than this many intervals.
    #[arg(long, value_name = "N", default_value = "3")]
    pub stuck_factor: f64,
    #[command(flatten)]
    common: CommonFlags,
}

kubectl_flux_cli::command!(Args);
