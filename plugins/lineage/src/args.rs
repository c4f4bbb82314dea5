//! The command line of `kubectl flux-lineage`.

use clap::{Parser, ValueEnum};
use kubectl_flux_cli::flags::CommonFlags;

/// Which findings make the command exit 3 (for CI gates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum FailOn {
    /// Any failing node in the lineage, a missing object or a cycle.
    Failed,
    /// A missing referenced object or a cycle.
    Missing,
    /// A cycle of waits-for edges.
    Cycle,
}

/// Draws the chain around any object: what it waits for (sources, dependsOn, valuesFrom,
/// the Kustomization or HelmRelease that manages it, owners) and what it produces (inventory,
/// Helm-managed objects, owned Pods, PVCs, PVs, StorageClasses), with health on every node.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-flux_lineage",
    bin_name = "kubectl flux-lineage",
    version,
    after_help = "\
Examples:
  # Why is this Kustomization not ready? Root cause chain first, then the evidence.
  kubectl flux-lineage --why kustomization/userapp -n flux-system

  # Everything around a Deployment: who applied it, from which source, what it runs.
  kubectl flux-lineage deploy/web -n apps -o wide

  # Every dependency cycle in the cluster, with the edge that closes each loop (exit 3 in CI).
  kubectl flux-lineage --cycles --fail-on cycle

  # Offline, on a snapshot, as a Graphviz picture.
  kubectl flux-lineage hr/podinfo -n apps -f snapshot.yaml -o dot | dot -Tsvg > lineage.svg

Output formats (-o): tree (default), table, wide, json, yaml, name, tsv, dot, mermaid.
Node reference in json/yaml: Kind/namespace/name (Kind/name when cluster-scoped)."
)]
pub struct Args {
    /// The object: KIND/NAME (kind as kubectl accepts it: ks, hr, gitrepo, deploy, sts, pvc, sc...), or KIND NAME.
    #[arg(value_name = "KIND/NAME", required_unless_present_any = ["cycles", "completion"])]
    pub target: Option<String>,
    /// The name, when the kind was given alone (`kubectl flux-lineage ks userapp`).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Print the root-cause chain first: the deepest failing or missing objects the target waits for.
    #[arg(long, conflicts_with = "cycles")]
    pub why: bool,
    /// Find every cycle of waits-for edges in the cluster (dependsOn, health checks, valuesFrom on
    /// produced objects, sources). A loop through objects that are all Ready and that only closes
    /// through "produced by" edges (a bootstrap Kustomization applying its own source) is not a deadlock and is not reported.
    #[arg(long)]
    pub cycles: bool,
    /// Follow at most N hops from the target.
    #[arg(long, value_name = "N")]
    pub depth: Option<usize>,
    /// Only what the target waits for and who manages it.
    #[arg(long, conflicts_with = "downstream")]
    pub upstream: bool,
    /// Only what the target produces or owns, and who uses it.
    #[arg(long)]
    pub downstream: bool,
    /// Exit 3 when findings at or above this level exist.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,
    #[command(flatten)]
    common: CommonFlags,
}

kubectl_flux_cli::command!(Args);
