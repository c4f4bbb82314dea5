//! The command line of `kubectl flux-mcp`: how to serve, and the connection every tool uses.

use crate::tools::Plugin;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Serves the suite's answers as MCP tools for AI assistants: root-cause chains, dependency
/// cycles, event timelines, the guilty tenant, GitHub API budgets, controller health and reset
/// plans, each the same JSON document the plugin prints with `-o json`, plus the text a person
/// reads. Over stdio by default (what assistants launch), or streamable HTTP with --listen.
/// Read-only unless started with --allow-write.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-flux_mcp",
    bin_name = "kubectl flux-mcp",
    version,
    after_help = "\
Examples:
  # What an assistant launches (e.g. in its mcpServers configuration): MCP over stdio.
  kubectl flux-mcp

  # One cluster context for every tool (a tool may still name others for a fleet).
  kubectl flux-mcp --context prod-eu

  # Answers about an incident snapshot, no cluster needed.
  kubectl flux-mcp -f incident-2026-12-04/

  # Streamable HTTP on a port of this machine (path /mcp).
  kubectl flux-mcp --listen 127.0.0.1:8808

  # On another address, clients must send `Authorization: Bearer <token>`.
  KUBECTL_FLUX_MCP_TOKEN=$(cat token) kubectl flux-mcp --listen 0.0.0.0:8808

  # Keep what the tools read in memory, current through watches: repeated questions answer
  # without listing again.
  kubectl flux-mcp --context prod-eu --watch-cache

  # Also offer reset_run, which changes the cluster (each call names the context it confirms).
  kubectl flux-mcp --context staging --allow-write

Tools: lineage_why, lineage_cycles, lineage_tree, events_timeline, tenants_load,
ratelimit_budget, controllers_health, reset_plan; with --allow-write, reset_run."
)]
pub struct Args {
    /// Serve streamable HTTP on ADDR (host:port, path /mcp) instead of stdio. An address other
    /// than loopback needs a bearer token ($KUBECTL_FLUX_MCP_TOKEN or --token-file).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// A file holding the bearer token HTTP clients must send (instead of $KUBECTL_FLUX_MCP_TOKEN).
    #[arg(long, value_name = "PATH", requires = "listen")]
    pub token_file: Option<PathBuf>,
    /// List the tool that changes a cluster (reset_run); each of its calls must name the
    /// context it writes to in its `confirm` argument.
    #[arg(long)]
    pub allow_write: bool,
    /// Let ratelimit_budget ask GitHub for each credential's real budget (its `check` argument).
    #[arg(long)]
    pub allow_network: bool,
    /// Path to the kubeconfig file every tool uses (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The context tools use when a call names none; repeat it for a fleet.
    #[arg(long, value_name = "NAME")]
    pub context: Vec<String>,
    /// Answer from snapshot files (FILE or DIR, repeatable) instead of a cluster.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR")]
    pub filenames: Vec<PathBuf>,
    /// A snapshot directory standing for one cluster of a fleet ([NAME=]DIR, repeatable).
    #[arg(long, value_name = "[NAME=]DIR")]
    pub cluster_from_dir: Vec<String>,
    /// Saved Prometheus scrapes of the controllers (FILE or DIR, repeatable) for
    /// controllers_health on snapshot files.
    #[arg(long = "metrics-file", value_name = "FILE|DIR")]
    pub metrics_files: Vec<PathBuf>,
    /// Keep the lists tools read current with watches, so a repeated question is answered
    /// from memory; each result says how fresh its lists were.
    #[arg(long, conflicts_with_all = ["filenames", "cluster_from_dir"])]
    pub watch_cache: bool,
    /// How long one API request may take, retries included (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub request_timeout: String,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", value_enum)]
    pub completion: Option<clap_complete::Shell>,
}

impl Args {
    /// The flags every call of a tool of `plugin` gets, as the plugins spell them;
    /// `with_context` is false when the call names its own contexts.
    pub fn tool_flags(&self, plugin: Plugin, with_context: bool) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(path) = &self.kubeconfig {
            flags.push(format!("--kubeconfig={}", path.display()));
        }
        if with_context {
            flags.extend(self.context.iter().map(|c| format!("--context={c}")));
        }
        flags.extend(self.filenames.iter().map(|f| format!("--filename={}", f.display())));
        flags.extend(self.cluster_from_dir.iter().map(|d| format!("--cluster-from-dir={d}")));
        if plugin == Plugin::Controllers {
            flags.extend(self.metrics_files.iter().map(|m| format!("--metrics-file={}", m.display())));
        }
        flags.push(format!("--request-timeout={}", self.request_timeout));
        flags
    }
}
