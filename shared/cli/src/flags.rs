//! The flags every plugin shares, as clap derive structs each plugin flattens, so users learn
//! them once (kubectl's cli-runtime names and meanings, DESIGN §3). Their fields are this
//! crate's own: a plugin sees them only as [`crate::Resolved`], decided once.

use clap::Args;
use kubectl_flux_model::duration;
use std::path::PathBuf;
use std::time::Duration;

/// Where objects come from: a cluster (kubectl's connection flags) or snapshot files.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Cluster connection (as kubectl)")]
pub struct ConnectionFlags {
    /// Path to the kubeconfig file (default: $KUBECONFIG, several files joined by ':', else ~/.kube/config).
    #[arg(long, value_name = "PATH", global = true)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use; repeat it to ask several clusters at once (fleet mode).
    #[arg(long, value_name = "NAME", global = true)]
    pub(crate) context: Vec<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, value_name = "NAME", global = true)]
    pub(crate) cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, value_name = "NAME", global = true)]
    pub(crate) user: Option<String>,
    /// The address of the Kubernetes API server (overrides the kubeconfig).
    #[arg(short = 's', long, value_name = "URL", global = true)]
    pub(crate) server: Option<String>,
    /// Bearer token for the API server (overrides the kubeconfig; never printed).
    #[arg(long, value_name = "TOKEN", global = true, hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Path to a CA certificate file for the API server.
    #[arg(long, value_name = "PATH", global = true)]
    pub(crate) certificate_authority: Option<PathBuf>,
    /// Do not verify the API server's certificate (insecure).
    #[arg(long, global = true)]
    pub(crate) insecure_skip_tls_verify: bool,
    /// Username to impersonate.
    #[arg(long = "as", value_name = "USER", global = true)]
    pub(crate) as_user: Option<String>,
    /// Group to impersonate (repeatable).
    #[arg(long = "as-group", value_name = "GROUP", global = true)]
    pub(crate) as_groups: Vec<String>,
    /// How long one API request may take, retries of 429/5xx/timeouts included (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration::parse_flag, global = true)]
    pub(crate) request_timeout: Duration,
}

/// Which namespaces and objects to look at.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Scope")]
pub struct ScopeFlags {
    /// Namespace of the object (default: the kubeconfig context's namespace, else "default").
    #[arg(short = 'n', long, value_name = "NS", global = true)]
    pub(crate) namespace: Option<String>,
    /// Look at every namespace.
    #[arg(short = 'A', long, global = true)]
    pub(crate) all_namespaces: bool,
    /// Label selector (`key=value,key2!=v`) restricting which Flux objects are considered.
    #[arg(short = 'l', long, value_name = "SELECTOR", global = true)]
    pub(crate) selector: Option<String>,
}

/// Snapshot files instead of a cluster.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Offline snapshots")]
pub struct InputFlags {
    /// Read objects from FILE, DIR or - (stdin) instead of a cluster: `kubectl get -o json|yaml`
    /// output, Lists, multi-document YAML, `flux export` output, flux-reset backups. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-", global = true)]
    pub(crate) filenames: Vec<PathBuf>,
}

/// How the answer is printed.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Output")]
pub struct OutputFlags {
    /// Output format (plugins list the ones they support in --help).
    #[arg(short = 'o', long, value_name = "FORMAT", global = true)]
    pub(crate) output: Option<String>,
    /// Do not print table headers.
    #[arg(long, global = true)]
    pub(crate) no_headers: bool,
    /// Filter the JSON answer with a jq expression (evaluated in-process, like gh --jq).
    #[arg(long, value_name = "EXPR", global = true)]
    pub(crate) jq: Option<String>,
    /// When to colour output; NO_COLOR is honoured in auto mode.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto", global = true)]
    pub(crate) color: ColorChoice,
}

/// Many clusters in one command (DESIGN §3.1): several `--context`, `--all-contexts`, or
/// snapshot directories standing for clusters.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Fleet (many clusters at once)")]
pub struct FleetFlags {
    /// Every context of the merged kubeconfig, or those whose name matches GLOB (`prod-*`).
    #[arg(long, value_name = "GLOB", num_args = 0..=1, default_missing_value = "*", global = true)]
    pub(crate) all_contexts: Option<String>,
    /// A snapshot directory (or file) standing for one cluster, named NAME or after the
    /// directory; repeatable (offline fleet).
    #[arg(long, value_name = "[NAME=]DIR", global = true)]
    pub(crate) cluster_from_dir: Vec<String>,
    /// How many clusters are asked at once [default: 64 clusters, as many snapshot
    /// directories as the machine has CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), global = true)]
    pub(crate) parallel: Option<u16>,
}

/// Every shared flag, flattened into each plugin's command line.
#[derive(Debug, Clone, Args, Default)]
pub struct CommonFlags {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) connection: ConnectionFlags,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) scope: ScopeFlags,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) input: InputFlags,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) output: OutputFlags,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub(crate) fleet: FleetFlags,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", value_enum)]
    pub(crate) completion: Option<clap_complete::Shell>,
}

/// The `--color` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}
