//! `--kube-controllers`: kube-controller-manager (garbage collection, Deployments, ReplicaSets,
//! StatefulSets...), kube-scheduler, and kwok managing fake nodes so Pods become Running/Ready.
//! They authenticate as `devcluster-components`, not as the admin a test uses.

use crate::cluster::{Cluster, spawn, wait_until};
use crate::ports::free_port;
use crate::{build, versions};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// Fake nodes kwok manages.
pub const FAKE_NODES: &[&str] = &["kwok-node-0", "kwok-node-1"];

/// kwok's stage files (from its module) that make fake nodes Ready and pods Running/Ready.
const KWOK_STAGES: &[&str] = &[
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat/node-heartbeat.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
];

/// kwok's files (from its module) that serve each fake node's kubelet resource metrics
/// (`/metrics/nodes/<node>/metrics/resource`, what metrics-server scrapes) with every pod's
/// usage taken from its annotations `kwok.x-k8s.io/usage-cpu` (cores) and
/// `kwok.x-k8s.io/usage-memory` (bytes), which Flux's supervisor keeps at its processes' real
/// usage; other pods count 1m and 1Mi. See [`metrics_config`] for the CPU counters.
const KWOK_METRICS: &[&str] =
    &["kustomize/metrics/resource/metrics-resource.yaml", "kustomize/metrics/usage/usage-from-annotation.yaml"];

/// Annotations with which a pod gives its container's real CPU counter and start time (the
/// supervisor writes them from /proc for the Flux controllers' pods).
pub const CPU_SECONDS_ANNOTATION: &str = "devcluster.io/cpu-seconds";
/// See [`CPU_SECONDS_ANNOTATION`]: seconds since the epoch.
pub const STARTED_ANNOTATION: &str = "devcluster.io/started";

/// A kwok metrics file, its CPU counters and start time taken from [`CPU_SECONDS_ANNOTATION`]
/// and [`STARTED_ANNOTATION`] where a pod has them. kwok's own counter integrates the usage
/// rate from the first scrape on, so it starts at 0, and metrics-server drops a container whose
/// counter is 0 (an idle process's rate rounds to 0): it would never be listed. A process's own
/// utime + stime, as a kubelet reads its cgroup's, is never 0 and gives the real rate between
/// two scrapes; its start time tells metrics-server when the counter restarted.
fn metrics_config(text: &str, file: &str) -> Result<String> {
    if !file.ends_with("metrics-resource.yaml") {
        return Ok(text.to_string());
    }
    let from = |annotation: &str, otherwise: &str| {
        format!(
            "'\"{annotation}\" in pod.metadata.annotations ? double(pod.metadata.annotations[\"{annotation}\"]) : {otherwise}'"
        )
    };
    let mut out = text.to_string();
    for (kwok, ours) in [
        (
            "'pod.CumulativeUsage(\"cpu\", container.name)'",
            from(CPU_SECONDS_ANNOTATION, "pod.CumulativeUsage(\"cpu\", container.name)"),
        ),
        ("'pod.CumulativeUsage(\"cpu\")'", from(CPU_SECONDS_ANNOTATION, "pod.CumulativeUsage(\"cpu\")")),
        ("'pod.SinceSecond()'", from(STARTED_ANNOTATION, "pod.SinceSecond()")),
        // A node reports its own daemons' share besides its pods' (a kubelet's node stats are
        // never 0, and metrics-server drops a node whose CPU or memory is 0: a node without
        // pods would show <unknown>): 1m of CPU and 16 MiB.
        ("'node.CumulativeUsage(\"cpu\")'", "'node.CumulativeUsage(\"cpu\") + node.SinceSecond() * 0.001'".to_string()),
        ("'node.Usage(\"memory\")'", "'node.Usage(\"memory\") + 16777216.0'".to_string()),
    ] {
        anyhow::ensure!(out.contains(kwok), "kwok's {file} no longer has {kwok}");
        out = out.replace(kwok, &ours);
    }
    Ok(out)
}

/// Where the fake nodes' kubelet endpoint (kwok) listens: `D/kubelet.json`. `address` is also
/// the nodes' InternalIP, so the IP of their host-network pods.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kubelet {
    /// The nodes' InternalIP: the machine's own address ([`crate::netaddr::node_address`]),
    /// or 127.0.0.1 on a machine without one (then only `--kube-controllers` works).
    pub address: Ipv4Addr,
    /// kwok's kubelet port (logs, resource metrics), the nodes' `daemonEndpoints` port.
    pub port: u16,
}

impl Kubelet {
    /// Reads `dir/kubelet.json`.
    pub fn read(dir: &Path) -> Result<Kubelet> {
        let path = dir.join("kubelet.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} runs no fake nodes (start it with --kube-controllers)", dir.display()))?;
        serde_json::from_str(&text).with_context(|| path.display().to_string())
    }
}

/// Starts the controllers and the fake nodes; returns once the nodes are Ready. `extra_config`
/// is added to kwok's configuration (e.g. `ClusterLogs`). `node_ip` is the nodes' InternalIP.
pub fn start(cluster: &Cluster, bin: &Path, extra_config: &str, node_ip: Ipv4Addr) -> Result<()> {
    let dir = &cluster.dir;
    let kc = dir.join("components.kubeconfig").display().to_string();
    let p = |f: &str| dir.join("pki").join(f).display().to_string();
    spawn(
        dir,
        bin,
        "kube-controller-manager",
        &[
            format!("--kubeconfig={kc}"),
            format!("--authentication-kubeconfig={kc}"),
            format!("--authorization-kubeconfig={kc}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()?),
            "--leader-elect=false".into(),
            format!("--service-account-private-key-file={}", p("sa.key")),
            format!("--root-ca-file={}", p("ca.crt")),
            format!("--cluster-signing-cert-file={}", p("ca.crt")),
            format!("--cluster-signing-key-file={}", p("ca.key")),
            "--use-service-account-credentials=false".into(),
            // Loaded snapshot Nodes have no kubelet: the node lifecycle controller would evict
            // every pod on them. kwok keeps its own fake nodes alive.
            "--controllers=*,-nodelifecycle".into(),
            "--concurrent-gc-syncs=5".into(),
        ],
    )?;
    spawn(
        dir,
        bin,
        "kube-scheduler",
        &[
            format!("--kubeconfig={kc}"),
            format!("--authentication-kubeconfig={kc}"),
            format!("--authorization-kubeconfig={kc}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()?),
            "--leader-elect=false".into(),
        ],
    )?;
    let v = versions::load()?;
    let kwok_dir = build::module_dir(v.kwok.module.as_deref().unwrap_or("sigs.k8s.io/kwok"), &v.kwok.version)?;
    let mut config = String::new();
    for stage in KWOK_STAGES.iter().chain(KWOK_METRICS) {
        let text = std::fs::read_to_string(kwok_dir.join(stage)).with_context(|| format!("kwok file {stage}"))?;
        let text = metrics_config(&text, stage)?;
        config.push_str("---\n");
        config.push_str(&text);
    }
    config.push_str(extra_config);
    std::fs::write(dir.join("kwok.yaml"), config)?;
    // kwok's kubelet endpoint (logs, exec, resource metrics) on the nodes' InternalIP, over TLS
    // with the API server's serving certificate (the API server and metrics-server do not
    // verify kubelets' certificates).
    let kubelet_port = free_port()?;
    let kubelet = Kubelet { address: node_ip, port: kubelet_port };
    std::fs::write(dir.join("kubelet.json"), serde_json::to_string_pretty(&kubelet)?)?;
    spawn(
        dir,
        bin,
        "kwok",
        &[
            format!("--kubeconfig={kc}"),
            format!("--config={}", dir.join("kwok.yaml").display()),
            "--manage-all-nodes=false".into(),
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
            "--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom".into(),
            "--cidr=10.244.0.0/16".into(),
            format!("--node-ip={node_ip}"),
            format!("--node-port={kubelet_port}"),
            format!("--server-address={node_ip}:{kubelet_port}"),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
        ],
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = crate::client(&dir.join("components.kubeconfig")).await?;
        for name in FAKE_NODES {
            let node = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    // metrics-server reads a node's resource metrics at this path of its kubelet
                    // port: kwok serves every node's on one port.
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0",
                        "metrics.k8s.io/resource-metrics-path": format!("/metrics/nodes/{name}/metrics/resource")},
                    "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
                },
                "spec": {},
            });
            crate::crds::apply(&client, "/api/v1/nodes", name, &node).await?;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    let kubeconfig = dir.join("components.kubeconfig");
    wait_until("kwok fake nodes", Duration::from_secs(180), dir, || {
        runtime.block_on(async {
            let Ok(client) = crate::client(&kubeconfig).await else { return false };
            let Ok(req) = http::Request::get("/api/v1/nodes?labelSelector=type%3Dkwok").body(Vec::new()) else {
                return false;
            };
            let Ok(list) = client.request::<serde_json::Value>(req).await else { return false };
            let ready = list["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter(|n| {
                            n["status"]["conditions"]
                                .as_array()
                                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
                        })
                        .count()
                })
                .unwrap_or(0);
            ready == FAKE_NODES.len()
        })
    })
}
