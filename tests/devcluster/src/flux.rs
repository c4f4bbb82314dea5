//! `--flux`: the real Flux controllers (source, kustomize, helm, notification) as local
//! processes against the cluster, `flux-system` laid out like `flux install` (one Deployment
//! per controller, whose pods kwok runs), a Git and chart server with fixture content, and a
//! working GitOps flow reconciled to Ready by the controllers themselves.
//!
//! A supervisor (a thread of the test process, or the `devcluster __flux-daemon` process the
//! CLI leaves running, which also serves Git and charts) ties each Deployment to its process as
//! a kubelet ties a pod to its container (see `supervise`): the process runs with the
//! Deployment's container args, a new pod template (`kubectl rollout restart`, new args or
//! resources) restarts it, scaling to 0 stops it, a memory limit is enforced, deaths and
//! restarts are recorded in the pod's status. `kubectl logs` of a controller pod returns the
//! process's log, served by kwok (`ClusterLogs`, one per container name); the previous
//! process's log is `--previous`. The pods are host-network pods on nodes whose InternalIP is
//! the machine's own address, where the processes' metrics and health ports listen, so the API
//! server's pod proxy reaches the real `/metrics` ([`crate::netaddr`]).

use crate::cluster::{Cluster, stop_stage, wait_until};
use crate::fixtures;
use crate::ports::free_port;
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The controllers `--flux` runs, each a Deployment in flux-system and a local process.
pub const CONTROLLERS: &[&str] =
    &["source-controller", "kustomize-controller", "helm-controller", "notification-controller"];

/// The kustomize-controller shard `devcluster break shard` adds (kwok serves its log too).
pub const SHARD: &str = "kustomize-controller-shard1";

/// The namespace Flux lives in.
pub const NAMESPACE: &str = "flux-system";

/// How a controller process is started and where it listens: `D/flux/launch/<name>.json`, one
/// per controller Deployment (`name`; a shard's Deployment has its own).
///
/// The Deployment's container args are the process's command line: the supervisor starts the
/// process with whatever args the Deployment's container has when it starts it, so a test that
/// patches them (`--concurrent=1`) and rolls out gets a process running with them, as a real
/// cluster would; `args` here are those `up` gave the Deployment. The process listens on
/// `address` (the machine's own, [`crate::netaddr`]), the IP of its host-network pod.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Launch {
    /// The Deployment, its container and the process's name in `D/pids` and `D/logs`.
    pub name: String,
    /// The controller binary.
    pub program: PathBuf,
    /// The container args `up` gave the Deployment.
    pub args: Vec<String>,
    /// The process's environment (KUBECONFIG, RUNTIME_NAMESPACE, HOME).
    pub env: Vec<(String, String)>,
    /// The pod IP: where the metrics and health ports listen.
    pub address: Ipv4Addr,
    /// `--metrics-addr` port, the container port `http-prom`.
    pub metrics: u16,
    /// `--health-addr` port, the container port `healthz`.
    pub health: u16,
}

impl Launch {
    /// Reads `dir/flux/launch/<name>.json`.
    pub fn read(dir: &Path, name: &str) -> Result<Launch> {
        let path = launch_path(dir, name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: no controller {name} (is this an `up --flux` cluster?)", path.display()))?;
        serde_json::from_str(&text).with_context(|| path.display().to_string())
    }

    /// Every controller's launch: the four of `up` and any shard.
    pub fn all(dir: &Path) -> Vec<Launch> {
        let mut out: Vec<Launch> = std::fs::read_dir(dir.join("flux/launch"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok())
            .collect();
        out.sort_by(|a: &Launch, b| a.name.cmp(&b.name));
        out
    }

    /// The metrics endpoint's URL on the machine's own address.
    pub fn metrics_url(&self) -> String {
        format!("http://{}:{}/metrics", self.address, self.metrics)
    }
}

/// Where the Git/chart server of a cluster listens (`D/flux/daemon.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoints {
    /// Base URL: `<url>/git/<repo>.git`, `<url>/charts`, `<url>/alerts`.
    pub url: String,
}

impl Endpoints {
    /// Reads `dir/flux/daemon.json`.
    pub fn read(dir: &Path) -> Result<Endpoints> {
        let path = dir.join("flux/daemon.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} runs no Flux (start it with `devcluster up --flux`)", dir.display()))?;
        serde_json::from_str(&text).with_context(|| path.display().to_string())
    }
}

/// The Git/chart server and the supervisor, running on a thread; dropping it stops both (the
/// controller processes are stopped by `down`, like every other component).
pub struct Daemon {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Daemon")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the Git/chart server and the supervisor for the cluster in `dir` on a thread and
/// writes `dir/flux/daemon.json`.
pub fn start_daemon(dir: &Path) -> Result<Daemon> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let endpoints = Endpoints { url: format!("http://127.0.0.1:{}", listener.local_addr()?.port()) };
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let root = dir.join("flux");
    std::fs::create_dir_all(&root)?;
    let dir = dir.to_path_buf();
    let daemon_dir = dir.clone();
    let thread = std::thread::Builder::new().name("devcluster-flux".into()).spawn(move || {
        runtime.block_on(async move {
            tokio::select! {
                _ = crate::gitserver::serve(listener, root) => {}
                _ = supervise(dir) => {}
                _ = stopped => {}
            }
        });
        runtime.shutdown_background();
    })?;
    write_atomic(&daemon_dir.join("flux/daemon.json"), &serde_json::to_string_pretty(&endpoints)?)?;
    Ok(Daemon { stop: Some(stop), thread: Some(thread) })
}

/// Runs the daemon in the foreground until killed (the process `devcluster up --flux` leaves
/// running).
pub fn run_daemon_forever(dir: &Path) -> Result<()> {
    let _daemon = start_daemon(dir)?;
    loop {
        std::thread::park();
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// kwok's `ClusterLogs` for the controllers: the pods of each controller's container get its
/// process's log (and the previous process's as `--previous`). Added to kwok's configuration.
pub fn kwok_logs(dir: &Path) -> String {
    CONTROLLERS
        .iter()
        .chain(&[SHARD])
        .map(|c| {
            let log = dir.join("logs").join(format!("{c}.cri.log"));
            let previous = dir.join("logs").join(format!("{c}.previous.cri.log"));
            format!(
                "---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata:\n  name: {c}\nspec:\n  selector:\n    matchNamespaces: [{NAMESPACE}]\n  logs:\n  - containers: [{c}]\n    logsFile: {}\n    previousLogsFile: {}\n    follow: true\n",
                log.display(),
                previous.display()
            )
        })
        .collect()
}

fn launches(dir: &Path, bin: &Path, address: Ipv4Addr) -> Result<BTreeMap<String, Launch>> {
    let events = free_port()?;
    let storage = free_port()?;
    let mut out = BTreeMap::new();
    for c in CONTROLLERS {
        let mut launch = controller_launch(dir, bin, c, c, address)?;
        match *c {
            "source-controller" => {
                let storage_dir = dir.join("flux/storage");
                std::fs::create_dir_all(&storage_dir)?;
                launch.args.extend([
                    format!("--events-addr=http://{address}:{events}/"),
                    format!("--storage-path={}", storage_dir.display()),
                    format!("--storage-addr={address}:{storage}"),
                    format!("--storage-adv-addr={address}:{storage}"),
                ]);
            }
            "notification-controller" => {
                launch.args.extend([
                    format!("--events-addr={address}:{events}"),
                    format!("--receiverAddr={address}:{}", free_port()?),
                ]);
            }
            // Dependencies are re-checked every 30s by default; 5s keeps tests short.
            _ => launch
                .args
                .extend([format!("--events-addr=http://{address}:{events}/"), "--requeue-dependency=5s".to_string()]),
        }
        out.insert(c.to_string(), launch);
    }
    Ok(out)
}

/// The launch of Deployment `name` running controller `program`, with fresh ports on `address`
/// and the flags every controller gets, its worker count spelled out (each controller's default:
/// 2 for source-controller, 4 for the others), as a plugin reading the Deployment expects.
fn controller_launch(dir: &Path, bin: &Path, name: &str, program: &str, address: Ipv4Addr) -> Result<Launch> {
    let (metrics, health) = (free_port()?, free_port()?);
    let concurrent = if program == "source-controller" { 2 } else { 4 };
    let args = vec![
        format!("--metrics-addr={address}:{metrics}"),
        format!("--health-addr={address}:{health}"),
        "--log-encoding=json".to_string(),
        "--log-level=info".to_string(),
        "--enable-leader-election=false".to_string(),
        "--watch-all-namespaces=true".to_string(),
        format!("--concurrent={concurrent}"),
    ];
    let env = vec![
        ("KUBECONFIG".to_string(), dir.join("components.kubeconfig").display().to_string()),
        ("RUNTIME_NAMESPACE".to_string(), NAMESPACE.to_string()),
        ("HOME".to_string(), dir.join("flux").display().to_string()),
    ];
    Ok(Launch { name: name.to_string(), program: bin.join(program), args, env, address, metrics, health })
}

fn launch_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("flux/launch").join(format!("{name}.json"))
}

/// How a controller process ended, as its container's `lastState.terminated` says it.
#[derive(Debug, Clone)]
struct Exit {
    /// The exit code, 128 + the signal for a killed process (137 for SIGKILL).
    code: i32,
    finished: chrono::DateTime<chrono::Utc>,
}

/// Exits of the processes this process started (recorded by the thread that reaps each), and
/// the pids the supervisor killed for exceeding their memory limit.
static EXITS: std::sync::Mutex<BTreeMap<u32, Exit>> = std::sync::Mutex::new(BTreeMap::new());
static OOM_KILLED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Starts a controller with `args`; its output goes to `logs/<name>.log` as written and, for
/// kwok's log server, to `logs/<name>.cri.log` in the container runtime's format (`<time>
/// <stream> F <line>`). The pumping threads live as long as the process; the last one reaps it
/// and records how it ended.
fn start_process(dir: &Path, launch: &Launch, args: &[String]) -> Result<u32> {
    use std::io::{BufRead, Write};
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let name = &launch.name;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let files = std::sync::Arc::new(std::sync::Mutex::new((
        std::fs::File::create(logs.join(format!("{name}.log")))?,
        std::fs::File::create(logs.join(format!("{name}.cri.log")))?,
    )));
    let mut child = std::process::Command::new(&launch.program)
        .args(args)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", launch.program.display()))?;
    let pid = child.id();
    let mut pids = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("pids"))?;
    writeln!(pids, "{name} {pid}")?;
    let pump = |stream: Box<dyn std::io::Read + Send>, kind: &'static str| {
        let files = files.clone();
        move || {
            for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                let mut files = files.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(files.0, "{line}");
                let _ = writeln!(files.1, "{now} {kind} F {line}");
            }
        }
    };
    let stdout = child.stdout.take().context("stdout")?;
    let stderr = child.stderr.take().context("stderr")?;
    std::thread::spawn(pump(Box::new(stdout), "stdout"));
    let stderr_pump = pump(Box::new(stderr), "stderr");
    std::thread::spawn(move || {
        stderr_pump();
        if let Ok(status) = child.wait() {
            let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            let exit = Exit { code, finished: chrono::Utc::now() };
            EXITS.lock().unwrap_or_else(|e| e.into_inner()).insert(pid, exit);
        }
    });
    Ok(pid)
}

/// The pid of a component's current process (the last one recorded).
pub fn current_pid(dir: &Path, name: &str) -> Option<u32> {
    crate::cluster::read_pids(dir).into_iter().filter(|(n, _)| n == name).map(|(_, p)| p).next_back()
}

fn stop_process(dir: &Path, name: &str) -> Result<()> {
    if let Some(pid) = current_pid(dir, name) {
        stop_stage(&[(name.to_string(), pid)])?;
    }
    rotate_logs(dir, name);
    Ok(())
}

/// The stopped process's log becomes the previous one, as for a container.
fn rotate_logs(dir: &Path, name: &str) {
    let logs = dir.join("logs");
    for suffix in ["log", "cri.log"] {
        let _ = std::fs::rename(logs.join(format!("{name}.{suffix}")), logs.join(format!("{name}.previous.{suffix}")));
    }
}

/// The Deployment of a controller, as `flux install` writes it, running `launch`: its
/// container's args are the process's, its ports the process's (`http-prom` the metrics port,
/// `healthz` the health port, plus source-controller's artifact server `http` and
/// notification-controller's event receiver `http` and webhook receiver `http-webhook`), its
/// resources `flux install`'s. `hostNetwork`: the pod's IP is its node's InternalIP, the
/// machine's own address the process listens on (see [`crate::netaddr`]).
fn deployment(launch: &Launch, component: &str, version: &str) -> Value {
    let name = &launch.name;
    let labels = json!({
        "app.kubernetes.io/component": component, "app.kubernetes.io/instance": NAMESPACE,
        "app.kubernetes.io/part-of": "flux", "app.kubernetes.io/version": version, "control-plane": "controller",
    });
    let port_of = |flag: &str| {
        launch
            .args
            .iter()
            .find_map(|a| a.strip_prefix(flag)?.rsplit(':').next()?.trim_end_matches('/').parse::<u16>().ok())
    };
    let mut ports = vec![
        json!({"containerPort": launch.metrics, "name": "http-prom", "protocol": "TCP"}),
        json!({"containerPort": launch.health, "name": "healthz", "protocol": "TCP"}),
    ];
    match component {
        "source-controller" => ports
            .extend(port_of("--storage-addr=").map(|p| json!({"containerPort": p, "name": "http", "protocol": "TCP"}))),
        "notification-controller" => {
            ports.extend(
                port_of("--events-addr=").map(|p| json!({"containerPort": p, "name": "http", "protocol": "TCP"})),
            );
            ports.extend(
                port_of("--receiverAddr=")
                    .map(|p| json!({"containerPort": p, "name": "http-webhook", "protocol": "TCP"})),
            );
        }
        _ => {}
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name, "app.kubernetes.io/part-of": "flux", "app.kubernetes.io/component": component},
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": launch.metrics.to_string()},
                },
                "spec": {
                    "serviceAccountName": component,
                    "hostNetwork": true,
                    "terminationGracePeriodSeconds": 10,
                    "containers": [{
                        "name": name,
                        "image": format!("ghcr.io/fluxcd/{component}:{version}"),
                        "imagePullPolicy": "IfNotPresent",
                        "args": launch.args,
                        "env": [{"name": "RUNTIME_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                        "ports": ports,
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "healthz"}},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "healthz"}},
                        "resources": {
                            "limits": {"cpu": "1000m", "memory": "1Gi"},
                            "requests": {"cpu": "100m", "memory": "64Mi"},
                        },
                    }],
                },
            },
        },
    })
}

/// Starts the controllers and flux-system's objects, then the GitOps flow, and returns when
/// every Flux object is Ready and each controller Deployment has settled to exactly one pod
/// whose logs and metrics the API server serves.
pub fn start(cluster: &Cluster, flux_bin: &Path, server: &str) -> Result<()> {
    let dir = &cluster.dir;
    let versions = crate::versions::load()?;
    std::fs::create_dir_all(dir.join("flux/launch"))?;
    let address = crate::controllers::Kubelet::read(dir)?.address;
    let launches = launches(dir, flux_bin, address)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = runtime.block_on(crate::client(&dir.join("components.kubeconfig")))?;
    runtime.block_on(async {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE,
            "labels": {"app.kubernetes.io/instance": NAMESPACE, "app.kubernetes.io/part-of": "flux",
                "app.kubernetes.io/version": versions.flux.get("release").cloned().unwrap_or_default()}}});
        crate::crds::apply(&client, "/api/v1/namespaces", NAMESPACE, &ns).await?;
        for (c, launch) in &launches {
            let sa =
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": c, "namespace": NAMESPACE}});
            crate::crds::apply(&client, &format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts"), c, &sa).await?;
            let version = versions.flux.get(c).cloned().unwrap_or_default();
            let doc = deployment(launch, c, &version);
            crate::crds::apply(&client, &format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments"), c, &doc).await?;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    // The supervisor (a daemon that outlives `up`, holding the processes' output) starts each
    // controller, with its Deployment's args, once its launch file exists.
    for (name, launch) in &launches {
        write_atomic(&launch_path(dir, name), &serde_json::to_string_pretty(launch)?)?;
    }
    for (name, launch) in &launches {
        // Two clusters starting at once on two cores can keep a controller from its probe
        // for a long while; the error carries the log, as the directory may not outlive it.
        wait_until(name, Duration::from_secs(120), dir, || {
            crate::cluster::http_ok_at(launch.address, launch.health, "/readyz")
        })
        .map_err(|e| anyhow!("{e}{}", log_tail(dir, name)))?;
    }
    runtime.block_on(async {
        for (path, name, doc) in fixtures::flux_objects(server) {
            crate::crds::apply(&client, &path, &name, &doc).await?;
        }
        wait_ready(&client, Duration::from_secs(240), dir).await?;
        for name in launches.keys() {
            wait_settled(&client, dir, name, Duration::from_secs(60)).await?;
        }
        Ok(())
    })
}

/// The pods of Deployment `name` (by its selector, `app=<name>`), terminating ones included.
async fn pods_of(client: &kube::Client, name: &str) -> Result<Vec<Value>> {
    let req = http::Request::get(format!("/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3D{name}"))
        .body(Vec::new())?;
    let list: Value = client.request(req).await?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// The pod of Deployment `name` the current process stands for: the newest not terminating.
async fn current_pod(client: &kube::Client, name: &str) -> Result<Option<Value>> {
    let mut pods: Vec<Value> =
        pods_of(client, name).await?.into_iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).collect();
    pods.sort_by_key(|p| p["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string());
    Ok(pods.pop())
}

/// The pod a process started with `container` (the Deployment's container now) stands for: the
/// newest not terminating whose container has the same args and resources (a rollout's new pod
/// may not exist yet for an instant; then the newest).
async fn pod_running(client: &kube::Client, name: &str, container: Option<&Value>) -> Result<Option<Value>> {
    let mut pods: Vec<Value> =
        pods_of(client, name).await?.into_iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).collect();
    pods.sort_by_key(|p| p["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string());
    let same = |p: &Value| {
        let Some(want) = container else { return false };
        let has = &p["spec"]["containers"][0];
        has["args"] == want["args"] && has["resources"] == want["resources"]
    };
    Ok(pods.iter().rev().find(|p| same(p)).cloned().or_else(|| pods.pop()))
}

/// Waits until Deployment `name` has rolled out to exactly one pod (no old or terminating one
/// left for `kubectl logs deployment/<name>` to pick), Running and Ready, whose log kwok serves
/// and whose metrics the API server proxies from the process.
async fn wait_settled(client: &kube::Client, dir: &Path, name: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let state = settled(client, dir, name).await.unwrap_or_else(|e| Some(format!("{e:#}")));
        let Some(state) = state else { return Ok(()) };
        if start.elapsed() > timeout {
            bail!("Deployment {name} not settled after {}s: {state}{}", timeout.as_secs(), log_tail(dir, name));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// None when settled, else what is missing.
async fn settled(client: &kube::Client, dir: &Path, name: &str) -> Result<Option<String>> {
    let req = http::Request::get(format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")).body(Vec::new())?;
    let d: Value = client.request(req).await?;
    let st = &d["status"];
    let one = |f: &str| st[f].as_u64() == Some(1);
    if st["observedGeneration"] != d["metadata"]["generation"]
        || !["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"].iter().all(|f| one(f))
    {
        return Ok(Some(format!("rollout: {st}")));
    }
    let pods = pods_of(client, name).await?;
    let [pod] = pods.as_slice() else { return Ok(Some(format!("{} pods", pods.len()))) };
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let ready = pod["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    if !pod["metadata"]["deletionTimestamp"].is_null() || pod["status"]["phase"] != "Running" || !ready {
        return Ok(Some(format!("pod {pod_name} not Running and Ready")));
    }
    let req =
        http::Request::get(format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod_name}/log?container={name}&tailLines=1"))
            .body(Vec::new())?;
    if client.request_text(req).await.map(|t| t.trim().is_empty()).unwrap_or(true) {
        return Ok(Some(format!("no log served for pod {pod_name}")));
    }
    let launch = Launch::read(dir, name)?;
    let req =
        http::Request::get(format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod_name}:{}/proxy/metrics", launch.metrics))
            .body(Vec::new())?;
    match client.request_text(req).await {
        Ok(text) if text.contains("controller_runtime_reconcile_total") => Ok(None),
        Ok(_) => Ok(Some(format!("pod {pod_name}'s metrics have no controller_runtime_reconcile_total"))),
        Err(e) => Ok(Some(format!("pod {pod_name}'s metrics through the API server: {e}"))),
    }
}

/// A controller's Prometheus metrics as a plugin reads them: through the API server's pod
/// proxy (`/api/v1/namespaces/flux-system/pods/<pod>:<http-prom port>/proxy/metrics`) of the
/// Deployment's current pod, as `devcluster-components`.
pub fn scrape(dir: &Path, deployment: &str) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = crate::client(&dir.join("components.kubeconfig")).await?;
        scrape_with(&client, deployment).await
    })
}

async fn scrape_with(client: &kube::Client, deployment: &str) -> Result<String> {
    let pod = current_pod(client, deployment).await?.with_context(|| format!("Deployment {deployment} has no pod"))?;
    let port = pod
        .pointer("/spec/containers/0/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "http-prom")
        .and_then(|p| p["containerPort"].as_u64())
        .context("no http-prom port")?;
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let req = http::Request::get(format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod_name}:{port}/proxy/metrics"))
        .body(Vec::new())?;
    client.request_text(req).await.with_context(|| format!("metrics of pod {pod_name}"))
}

/// The values of a metric in Prometheus text: the samples named `name` whose labels include
/// every `labels` pair.
pub fn samples(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            (metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.parse().ok())?
        })
        .collect()
}

/// Every Flux object in flux-system, with its Ready condition.
async fn readiness(client: &kube::Client) -> Result<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for (group, kind) in [
        ("source.toolkit.fluxcd.io/v1", "gitrepositories"),
        ("source.toolkit.fluxcd.io/v1", "helmrepositories"),
        ("kustomize.toolkit.fluxcd.io/v1", "kustomizations"),
        ("helm.toolkit.fluxcd.io/v2", "helmreleases"),
    ] {
        let req = http::Request::get(format!("/apis/{group}/namespaces/{NAMESPACE}/{kind}")).body(Vec::new())?;
        let list: Value = client.request(req).await?;
        for item in list["items"].as_array().into_iter().flatten() {
            let ready = item["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map(|c| format!("{} {}", c["status"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or("")));
            out.push((format!("{kind}/{}", item["metadata"]["name"].as_str().unwrap_or("")), ready));
        }
    }
    // The controller Deployments must be available (their pods Running on kwok's nodes).
    let req = http::Request::get(format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments")).body(Vec::new())?;
    let list: Value = client.request(req).await?;
    for item in list["items"].as_array().into_iter().flatten() {
        let available = item["status"]["availableReplicas"].as_u64().unwrap_or(0);
        let ready = (available >= 1).then(|| "True".to_string()).or(Some(format!("False {available} available")));
        out.push((format!("deployments/{}", item["metadata"]["name"].as_str().unwrap_or("")), ready));
    }
    Ok(out)
}

async fn wait_ready(client: &kube::Client, timeout: Duration, dir: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        let states = readiness(client).await?;
        let waiting: Vec<String> = states
            .iter()
            .filter(|(_, r)| !r.as_deref().is_some_and(|r| r.starts_with("True")))
            .map(|(name, r)| format!("{name}: {}", r.as_deref().unwrap_or("no Ready condition yet")))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            // The caller's temporary directory may vanish with a failing test: the error
            // carries the end of each controller's log.
            let tails: String = CONTROLLERS.iter().map(|c| log_tail(dir, c)).collect();
            bail!(
                "Flux objects not Ready after {}s: {}; logs in {}{tails}",
                timeout.as_secs(),
                waiting.join("; "),
                dir.join("logs").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The last 15 lines of a controller's log (or why there are none), under a heading line, for
/// an error message.
fn log_tail(dir: &Path, name: &str) -> String {
    let tail = match std::fs::read_to_string(dir.join("logs").join(format!("{name}.log"))) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        }
        Err(e) => format!("(no log: {e})"),
    };
    format!("\n--- {name} (last lines of logs/{name}.log)\n{tail}")
}

/// What the supervisor knows of one controller's process.
#[derive(Debug, Default)]
struct Supervised {
    /// The process it started last.
    pid: Option<u32>,
    /// When it started it.
    started: Option<chrono::DateTime<chrono::Utc>>,
    /// The hash of the Deployment's pod template the process runs (None: not seen yet).
    template: Option<String>,
    /// The pod the process stands for, and its container's restarts (as a kubelet counts).
    pod: Option<String>,
    restarts: u32,
    /// CrashLoopBackOff: not started again before this.
    retry_at: Option<Instant>,
    /// The last CPU time sample (clock ticks, when) and the last usage report.
    cpu: Option<(u64, Instant)>,
    reported: Option<Instant>,
}

/// Ties each controller Deployment to its process, as a kubelet ties a pod to its container:
///
/// - the process runs while the Deployment wants replicas (or does not exist yet), with the
///   args of the Deployment's container;
/// - a change of the pod template (`kubectl rollout restart`, new args, new resources) starts
///   the process anew with them; 0 replicas stop it;
/// - a process that dies is started again, immediately the first time, then after 10 s, 20 s,
///   40 s... (at most 5 min), as CrashLoopBackOff; its pod's container status records it as a
///   kubelet does: `restartCount`, `lastState.terminated` (exit code, reason, start and end),
///   `state.waiting` while backing off;
/// - a process whose RSS exceeds its container's `resources.limits.memory` is killed with
///   SIGKILL, as the kernel's OOM killer kills a container over its cgroup's limit, and recorded
///   with reason `OOMKilled` and exit code 137;
/// - every 5 s its CPU (from /proc/<pid>/stat) and RSS become its pod's
///   `kwok.x-k8s.io/usage-cpu` and `kwok.x-k8s.io/usage-memory` annotations, which kwok reports
///   as the container's usage in the node's resource metrics (what metrics-server and
///   `kubectl top` read).
///
/// kwok leaves the container statuses written here alone: its stages act only on pods still
/// Pending or being deleted.
async fn supervise(dir: PathBuf) {
    let mut state: BTreeMap<String, Supervised> = BTreeMap::new();
    let mut client = None;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if client.is_none() {
            client = crate::client(&dir.join("components.kubeconfig")).await.ok();
        }
        let Some(c) = &client else { continue };
        let Ok(req) = http::Request::get(format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments")).body(Vec::new())
        else {
            continue;
        };
        let Ok(list) = c.request::<Value>(req).await else { continue };
        let deployments: BTreeMap<String, Value> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (d["metadata"]["name"].as_str().unwrap_or("").to_string(), d.clone()))
            .collect();
        for launch in Launch::all(&dir) {
            let entry = state.entry(launch.name.clone()).or_default();
            if let Err(e) = tend(c, &dir, &launch, deployments.get(&launch.name), entry).await {
                eprintln!("devcluster: supervising {}: {e:#}", launch.name);
            }
        }
    }
}

/// One round of the supervisor for one controller.
async fn tend(
    client: &kube::Client,
    dir: &Path,
    launch: &Launch,
    deployment: Option<&Value>,
    st: &mut Supervised,
) -> Result<()> {
    let name = launch.name.clone();
    let wanted = deployment.is_none_or(|d| d["spec"]["replicas"].as_u64().unwrap_or(1) > 0);
    let template = deployment.map(|d| {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(d["spec"]["template"].to_string()))
    });
    let container = deployment.and_then(|d| {
        let containers = d.pointer("/spec/template/spec/containers")?.as_array()?;
        containers.iter().find(|c| c["name"] == name.as_str()).or(containers.first()).cloned()
    });
    let args: Vec<String> = container
        .as_ref()
        .and_then(|c| c["args"].as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_else(|| launch.args.clone());
    let limit = container.as_ref().and_then(|c| c.pointer("/resources/limits/memory")).and_then(quantity);
    let running = current_pid(dir, &name).filter(|p| crate::cluster::alive(*p));

    if !wanted {
        if running.is_some() {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || stop_process(&dir, &name)).await??;
        }
        *st = Supervised::default();
        return Ok(());
    }
    if let Some(pid) = running {
        if st.template.is_none() {
            st.template = template.clone();
        }
        if template.is_some() && st.template != template {
            // A new pod template: a new pod, a new container with the new args.
            let (dir2, launch2, args2, name2) = (dir.to_path_buf(), launch.clone(), args.clone(), name.clone());
            let pid = tokio::task::spawn_blocking(move || {
                stop_process(&dir2, &name2)?;
                start_process(&dir2, &launch2, &args2)
            })
            .await??;
            *st = Supervised { pid: Some(pid), started: Some(chrono::Utc::now()), template, ..Default::default() };
            return Ok(());
        }
        if st.pid != Some(pid) {
            st.pid = Some(pid);
            st.started.get_or_insert_with(chrono::Utc::now);
        }
        if let Some(limit) = limit
            && rss(pid).is_some_and(|rss| rss > limit)
        {
            OOM_KILLED.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            return Ok(());
        }
        if st.reported.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            report_usage(client, &name, pid, st).await?;
        }
        return Ok(());
    }

    // Not running but wanted: it died (or was never started).
    if template.is_some() && st.template.is_some() && st.template != template {
        // Rolled out while down (a new limit for a crash-looping one): a new pod, started now.
        *st = Supervised::default();
    }
    let pod = pod_running(client, &name, container.as_ref()).await?;
    let pod_name = pod.as_ref().and_then(|p| p["metadata"]["name"].as_str()).map(str::to_string);
    if pod_name != st.pod {
        // Another pod: its container has not restarted yet.
        st.pod = pod_name.clone();
        st.restarts = 0;
    }
    if let Some(dead) = st.pid.take() {
        // Give the reaping thread a moment to record the exit.
        let mut exit = None;
        for _ in 0..20 {
            exit = EXITS.lock().unwrap_or_else(|e| e.into_inner()).remove(&dead);
            if exit.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let exit = exit.unwrap_or(Exit { code: 137, finished: chrono::Utc::now() });
        let oom = {
            let mut killed = OOM_KILLED.lock().unwrap_or_else(|e| e.into_inner());
            let found = killed.contains(&dead);
            killed.retain(|p| *p != dead);
            found
        };
        let reason = if oom {
            "OOMKilled"
        } else if exit.code == 0 {
            "Completed"
        } else {
            "Error"
        };
        st.restarts += 1;
        // kubelet's backoff: the first restart at once, then 10 s doubling up to 5 min.
        let delay = match st.restarts {
            1 => Duration::ZERO,
            n => Duration::from_secs(10u64.saturating_mul(1 << (n - 2).min(5)).min(300)),
        };
        st.retry_at = Some(Instant::now() + delay);
        rotate_logs(dir, &name);
        let terminated = json!({"exitCode": exit.code, "reason": reason,
            "startedAt": st.started.unwrap_or(exit.finished).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "finishedAt": exit.finished.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
        let waiting = json!({"waiting": {"reason": "CrashLoopBackOff",
            "message": format!("back-off {}s restarting failed container={name} pod={}", delay.as_secs(), pod_name.as_deref().unwrap_or(""))}});
        if let Some(pod) = &pod {
            container_status(client, pod, &name, st.restarts, Some(terminated), waiting, false).await?;
        }
    }
    if st.retry_at.is_some_and(|t| Instant::now() < t) {
        return Ok(());
    }
    let (dir2, launch2, args2) = (dir.to_path_buf(), launch.clone(), args.clone());
    let pid = tokio::task::spawn_blocking(move || start_process(&dir2, &launch2, &args2)).await??;
    let now = chrono::Utc::now();
    st.pid = Some(pid);
    st.started = Some(now);
    st.retry_at = None;
    st.cpu = None;
    st.reported = None;
    if st.template.is_none() {
        st.template = template;
    }
    if st.restarts > 0
        && let Some(pod) = &pod
    {
        let running = json!({"running": {"startedAt": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}});
        container_status(client, pod, &name, st.restarts, None, running, true).await?;
    }
    Ok(())
}

/// Writes a container's status into its pod as a kubelet would after a restart: restartCount,
/// the state, lastState (when given; else kept), ready, and the pod's Ready and
/// ContainersReady conditions.
async fn container_status(
    client: &kube::Client,
    pod: &Value,
    container: &str,
    restarts: u32,
    last: Option<Value>,
    state: Value,
    ready: bool,
) -> Result<()> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    // The pod as it is now: the status may have changed since it was listed.
    let req = http::Request::get(format!("/api/v1/namespaces/{NAMESPACE}/pods/{name}")).body(Vec::new())?;
    let pod: Value = client.request(req).await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut statuses = pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    for s in statuses.iter_mut().filter(|s| s["name"] == container) {
        s["restartCount"] = json!(restarts);
        s["state"] = state.clone();
        s["ready"] = json!(ready);
        s["started"] = json!(ready);
        if let Some(last) = &last {
            s["lastState"] = json!({"terminated": last});
        }
    }
    let mut conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
    for c in conditions.iter_mut().filter(|c| c["type"] == "Ready" || c["type"] == "ContainersReady") {
        let status = if ready { "True" } else { "False" };
        if c["status"] != status {
            c["status"] = json!(status);
            c["lastTransitionTime"] = json!(now);
        }
    }
    let patch = json!({"status": {"containerStatuses": statuses, "conditions": conditions}});
    let req = http::Request::patch(format!("/api/v1/namespaces/{NAMESPACE}/pods/{name}/status"))
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .body(serde_json::to_vec(&patch)?)?;
    client
        .request::<Value>(req)
        .await
        .with_context(|| format!("recording the restart of {container} in pod {name}"))?;
    Ok(())
}

/// Puts the process's usage on its pod's annotations: its CPU counter (utime + stime, seconds)
/// and start time, which kwok reports as the container's `container_cpu_usage_seconds_total`
/// and `container_start_time_seconds`, and its CPU rate (since the last sample, else since it
/// started) and RSS as kwok's usage annotations (node totals, working set).
async fn report_usage(client: &kube::Client, name: &str, pid: u32, st: &mut Supervised) -> Result<()> {
    let (Some(ticks), Some(rss)) = (cpu_ticks(pid), rss(pid)) else { return Ok(()) };
    let now = Instant::now();
    let previous = st.cpu.replace((ticks, now));
    st.reported = Some(now);
    let started = st.started.unwrap_or_else(chrono::Utc::now);
    // /proc reports CPU time in USER_HZ ticks, 100 a second on Linux whatever the kernel's HZ.
    let seconds = |ticks: u64| ticks as f64 / 100.0;
    let cores = match previous {
        Some((before, at)) => seconds(ticks.saturating_sub(before)) / now.duration_since(at).as_secs_f64().max(0.001),
        None => seconds(ticks) / (chrono::Utc::now() - started).as_seconds_f64().max(0.001),
    };
    let Some(pod) = current_pod(client, name).await? else { return Ok(()) };
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let patch = json!({"metadata": {"annotations": {
        crate::controllers::CPU_SECONDS_ANNOTATION: format!("{:.2}", seconds(ticks)),
        crate::controllers::STARTED_ANNOTATION: format!("{:.3}", started.timestamp_millis() as f64 / 1000.0),
        "kwok.x-k8s.io/usage-cpu": format!("{}n", (cores * 1e9).round() as u64),
        "kwok.x-k8s.io/usage-memory": rss.to_string(),
    }}});
    let req = http::Request::patch(format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod_name}"))
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .body(serde_json::to_vec(&patch)?)?;
    client.request::<Value>(req).await?;
    Ok(())
}

/// A process's resident set size in bytes (/proc/<pid>/status VmRSS).
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// A process's user + system CPU time in clock ticks (/proc/<pid>/stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields count from after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// A memory quantity in bytes ("1Gi", "64Mi", "500M", "1e9", "1048576").
pub fn quantity(v: &Value) -> Option<u64> {
    let text = v.as_str().map(str::to_string).or_else(|| v.as_u64().map(|n| n.to_string()))?;
    let units: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024f64.powi(4)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("m", 1e-3),
    ];
    for (suffix, factor) in units {
        if let Some(n) = text.strip_suffix(suffix) {
            return Some((n.parse::<f64>().ok()? * factor) as u64);
        }
    }
    text.parse::<f64>().ok().map(|n| n as u64)
}

/// Failures `devcluster break` makes real, each as new Flux objects next to the working flow,
/// and loads that make the controllers themselves struggle, observable in their metrics and
/// pods (`overload`, `oom`, `slow`, `shard`; [`induce`] returns once the effect shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Failure {
    /// GitRepository `wrong-branch`: the platform repo at a branch that does not exist.
    WrongBranch,
    /// Kustomization `wrong-path`: a path that does not exist in the platform repo.
    WrongPath,
    /// GitRepository `missing-secret`: a secretRef to a Secret that does not exist.
    MissingSecret,
    /// Kustomization `waits-on-failure`: dependsOn `wrong-path` (created too).
    FailingDependency,
    /// HelmRelease `missing-chart`: the demo chart at a version the repository does not have.
    MissingChartVersion,
    /// [`OVERLOAD_KUSTOMIZATIONS`] Kustomizations `overload-NNN` (label
    /// `devcluster.io/load: overload`) reconciled every 5 s by kustomize-controller rolled out
    /// with `--concurrent=1`: its `workqueue_depth{name="kustomization"}` passes 100.
    Overload,
    /// [`OOM_CONTROLLER`] rolled out with `resources.limits.memory` (and requests)
    /// [`OOM_LIMIT`], below its process's RSS: the supervisor kills it (SIGKILL) and its pod
    /// records `lastState.terminated` `OOMKilled`, exit code 137, restartCount, then
    /// CrashLoopBackOff.
    Oom,
    /// Deployment `apps/never-ready` (its pod never scheduled) and Kustomizations `slow-0`,
    /// `slow-1`, `slow-2` health-checking it with a [`SLOW_TIMEOUT_SECS`] timeout: each
    /// reconcile waits that long, then fails and is retried 5 s later.
    Slow,
    /// Sharding as fluxcd.io/flux/installation/configuration/sharding describes it: Deployment
    /// [`SHARD`] (its own process, ports, log) with `--watch-label-selector=sharding.fluxcd.io/key
    /// in (shard1)`, kustomize-controller rolled out with `... notin (shard1)`, and a
    /// Kustomization `sharded` labelled `sharding.fluxcd.io/key: shard1`, reconciled by the shard.
    Shard,
}

/// How many Kustomizations `overload` creates.
pub const OVERLOAD_KUSTOMIZATIONS: usize = 300;
/// The controller `oom` starves.
pub const OOM_CONTROLLER: &str = "helm-controller";
/// The memory limit `oom` gives it: below what any Flux controller's process holds once started.
pub const OOM_LIMIT: &str = "20Mi";
/// The health-check timeout of the `slow` Kustomizations.
pub const SLOW_TIMEOUT_SECS: u64 = 15;

impl Failure {
    /// The objects that make this failure (API collection path, name, document).
    fn objects(self, server: &str) -> Vec<(String, String, Value)> {
        let source = format!("/apis/source.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/gitrepositories");
        let ks = format!("/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NAMESPACE}/kustomizations");
        let git = |name: &str, spec: Value| {
            let mut spec_full =
                json!({"url": format!("{server}/git/platform.git"), "interval": "1m", "timeout": "20s"});
            spec_full.as_object_mut().into_iter().for_each(|o| o.extend(spec.as_object().cloned().unwrap_or_default()));
            (
                source.clone(),
                name.to_string(),
                json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec_full}),
            )
        };
        let kustomization = |name: &str, path: &str, depends: Option<&str>| {
            let mut spec = json!({"sourceRef": {"kind": "GitRepository", "name": "platform"}, "path": path,
                "prune": true, "interval": "1m", "retryInterval": "10s", "timeout": "30s"});
            if let Some(d) = depends {
                spec["dependsOn"] = json!([{"name": d}]);
            }
            (
                ks.clone(),
                name.to_string(),
                json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}),
            )
        };
        match self {
            Failure::WrongBranch => vec![git("wrong-branch", json!({"ref": {"branch": "no-such-branch"}}))],
            Failure::MissingSecret => {
                vec![git("missing-secret", json!({"ref": {"branch": "main"}, "secretRef": {"name": "no-such-secret"}}))]
            }
            Failure::WrongPath => vec![kustomization("wrong-path", "./no-such-path", None)],
            Failure::FailingDependency => vec![
                kustomization("wrong-path", "./no-such-path", None),
                kustomization("waits-on-failure", "./infrastructure", Some("wrong-path")),
            ],
            Failure::MissingChartVersion => vec![(
                format!("/apis/helm.toolkit.fluxcd.io/v2/namespaces/{NAMESPACE}/helmreleases"),
                "missing-chart".into(),
                json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                    "metadata": {"name": "missing-chart", "namespace": NAMESPACE},
                    "spec": {"interval": "1m", "releaseName": "missing-chart", "targetNamespace": "apps",
                        "chart": {"spec": {"chart": "demo", "version": "9.9.9", "interval": "1m",
                            "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}}),
            )],
            Failure::Overload | Failure::Oom | Failure::Slow | Failure::Shard => Vec::new(),
        }
    }
}

/// Makes `failure` real in the cluster in `dir` (started with `--flux`). For the loads
/// (`overload`, `oom`, `slow`, `shard`) it returns once their effect is observable (in the
/// controller's metrics read through the API server, or its pod's status), or fails saying what
/// was seen.
pub fn induce(dir: &Path, failure: Failure) -> Result<()> {
    let server = Endpoints::read(dir)?.url;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = crate::client(&dir.join("components.kubeconfig")).await?;
        for (path, name, doc) in failure.objects(&server) {
            crate::crds::apply(&client, &path, &name, &doc).await?;
        }
        match failure {
            Failure::Overload => overload(&client).await,
            Failure::Oom => oom(&client).await,
            Failure::Slow => slow(&client).await,
            Failure::Shard => shard(&client, dir).await,
            _ => Ok(()),
        }
    })
}

/// A Kustomization of the platform repo's `infrastructure` path (no prune, no wait).
fn load_kustomization(name: &str, labels: Value, spec: Value) -> Value {
    let mut doc = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "platform"}, "path": "./infrastructure",
            "prune": false, "interval": "1m", "retryInterval": "10s", "timeout": "30s"}});
    if let (Some(into), Some(from)) = (doc["spec"].as_object_mut(), spec.as_object()) {
        into.extend(from.clone());
    }
    doc
}

const KUSTOMIZATIONS: &str = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations";

/// Changes a Deployment (read, `change`, write back; again on a conflict), as `kubectl edit`.
pub async fn update_deployment(client: &kube::Client, name: &str, change: impl Fn(&mut Value)) -> Result<()> {
    let path = format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}");
    for _ in 0..10 {
        let mut d: Value = client.request(http::Request::get(&path).body(Vec::new())?).await?;
        change(&mut d);
        let req = http::Request::put(&path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&d)?)?;
        match client.request::<Value>(req).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(e).with_context(|| format!("updating Deployment {name}")),
        }
    }
    bail!("updating Deployment {name}: conflicts")
}

/// Sets `--flag=value` in a Deployment's first container's args (replacing the flag's value).
pub fn set_arg(deployment: &mut Value, flag: &str, value: &str) {
    let Some(args) = deployment.pointer_mut("/spec/template/spec/containers/0/args").and_then(Value::as_array_mut)
    else {
        return;
    };
    let prefix = format!("{flag}=");
    args.retain(|a| !a.as_str().is_some_and(|a| a.starts_with(&prefix)));
    args.push(json!(format!("{flag}={value}")));
}

/// Polls the metrics of `deployment` (through the API server) until `done` holds, for at most
/// `timeout`; the error says what the last scrape showed.
async fn wait_metrics(
    client: &kube::Client,
    deployment: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&str) -> Result<(), String>,
) -> Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match scrape_with(client, deployment).await {
            Ok(text) => match done(&text) {
                Ok(()) => return Ok(()),
                Err(seen) => last = seen,
            },
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("{what} not seen in {deployment}'s metrics after {}s: {last}", timeout.as_secs())
}

async fn overload(client: &kube::Client) -> Result<()> {
    use futures::StreamExt;
    let labels = json!({"devcluster.io/load": "overload"});
    let docs: Vec<(String, Value)> = (0..OVERLOAD_KUSTOMIZATIONS)
        .map(|i| {
            let name = format!("overload-{i:03}");
            let doc = load_kustomization(&name, labels.clone(), json!({"interval": "5s", "retryInterval": "5s"}));
            (name, doc)
        })
        .collect();
    let results: Vec<Result<Value>> = futures::stream::iter(docs.iter())
        .map(|(name, doc)| crate::crds::apply(client, KUSTOMIZATIONS, name, doc))
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<_>>>()?;
    update_deployment(client, "kustomize-controller", |d| set_arg(d, "--concurrent", "1")).await?;
    wait_metrics(
        client,
        "kustomize-controller",
        "workqueue_depth{name=\"kustomization\"} > 100",
        Duration::from_secs(180),
        |text| {
            let concurrent =
                samples(text, "controller_runtime_max_concurrent_reconciles", &[("controller", "kustomization")]);
            let depth = samples(text, "workqueue_depth", &[("name", "kustomization")]);
            match (concurrent.first(), depth.first()) {
                (Some(c), Some(d)) if *c == 1.0 && *d > 100.0 => Ok(()),
                (c, d) => Err(format!("max_concurrent_reconciles {c:?}, depth {d:?}")),
            }
        },
    )
    .await
}

async fn oom(client: &kube::Client) -> Result<()> {
    update_deployment(client, OOM_CONTROLLER, |d| {
        if let Some(resources) = d.pointer_mut("/spec/template/spec/containers/0/resources") {
            resources["limits"]["memory"] = json!(OOM_LIMIT);
            resources["requests"]["memory"] = json!(OOM_LIMIT);
        }
    })
    .await?;
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(120) {
        if let Some(pod) = current_pod(client, OOM_CONTROLLER).await? {
            let status = &pod["status"]["containerStatuses"][0];
            let limited = pod.pointer("/spec/containers/0/resources/limits/memory") == Some(&json!(OOM_LIMIT));
            if limited && status.pointer("/lastState/terminated/reason") == Some(&json!("OOMKilled")) {
                return Ok(());
            }
            last = format!("pod {}: {status}", pod["metadata"]["name"]);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("{OOM_CONTROLLER} not OOMKilled after 120s: {last}")
}

async fn slow(client: &kube::Client) -> Result<()> {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}});
    crate::crds::apply(client, "/api/v1/namespaces", "apps", &ns).await?;
    // Its pod asks for a node no one has: never scheduled, never available.
    let never = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "never-ready", "namespace": "apps", "labels": {"devcluster.io/load": "slow"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "never-ready"}},
            "progressDeadlineSeconds": 3600,
            "template": {"metadata": {"labels": {"app": "never-ready"}},
                "spec": {"nodeSelector": {"devcluster.io/no-such-node": "true"},
                    "containers": [{"name": "app", "image": "ghcr.io/example/never-ready:1.0.0"}]}}}});
    crate::crds::apply(client, "/apis/apps/v1/namespaces/apps/deployments", "never-ready", &never).await?;
    for i in 0..3 {
        let name = format!("slow-{i}");
        let doc = load_kustomization(
            &name,
            json!({"devcluster.io/load": "slow"}),
            json!({"timeout": format!("{SLOW_TIMEOUT_SECS}s"), "retryInterval": "5s",
                "healthChecks": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "never-ready", "namespace": "apps"}]}),
        );
        crate::crds::apply(client, KUSTOMIZATIONS, &name, &doc).await?;
    }
    let timeout = Duration::from_secs(SLOW_TIMEOUT_SECS * 4 + 60);
    wait_metrics(client, "kustomize-controller", "a slow-0 reconcile as long as its timeout", timeout, |text| {
        let sum =
            samples(text, "gotk_reconcile_duration_seconds_sum", &[("kind", "Kustomization"), ("name", "slow-0")]);
        match sum.first() {
            Some(s) if *s >= SLOW_TIMEOUT_SECS as f64 => Ok(()),
            s => Err(format!("gotk_reconcile_duration_seconds_sum{{name=\"slow-0\"}} {s:?}")),
        }
    })
    .await
}

async fn shard(client: &kube::Client, dir: &Path) -> Result<()> {
    let main = Launch::read(dir, "kustomize-controller")?;
    let bin = main.program.parent().context("controller path")?;
    let mut launch = controller_launch(dir, bin, SHARD, "kustomize-controller", main.address)?;
    // The rest of the main one's flags (events address, requeue interval).
    let flag = |a: &String| a.split('=').next().unwrap_or_default().to_string();
    let own: Vec<String> = launch.args.iter().map(flag).collect();
    launch.args.extend(main.args.iter().filter(|a| !own.contains(&flag(a))).cloned());
    launch.args.push("--watch-label-selector=sharding.fluxcd.io/key in (shard1)".to_string());
    let version = crate::versions::load()?.flux.get("kustomize-controller").cloned().unwrap_or_default();
    let mut doc = deployment(&launch, "kustomize-controller", &version);
    doc["metadata"]["labels"]["sharding.fluxcd.io/role"] = json!("shard");
    crate::crds::apply(client, &format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments"), SHARD, &doc).await?;
    write_atomic(&launch_path(dir, SHARD), &serde_json::to_string_pretty(&launch)?)?;
    update_deployment(client, "kustomize-controller", |d| {
        set_arg(d, "--watch-label-selector", "sharding.fluxcd.io/key notin (shard1)")
    })
    .await?;
    let doc = load_kustomization("sharded", json!({"sharding.fluxcd.io/key": "shard1"}), json!({}));
    crate::crds::apply(client, KUSTOMIZATIONS, "sharded", &doc).await?;
    wait_metrics(client, SHARD, "a reconcile of Kustomization sharded", Duration::from_secs(120), |text| {
        let count = samples(text, "gotk_reconcile_duration_seconds_count", &[("name", "sharded")]);
        (count.first().is_some_and(|c| *c >= 1.0)).then_some(()).ok_or_else(|| format!("{count:?}"))
    })
    .await?;
    wait_settled(client, dir, SHARD, Duration::from_secs(60)).await?;
    wait_settled(client, dir, "kustomize-controller", Duration::from_secs(60)).await
}
