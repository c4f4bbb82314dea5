//! `--flux`: the real Flux controllers (source, kustomize, helm, notification) as local
//! processes against the cluster, `flux-system` laid out like `flux install` (one Deployment
//! per controller, whose pods kwok runs), a Git and chart server with fixture content, and a
//! working GitOps flow reconciled to Ready by the controllers themselves.
//!
//! A supervisor (a thread of the test process, or the `devcluster __flux-daemon` process the
//! CLI leaves running, which also serves Git and charts) ties each Deployment to its process:
//! `kubectl rollout restart` (a new `kubectl.kubernetes.io/restartedAt` in the pod template)
//! restarts the process, scaling to 0 stops it, scaling back starts it. `kubectl logs` of a
//! controller pod returns the process's log, served by kwok (`ClusterLogs`, one per container
//! name); the previous process's log is `--previous`.

use crate::cluster::{Cluster, stop_stage, wait_until};
use crate::fixtures;
use crate::ports::free_port;
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The controllers `--flux` runs, each a Deployment in flux-system and a local process.
pub const CONTROLLERS: &[&str] =
    &["source-controller", "kustomize-controller", "helm-controller", "notification-controller"];

/// The namespace Flux lives in.
pub const NAMESPACE: &str = "flux-system";

/// How a controller process is started (kept in `D/flux/launch/<name>.json` for restarts).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    health: u16,
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

fn launches(dir: &Path, bin: &Path, server: &str) -> Result<BTreeMap<String, Launch>> {
    let events = free_port()?;
    let storage = free_port()?;
    let kubeconfig = dir.join("components.kubeconfig").display().to_string();
    let mut out = BTreeMap::new();
    for c in CONTROLLERS {
        let health = free_port()?;
        let mut args = vec![
            format!("--metrics-addr=127.0.0.1:{}", free_port()?),
            format!("--health-addr=127.0.0.1:{health}"),
            "--log-encoding=json".to_string(),
            "--log-level=info".to_string(),
            "--enable-leader-election=false".to_string(),
        ];
        match *c {
            "source-controller" => {
                let storage_dir = dir.join("flux/storage");
                std::fs::create_dir_all(&storage_dir)?;
                args.extend([
                    format!("--events-addr=http://127.0.0.1:{events}/"),
                    format!("--storage-path={}", storage_dir.display()),
                    format!("--storage-addr=127.0.0.1:{storage}"),
                    format!("--storage-adv-addr=127.0.0.1:{storage}"),
                ]);
            }
            "notification-controller" => {
                args.extend([
                    format!("--events-addr=127.0.0.1:{events}"),
                    format!("--receiverAddr=127.0.0.1:{}", free_port()?),
                ]);
            }
            // Dependencies are re-checked every 30s by default; 5s keeps tests short.
            _ => args
                .extend([format!("--events-addr=http://127.0.0.1:{events}/"), "--requeue-dependency=5s".to_string()]),
        }
        let env = vec![
            ("KUBECONFIG".to_string(), kubeconfig.clone()),
            ("RUNTIME_NAMESPACE".to_string(), NAMESPACE.to_string()),
            ("HOME".to_string(), dir.join("flux").display().to_string()),
        ];
        out.insert(c.to_string(), Launch { program: bin.join(c), args, env, health });
    }
    let _ = server;
    Ok(out)
}

fn launch_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("flux/launch").join(format!("{name}.json"))
}

/// Starts a controller; its output goes to `logs/<name>.log` as written and, for kwok's log
/// server, to `logs/<name>.cri.log` in the container runtime's format (`<time> <stream> F
/// <line>`). The pumping threads live as long as the process.
fn start_process(dir: &Path, name: &str, launch: &Launch) -> Result<u32> {
    use std::io::{BufRead, Write};
    use std::os::unix::process::CommandExt;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let files = std::sync::Arc::new(std::sync::Mutex::new((
        std::fs::File::create(logs.join(format!("{name}.log")))?,
        std::fs::File::create(logs.join(format!("{name}.cri.log")))?,
    )));
    let mut child = std::process::Command::new(&launch.program)
        .args(&launch.args)
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
        // Reaps the process once it is gone.
        let _ = child.wait();
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
    // The stopped process's log becomes the previous one, as for a container.
    let logs = dir.join("logs");
    for suffix in ["log", "cri.log"] {
        let _ = std::fs::rename(logs.join(format!("{name}.{suffix}")), logs.join(format!("{name}.previous.{suffix}")));
    }
    Ok(())
}

fn deployment(name: &str, version: &str) -> Value {
    let labels = json!({
        "app.kubernetes.io/component": name, "app.kubernetes.io/instance": NAMESPACE,
        "app.kubernetes.io/part-of": "flux", "app.kubernetes.io/version": version, "control-plane": "controller",
    });
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "app.kubernetes.io/part-of": "flux", "app.kubernetes.io/component": name}},
                "spec": {
                    "serviceAccountName": name,
                    "containers": [{"name": name, "image": format!("ghcr.io/fluxcd/{name}:{version}"),
                        "args": ["--log-encoding=json", "--enable-leader-election"]}],
                },
            },
        },
    })
}

/// Starts the controllers and flux-system's objects, then the GitOps flow, and returns when
/// every Flux object is Ready.
pub fn start(cluster: &Cluster, flux_bin: &Path, server: &str) -> Result<()> {
    let dir = &cluster.dir;
    let versions = crate::versions::load()?;
    std::fs::create_dir_all(dir.join("flux/launch"))?;
    let launches = launches(dir, flux_bin, server)?;
    // The supervisor (a daemon that outlives `up`, holding the processes' output) starts
    // each controller once its launch file exists.
    for (name, launch) in &launches {
        write_atomic(&launch_path(dir, name), &serde_json::to_string_pretty(launch)?)?;
    }
    for (name, launch) in &launches {
        // Two clusters starting at once on two cores can keep a controller from its probe
        // for a long while; the error carries the log, as the directory may not outlive it.
        wait_until(name, Duration::from_secs(120), dir, || crate::cluster::http_ok(launch.health, "/readyz"))
            .map_err(|e| anyhow!("{e}{}", log_tail(dir, name)))?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = crate::client(&dir.join("components.kubeconfig")).await?;
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE,
            "labels": {"app.kubernetes.io/instance": NAMESPACE, "app.kubernetes.io/part-of": "flux",
                "app.kubernetes.io/version": versions.flux.get("release").cloned().unwrap_or_default()}}});
        crate::crds::apply(&client, "/api/v1/namespaces", NAMESPACE, &ns).await?;
        for c in CONTROLLERS {
            let sa =
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": c, "namespace": NAMESPACE}});
            crate::crds::apply(&client, &format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts"), c, &sa).await?;
            let version = versions.flux.get(*c).cloned().unwrap_or_default();
            crate::crds::apply(
                &client,
                &format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments"),
                c,
                &deployment(c, &version),
            )
            .await?;
        }
        for (path, name, doc) in fixtures::flux_objects(server) {
            crate::crds::apply(&client, &path, &name, &doc).await?;
        }
        wait_ready(&client, Duration::from_secs(240), dir).await
    })
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

/// Ties each controller Deployment to its process: the process runs while the Deployment
/// wants replicas (or does not exist yet) and is started again if it dies, a new restartedAt
/// restarts it, 0 replicas stop it.
async fn supervise(dir: PathBuf) {
    let mut seen: BTreeMap<String, Option<String>> = BTreeMap::new();
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
        let deployments: BTreeMap<String, (Option<String>, bool)> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let restarted = d
                    .pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let wanted = d["spec"]["replicas"].as_u64().unwrap_or(1) > 0;
                (d["metadata"]["name"].as_str().unwrap_or("").to_string(), (restarted, wanted))
            })
            .collect();
        for name in CONTROLLERS {
            let Ok(text) = std::fs::read_to_string(launch_path(&dir, name)) else { continue };
            let Ok(launch) = serde_json::from_str::<Launch>(&text) else { continue };
            let (restarted, wanted) = deployments.get(*name).cloned().unwrap_or((None, true));
            let changed = seen.get(*name).is_some_and(|last| *last != restarted);
            seen.insert(name.to_string(), restarted);
            let running = current_pid(&dir, name).is_some_and(crate::cluster::alive);
            let dir = dir.clone();
            let _ = tokio::task::spawn_blocking(move || -> Result<()> {
                match (wanted, running) {
                    (false, true) => stop_process(&dir, name),
                    (true, false) => start_process(&dir, name, &launch).map(drop),
                    (true, true) if changed => {
                        stop_process(&dir, name)?;
                        start_process(&dir, name, &launch).map(drop)
                    }
                    _ => Ok(()),
                }
            })
            .await;
        }
    }
}

/// Failures `devcluster break` makes real, each as new Flux objects next to the working flow.
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
}

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
        }
    }
}

/// Makes `failure` real in the cluster in `dir` (started with `--flux`).
pub fn induce(dir: &Path, failure: Failure) -> Result<()> {
    let server = Endpoints::read(dir)?.url;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = crate::client(&dir.join("components.kubeconfig")).await?;
        for (path, name, doc) in failure.objects(&server) {
            crate::crds::apply(&client, &path, &name, &doc).await?;
        }
        Ok(())
    })
}
