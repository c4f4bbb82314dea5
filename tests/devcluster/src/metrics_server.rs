//! `--metrics-server`: metrics-server, built from its module, as a local process registered as
//! the `v1beta1.metrics.k8s.io` APIService, so `kubectl top` works.
//!
//! It scrapes each fake node's resource metrics from kwok's kubelet endpoint (the nodes'
//! `metrics.k8s.io/resource-metrics-path` annotation points at kwok's per-node path; kwok
//! computes them from each pod's usage annotations, which Flux's supervisor keeps at its
//! processes' real CPU and RSS, read from /proc). The API server reaches it through the
//! aggregation layer: a Service without selector in kube-system whose Endpoints (and
//! EndpointSlice) name the machine's own address, where metrics-server listens (the API server
//! refuses loopback endpoints, and without kube-proxy a cluster IP leads nowhere, so
//! `--enable-aggregator-routing`).

use crate::cluster::{Cluster, spawn_program, wait_until};
use crate::controllers::Kubelet;
use crate::ports::free_port;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// Where metrics-server listens (`D/metrics-server.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// The machine's own address (also the Endpoints' address).
    pub address: Ipv4Addr,
    /// Its secure port.
    pub port: u16,
}

impl Endpoint {
    /// Reads `dir/metrics-server.json`.
    pub fn read(dir: &Path) -> Result<Endpoint> {
        let path = dir.join("metrics-server.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} runs no metrics-server (start it with --metrics-server)", dir.display()))?;
        serde_json::from_str(&text).with_context(|| path.display().to_string())
    }
}

/// Starts metrics-server, registers it and waits until the Metrics API answers with every
/// node (and with `flux`, every Flux controller's pod).
pub fn start(cluster: &Cluster, flux: bool) -> Result<()> {
    let dir = &cluster.dir;
    let bin = crate::build::build_metrics_server(true)?;
    let address = Kubelet::read(dir)?.address;
    let port = free_port()?;
    let endpoint = Endpoint { address, port };
    std::fs::write(dir.join("metrics-server.json"), serde_json::to_string_pretty(&endpoint)?)?;
    let kc = dir.join("components.kubeconfig").display().to_string();
    let certs = dir.join("metrics-server");
    std::fs::create_dir_all(&certs)?;
    let pid = spawn_program(
        dir,
        &bin.join("metrics-server"),
        "metrics-server",
        &[
            format!("--bind-address={address}"),
            format!("--secure-port={port}"),
            // A self-signed serving certificate; the APIService skips verifying it, as
            // metrics-server's own manifests do.
            format!("--cert-dir={}", certs.display()),
            format!("--kubeconfig={kc}"),
            format!("--authentication-kubeconfig={kc}"),
            format!("--authorization-kubeconfig={kc}"),
            "--kubelet-preferred-address-types=InternalIP".into(),
            "--kubelet-use-node-status-port".into(),
            "--kubelet-insecure-tls".into(),
            // The shortest it accepts: `kubectl top` has CPU after two scrapes. It must exceed
            // the kubelet request timeout (10 s by default).
            "--metric-resolution=10s".into(),
            "--kubelet-request-timeout=5s".into(),
        ],
        &[],
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = crate::client(&dir.join("components.kubeconfig")).await?;
        register(&client, address, port).await
    })?;
    let kubeconfig = dir.join("components.kubeconfig");
    // Pods appear once two scrapes gave their CPU: up to two resolutions after the first.
    let mut seen = String::new();
    let waited = wait_until("metrics-server (kubectl top)", Duration::from_secs(120), dir, || {
        if !crate::cluster::alive(pid) {
            return true;
        }
        runtime.block_on(async {
            let Ok(client) = crate::client(&kubeconfig).await else { return false };
            let names = |list: Option<Value>, field: &str| -> Vec<String> {
                list.as_ref()
                    .and_then(|l| l["items"].as_array())
                    .into_iter()
                    .flatten()
                    .flat_map(|i| {
                        if field == "containers" {
                            i["containers"].as_array().cloned().unwrap_or_default()
                        } else {
                            vec![i["metadata"].clone()]
                        }
                    })
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            };
            let nodes = names(get(&client, "/apis/metrics.k8s.io/v1beta1/nodes").await, "metadata");
            let path = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods", crate::flux::NAMESPACE);
            let containers = if flux { names(get(&client, &path).await, "containers") } else { Vec::new() };
            seen = format!("nodes {nodes:?}, flux-system containers {containers:?}");
            nodes.len() >= 2 && (!flux || crate::flux::CONTROLLERS.iter().all(|c| containers.iter().any(|n| n == c)))
        })
    })
    .map_err(|e| anyhow::anyhow!("{e}; the Metrics API lists {seen}"));
    if !crate::cluster::alive(pid) {
        let log = std::fs::read_to_string(dir.join("logs/metrics-server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("metrics-server exited:\n{}", tail.join("\n"));
    }
    waited
}

async fn get(client: &kube::Client, path: &str) -> Option<Value> {
    let req = http::Request::get(path).body(Vec::new()).ok()?;
    client.request::<Value>(req).await.ok()
}

/// The Service, its Endpoints and EndpointSlice, and the APIService.
async fn register(client: &kube::Client, address: Ipv4Addr, port: u16) -> Result<()> {
    let ns = "kube-system";
    let labels = json!({"k8s-app": "metrics-server"});
    let service = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "metrics-server", "namespace": ns, "labels": labels},
        "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}});
    crate::crds::apply(client, &format!("/api/v1/namespaces/{ns}/services"), "metrics-server", &service).await?;
    let endpoints = json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "metrics-server", "namespace": ns,
            // Not mirrored: the EndpointSlice below is written alongside.
            "labels": {"k8s-app": "metrics-server", "endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": address.to_string()}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]});
    crate::crds::apply(client, &format!("/api/v1/namespaces/{ns}/endpoints"), "metrics-server", &endpoints).await?;
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "metrics-server-devcluster", "namespace": ns,
            "labels": {"kubernetes.io/service-name": "metrics-server", "endpointslice.kubernetes.io/managed-by": "devcluster"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}]});
    crate::crds::apply(
        client,
        &format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
        "metrics-server-devcluster",
        &slice,
    )
    .await?;
    let api_service = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": labels},
        "spec": {"service": {"name": "metrics-server", "namespace": ns, "port": 443},
            "group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": true,
            "groupPriorityMinimum": 100, "versionPriority": 100}});
    crate::crds::apply(client, "/apis/apiregistration.k8s.io/v1/apiservices", "v1beta1.metrics.k8s.io", &api_service)
        .await?;
    Ok(())
}
