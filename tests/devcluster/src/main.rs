//! The `devcluster` command: build, up, load, requests, env, down (DESIGN §5 contract).

use anyhow::Result;
use clap::{Parser, Subcommand};
use devcluster::{Cluster, Options, audit, build};
use std::path::PathBuf;
use std::process::ExitCode;

/// A real local Kubernetes control plane for tests.
#[derive(Debug, Parser)]
#[command(name = "devcluster", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build (or find cached) the pinned Go components.
    Build,
    /// Start a cluster in DIR; returns when it serves requests. DIR/kubeconfig is its admin kubeconfig.
    Up {
        /// The cluster's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Also run kube-controller-manager, kube-scheduler and kwok with fake nodes.
        #[arg(long)]
        kube_controllers: bool,
        /// Run the real Flux controllers, a Git and chart server and a GitOps flow reconciled
        /// to Ready (implies --kube-controllers).
        #[arg(long)]
        flux: bool,
        /// Put the fault-injecting, counting proxy between DIR/kubeconfig and the API server
        /// (DIR/direct.kubeconfig bypasses it); see `devcluster fault`.
        #[arg(long)]
        proxy: bool,
        /// Run metrics-server as the Metrics API, fed with the Flux controllers' real CPU and
        /// memory, so `kubectl top` works (implies --kube-controllers).
        #[arg(long)]
        metrics_server: bool,
        /// Run the flux-operator, built from its module, reconciling ResourceSets (implies
        /// --flux).
        #[arg(long)]
        flux_operator: bool,
    },
    /// Switch the proxy's faults (a cluster started with `up --proxy`).
    Fault {
        /// The cluster's directory.
        #[arg(long)]
        dir: PathBuf,
        #[command(subcommand)]
        action: FaultAction,
    },
    /// Make a real Flux failure or load (a cluster started with `up --flux`); for the loads
    /// (overload, oom, slow, shard) returns once their effect shows.
    Break {
        /// The cluster's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Which failure.
        #[arg(value_enum)]
        failure: devcluster::flux::Failure,
    },
    /// Flux's Git/chart server and controller supervisor (started by `up --flux`).
    #[command(name = "__flux-daemon", hide = true)]
    FluxDaemon {
        #[arg(long)]
        dir: PathBuf,
    },
    /// The proxy itself (started by `up --proxy`).
    #[command(name = "__proxy", hide = true)]
    Proxy {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        upstream: String,
    },
    /// Create the objects of kubectl-style files (then their status) in a cluster.
    Load {
        /// Kubeconfig of the cluster.
        #[arg(long)]
        kubeconfig: PathBuf,
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// API requests by verb, resource and namespace since `up` (the admin user's only).
    Requests {
        /// The cluster's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Output: table (default) or json.
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        output: String,
    },
    /// Print `export KUBECONFIG=... PATH=...` for the built kubectl.
    Env {
        /// The cluster's directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Write a deterministic scale scenario: OUT/snapshot.json (one List) and OUT/logs/.
    Gen {
        /// Applications (one Kustomization each; every tenth also a HelmRelease).
        #[arg(long, default_value = "10000")]
        apps: usize,
        /// Tenants (namespaces).
        #[arg(long, default_value = "200")]
        tenants: usize,
        /// Seed: the same seed writes the same files.
        #[arg(long, default_value = "1")]
        seed: u64,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Stop everything `up` started and remove DIR.
    Down {
        /// The cluster's directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Which requests a fault applies to, and how often.
#[derive(Debug, clap::Args)]
struct Filter {
    /// Only this verb (get, list, watch, create, update, patch, delete, deletecollection).
    #[arg(long)]
    verb: Option<String>,
    /// Only this resource: `secrets`, or `group/resource`
    /// (`kustomize.toolkit.fluxcd.io/kustomizations`).
    #[arg(long)]
    resource: Option<String>,
    /// Only the next N matching requests (default: until `clear`).
    #[arg(long)]
    times: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum FaultAction {
    /// Delay matching requests.
    Latency {
        /// Delay in milliseconds.
        #[arg(long)]
        ms: u64,
        #[command(flatten)]
        filter: Filter,
    },
    /// Answer matching requests with an HTTP status (429, 500, 403, 410, ...) instead of
    /// forwarding them.
    Status {
        /// The status code.
        #[arg(long)]
        code: u16,
        /// Seconds for a Retry-After header.
        #[arg(long)]
        retry_after: Option<u64>,
        #[command(flatten)]
        filter: Filter,
    },
    /// Close the connection of matching requests without an answer.
    Reset {
        #[command(flatten)]
        filter: Filter,
    },
    /// Cut every open watch stream now; prints how many.
    DropWatches,
    /// Remove every fault.
    Clear,
    /// Print the faults in force (JSON).
    List,
    /// Print the requests the proxy saw (JSON), by verb, resource and namespace.
    Requests,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: devcluster: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Cmd::Gen { apps, tenants, seed, out } => {
            let started = std::time::Instant::now();
            let c = devcluster::scale::generate(apps, tenants, seed, &out)?;
            eprintln!(
                "devcluster: wrote {} objects ({} events) and {} log lines to {} in {:.1}s",
                c.objects,
                c.events,
                c.log_lines,
                out.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Cmd::Build => {
            println!("{}", build::build(true)?.display());
            println!("{}", build::build_flux(true)?.display());
            println!("{}", build::build_metrics_server(true)?.display());
            println!("{}", build::build_operator(true)?.display());
        }
        Cmd::Up { dir, kube_controllers, flux, proxy, metrics_server, flux_operator } => {
            let started = std::time::Instant::now();
            // The proxy and Flux's daemon outlive this command: processes of their own.
            let standalone = Some(std::env::current_exe()?);
            let cluster = Cluster::up(
                &dir,
                &Options { kube_controllers, proxy, flux, metrics_server, flux_operator, standalone },
            )?
            .keep();
            eprintln!(
                "devcluster: up in {:.1}s; kubeconfig {}",
                started.elapsed().as_secs_f64(),
                cluster.kubeconfig.display()
            );
        }
        Cmd::Load { kubeconfig, paths } => {
            // A malformed file is the input's fault, like a refused object: exit 2.
            let objects = match devcluster::load::read_paths(&paths) {
                Ok(objects) => objects,
                Err(e) => {
                    eprintln!("error: devcluster load: {e:#}");
                    return Ok(2);
                }
            };
            let summary = devcluster::load_objects(&kubeconfig, objects)?;
            eprintln!("devcluster: applied {} objects, {} statuses", summary.applied, summary.statuses);
            if !summary.errors.is_empty() {
                for e in &summary.errors {
                    eprintln!("error: devcluster load: {e}");
                }
                return Ok(2);
            }
        }
        Cmd::Requests { dir, output } => {
            use std::io::Write;
            let counts = audit::requests(&dir)?;
            let mut out = std::io::stdout().lock();
            let written = if output == "json" {
                writeln!(out, "{}", serde_json::to_string_pretty(&counts)?)
            } else {
                writeln!(out, "{:<8} {:<60} {:<20} COUNT", "VERB", "RESOURCE", "NAMESPACE").and_then(|_| {
                    counts.iter().try_for_each(|c| {
                        writeln!(out, "{:<8} {:<60} {:<20} {}", c.verb, c.resource, c.namespace, c.count)
                    })
                })
            };
            match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        Cmd::Env { dir } => {
            let cluster = Cluster::attach(&dir)?;
            println!(
                "export KUBECONFIG={} PATH={}:{}:$PATH",
                cluster.kubeconfig.display(),
                build::bin_dir()?.display(),
                build::flux_bin_dir()?.display()
            );
        }
        Cmd::Down { dir } => Cluster::attach(&dir)?.down()?,
        Cmd::Break { dir, failure } => devcluster::flux::induce(&dir, failure)?,
        Cmd::FluxDaemon { dir } => devcluster::flux::run_daemon_forever(&dir)?,
        Cmd::Proxy { dir, upstream } => devcluster::proxy::run_forever(&dir, &upstream)?,
        Cmd::Fault { dir, action } => {
            use devcluster::proxy::{Fault, FaultKind};
            let proxy = devcluster::proxy::Endpoints::read(&dir)?;
            let rule = |kind: FaultKind, f: Filter| Fault { kind, verb: f.verb, resource: f.resource, times: f.times };
            match action {
                FaultAction::Latency { ms, filter } => proxy.add(&rule(FaultKind::Latency { ms }, filter))?,
                FaultAction::Status { code, retry_after, filter } => {
                    proxy.add(&rule(FaultKind::Status { code, retry_after }, filter))?
                }
                FaultAction::Reset { filter } => proxy.add(&rule(FaultKind::Reset, filter))?,
                FaultAction::DropWatches => println!("{}", proxy.drop_watches()?),
                FaultAction::Clear => proxy.clear()?,
                FaultAction::List => println!("{}", serde_json::to_string_pretty(&proxy.faults()?)?),
                FaultAction::Requests => println!("{}", serde_json::to_string_pretty(&proxy.requests()?)?),
            }
        }
    }
    Ok(0)
}
