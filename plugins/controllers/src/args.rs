//! The command line of `kubectl flux-controllers`.

use clap::{Parser, ValueEnum};
use kubectl_flux_cli::flags::CommonFlags;
use kubectl_flux_model::duration;
use std::path::PathBuf;
use std::time::Duration;

/// How serious a verdict is; `--fail-on` exits 3 at or above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth fixing before it hurts.
    Warning,
    /// Hurting now: objects wait, or a controller dies.
    Critical,
}

/// Are the Flux controllers keeping up? Finds every Flux controller (and shard) in the Flux
/// namespace, reads each pod's own Prometheus endpoint through the API server's pod proxy, and
/// judges reconcile time, queues, workers, memory and its growth, OOM kills, API throttling and
/// sizing against the thresholds of Flux's performance guide; then says what to change first
/// (memory, shards with a shard plan, or the API rate limit) and why `kubectl get` of Flux
/// objects is slow (bytes served per kind, managedFields, inventories, Helm storage).
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-flux_controllers",
    bin_name = "kubectl flux-controllers",
    version,
    after_help = "\
Examples:
  # Are the controllers keeping up? One row per controller and shard, verdicts and the decision.
  kubectl flux-controllers

  # Growth: scrape twice, 5 minutes apart (memory MB/h, reconciles/min, queue trend).
  kubectl flux-controllers --sample 5m

  # Offline: a snapshot and saved scrapes, one file per pod, named after it:
  #   kubectl get --raw /api/v1/namespaces/flux-system/pods/POD:8080/proxy/metrics > scrapes/POD.prom
  kubectl flux-controllers -f flux-system.yaml --metrics-file scrapes/

  # A CI gate, and alert rules for the metrics the controllers expose today.
  kubectl flux-controllers --fail-on critical
  kubectl flux-controllers -o prometheus-rules > flux-alerts.yaml

Output formats (-o): table (default), wide, json, yaml, tsv, name, prometheus-rules.
TSV columns: controller, shard, pods, restarts, objects, reconciles/min, error %, p50 s, p99 s,
queue depth, workers busy/total, memory bytes, memory limit bytes, growth bytes/h, verdicts.

The rules are written against what Flux controllers expose today: gotk_reconcile_condition and
gotk_suspend_status (which the guide's alerts use) were removed in Flux 2.1; Ready is read from
gotk_resource_info (kube-state-metrics custom resource state, as fluxcd/flux2-monitoring-example
configures it), OOM kills from kube-state-metrics, memory from the process's own
process_resident_memory_bytes.

Without get on pods/proxy the answer comes from pods and lists alone, with a note naming the
missing permission. Exit codes: 0 answered; 1 the cluster or a file could not be read; 2 usage
or malformed input; 3 verdicts at or above --fail-on."
)]
pub struct Args {
    /// The namespace the Flux controllers run in.
    #[arg(long, value_name = "NS", default_value = "flux-system")]
    pub flux_namespace: String,
    /// Scrape twice, this long apart, and report rates (memory MB/h, CPU, reconciles/min, queue
    /// trend); with two sets of --metrics-file, the time between them.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_flag)]
    pub sample: Option<Duration>,
    /// Saved scrapes instead of the pod proxy: a file per controller pod named after the pod
    /// (POD, POD.prom, POD.txt), or a directory of them. Give two sets (two directories, or a
    /// pod's file twice) for growth. Repeatable.
    #[arg(long = "metrics-file", value_name = "FILE|DIR")]
    pub metrics_files: Vec<PathBuf>,
    /// Refresh like top, every --interval (live only).
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// How often --watch refreshes.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration::parse_flag)]
    pub interval: Duration,
    /// Reconciles slower than this mean contention (the guide: 300s).
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = duration::parse_flag)]
    pub max_reconcile: Duration,
    /// A workqueue deeper than this is backpressure (the guide: 100).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_queue: u64,
    /// Memory growing faster than this per hour is a leak (the guide: 10MB).
    #[arg(long, value_name = "BYTES", default_value = "10MB", value_parser = parse_bytes)]
    pub max_growth: u64,
    /// More than this share of a controller's objects not Ready is systemic (the guide: 10%).
    #[arg(long, value_name = "PERCENT", default_value_t = 10.0)]
    pub max_not_ready: f64,
    /// Memory above this share of its limit is a warning.
    #[arg(long, value_name = "PERCENT", default_value_t = 80.0)]
    pub memory_warn: f64,
    /// An OOM kill newer than this is reported.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration::parse_flag)]
    pub oom_within: Duration,
    /// Shards in the shard plan (default: the guide's sizing for the number of apps).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Slowest objects shown per controller.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
    /// Exit 3 when verdicts at or above this severity exist.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,
    #[command(flatten)]
    common: CommonFlags,
}

kubectl_flux_cli::command!(Args);

fn parse_bytes(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("invalid size {text:?} (expected e.g. 10MB, 512MiB)"))
}
