//! The command line of `kubectl flux-tenants`.

use bytesize::ByteSize;
use clap::{Parser, ValueEnum};
use kubectl_flux_cli::flags::CommonFlags;
use kubectl_flux_model::duration;
use std::time::Duration;

/// Which findings make the command exit 3 (for CI gates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Isolation findings (no serviceAccountName, cross-tenant sources) and budget breaches.
    Warning,
    /// Budget breaches (--min-interval, --max-fetch-rate, --max-repo-size) only.
    Error,
}

/// Groups Flux objects by tenant and shows each tenant's load on the controllers: objects by
/// kind, shortest interval, artifact bytes, fetch load (artifact size x 3600 / interval), Git and
/// API calls per hour, failing, stalled and suspended objects, its share of all load, and
/// isolation findings. The guilty tenant comes first, with the reason in words. Ends with sizing
/// advice from Flux's scale table.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-flux_tenants",
    bin_name = "kubectl flux-tenants",
    version,
    after_help = "\
Examples:
  # Who is hurting everyone? The guilty tenant first, with the objects responsible.
  kubectl flux-tenants

  # The guilty tenant's name only, for scripts.
  kubectl flux-tenants -o tsv | head -1 | cut -f1

  # A CI gate: no interval under 1m, no tenant fetching more than 50 GiB/h, no artifact over 1 GiB.
  kubectl flux-tenants --min-interval 1m --max-fetch-rate 50GiB --max-repo-size 1GiB --fail-on error

Output formats (-o): table (default), wide, json, yaml, name, tsv.
TSV columns: tenant, objects, shortest interval (s), artifact bytes, fetch bytes/h, share %, git calls/h,
api calls/h, failing, stalled, suspended, findings. Rows are sorted guilty first.
Tenants come from the label toolkit.fluxcd.io/tenant (--tenant-label) on the object, else on its
Namespace (where `flux create tenant` puts it), else the namespace; a tenant may span namespaces."
)]
pub struct Args {
    /// The label naming an object's tenant, read on the object, else on its Namespace; objects
    /// with neither belong to their namespace.
    #[arg(long, value_name = "KEY", default_value = "toolkit.fluxcd.io/tenant")]
    pub tenant_label: String,
    /// Budget: every interval must be at least this (Go duration).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_flag)]
    pub min_interval: Option<Duration>,
    /// Budget: no tenant may fetch more than this many bytes per hour (e.g. 50GiB).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_fetch_rate: Option<u64>,
    /// Budget: no source artifact may be larger than this (e.g. 1GiB).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub max_repo_size: Option<u64>,
    /// Exit 3 when findings at or above this severity exist.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,
    #[command(flatten)]
    common: CommonFlags,
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("invalid size {text:?} (expected e.g. 500MiB, 10GiB, 1TB)"))
}

kubectl_flux_cli::command!(Args);
