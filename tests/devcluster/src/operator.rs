//! `--flux-operator`: the flux-operator (controlplaneio-fluxcd), built from its module, as a local
//! process against the cluster, reconciling ResourceSets, ResourceSetInputProviders,
//! FluxInstances and FluxReports (their CRDs are installed at every `up`). It applies what a
//! ResourceSet generates through the API server, where the Flux controllers `--flux` runs
//! reconcile it. Its web UI is off (`--web-server-port=0`); FIPS mode, which it insists on, is
//! Go's own (`GODEBUG=fips140=on`).

use crate::cluster::{Cluster, spawn_program, wait_until};
use crate::ports::free_port;
use anyhow::{Result, bail};
use std::time::Duration;

/// The namespace the operator runs in (its `RUNTIME_NAMESPACE`).
pub const NAMESPACE: &str = "flux-system";

/// Starts the operator and returns once its health endpoint says ready.
pub fn start(cluster: &Cluster) -> Result<()> {
    let dir = &cluster.dir;
    let bin = crate::build::build_operator(true)?;
    let (metrics, health) = (free_port()?, free_port()?);
    let storage = dir.join("flux-operator");
    std::fs::create_dir_all(&storage)?;
    let pid = spawn_program(
        dir,
        &bin.join("operator"),
        "flux-operator",
        &[
            format!("--metrics-addr=127.0.0.1:{metrics}"),
            format!("--health-addr=127.0.0.1:{health}"),
            format!("--storage-path={}", storage.display()),
            "--web-server-port=0".into(),
            "--enable-leader-election=false".into(),
            "--log-encoding=json".into(),
            // The first reconcile of what a test creates is at once; retries come quickly.
            "--requeue-dependency=2s".into(),
        ],
        &[
            ("KUBECONFIG".into(), dir.join("components.kubeconfig").display().to_string()),
            ("RUNTIME_NAMESPACE".into(), NAMESPACE.into()),
            ("GODEBUG".into(), "fips140=on".into()),
            ("HOME".into(), storage.display().to_string()),
        ],
    )?;
    let ready =
        || crate::cluster::alive(pid) && crate::cluster::http_ok_at(std::net::Ipv4Addr::LOCALHOST, health, "/readyz");
    let waited = wait_until("flux-operator", Duration::from_secs(60), dir, || ready() || !crate::cluster::alive(pid));
    if !crate::cluster::alive(pid) {
        let log = std::fs::read_to_string(dir.join("logs/flux-operator.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("flux-operator exited:\n{}", tail.join("\n"));
    }
    waited
}
