//! `up` and `down`: etcd and kube-apiserver (and with `--kube-controllers` the controller
//! manager, scheduler and kwok) as local processes on free 127.0.0.1 ports, each cluster in its
//! own directory, so several run at once.

use crate::ports::free_port;
use crate::{build, crds, pki, versions};
use anyhow::{Context, Result, bail};
use base64::Engine;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What `up` starts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// kube-controller-manager, kube-scheduler and kwok with fake nodes.
    pub kube_controllers: bool,
    /// The fault-injecting, counting proxy between the kubeconfig and the API server, run on a
    /// thread of the calling process (the CLI runs it as a process of its own instead).
    pub proxy: bool,
    /// The real Flux controllers, a Git and chart server and a GitOps flow reconciled to
    /// Ready (implies `kube_controllers`: their Deployments' pods run on kwok's nodes).
    pub flux: bool,
    /// metrics-server (built from its module) registered as the `v1beta1.metrics.k8s.io`
    /// APIService, scraping the fake nodes' resource metrics, in which the Flux controllers'
    /// pods report their processes' real CPU and memory: `kubectl top` works (implies
    /// `kube_controllers`).
    pub metrics_server: bool,
    /// The flux-operator (built from its module) reconciling ResourceSets and the operator's
    /// other kinds (implies `flux`: what it generates is reconciled by Flux's controllers).
    pub flux_operator: bool,
    /// Run the long-lived helpers (the proxy, Flux's Git server and supervisor) as processes
    /// of this executable (`EXE __proxy`, `EXE __flux-daemon`), recorded for `down`, instead
    /// of threads of the calling process: for a cluster that outlives it (the CLI's `up`).
    pub standalone: Option<PathBuf>,
}

/// A running cluster. Dropping it stops every process and removes its directory, so a test
/// that panics still cleans up.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster's directory.
    pub dir: PathBuf,
    /// `dir/kubeconfig`.
    pub kubeconfig: PathBuf,
    /// What the kubeconfig points at: the proxy with `--proxy`, else the API server.
    pub server: String,
    /// The API server's own URL (`dir/direct.kubeconfig` points at it).
    pub api_server: String,
    proxy: Option<crate::proxy::Handle>,
    daemon: Option<crate::flux::Daemon>,
    keep: bool,
}

pub(crate) fn spawn(dir: &Path, bin: &Path, name: &str, args: &[String]) -> Result<u32> {
    spawn_program(dir, &bin.join(name.split('@').next().unwrap_or(name)), name, args, &[])
}

/// Starts `program` in its own process group, logging to `dir/logs/<name>.log`, and records
/// its pid for `down`.
pub(crate) fn spawn_program(
    dir: &Path,
    program: &Path,
    name: &str,
    args: &[String],
    env: &[(String, String)],
) -> Result<u32> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let pid = child.id();
    let mut pids = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("pids"))?;
    writeln!(pids, "{name} {pid}")?;
    Ok(pid)
}

pub(crate) fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

pub(crate) fn wait_until(what: &str, timeout: Duration, dir: &Path, mut ready: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{what} not ready after {}s; logs in {}", timeout.as_secs(), dir.join("logs").display())
}

pub(crate) fn http_ok(port: u16, path: &str) -> bool {
    http_ok_at(std::net::Ipv4Addr::LOCALHOST, port, path)
}

/// Whether `GET http://ip:port/path` answers 200.
pub(crate) fn http_ok_at(ip: std::net::Ipv4Addr, port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&(ip, port).into(), Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200")
}

/// Every request at Metadata level except the cluster's own components' (`devcluster requests`
/// counts only the admin's; loading a scale scenario as the components stays cheap).
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n\
    - level: None\n  users: [devcluster-components]\n- level: Metadata\n";

impl Cluster {
    /// Starts a cluster in `dir` (which must not exist or be empty) and returns once it serves
    /// requests with Flux's CRDs installed.
    pub fn up(dir: &Path, opts: &Options) -> Result<Cluster> {
        let bin = build::build(true)?;
        if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            bail!("{} exists and is not empty", dir.display());
        }
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let mut cluster = Cluster {
            kubeconfig: dir.join("kubeconfig"),
            dir: dir.clone(),
            server: String::new(),
            api_server: String::new(),
            proxy: None,
            daemon: None,
            keep: false,
        };
        match cluster.start(opts, &bin) {
            Ok(()) => Ok(cluster),
            Err(e) => {
                // Stop what started but keep the directory: its logs say what went wrong.
                cluster.keep = true;
                let _ = stop_processes(&dir);
                Err(e.context(format!("devcluster up failed; logs kept in {}", dir.join("logs").display())))
            }
        }
    }

    fn start(&mut self, opts: &Options, bin: &Path) -> Result<()> {
        let dir = self.dir.clone();
        let cluster = self;
        let pki = pki::generate(&dir.join("pki"))?;
        let p = |f: &str| dir.join("pki").join(f).display().to_string();
        std::fs::write(dir.join("audit-policy.yaml"), AUDIT_POLICY)?;

        let (client_port, peer_port) = (free_port()?, free_port()?);
        spawn(
            &dir,
            bin,
            "etcd",
            &[
                "--name=devcluster".into(),
                format!("--data-dir={}", dir.join("etcd").display()),
                format!("--listen-client-urls=http://127.0.0.1:{client_port}"),
                format!("--advertise-client-urls=http://127.0.0.1:{client_port}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
                format!("--initial-cluster=devcluster=http://127.0.0.1:{peer_port}"),
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
        )?;
        wait_until("etcd", Duration::from_secs(30), &dir, || http_ok(client_port, "/health"))?;

        let port = free_port()?;
        let mut args = vec![
            format!("--etcd-servers=http://127.0.0.1:{client_port}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            "--authorization-mode=Node,RBAC".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            // Room for the Services of a 50,000-app scale scenario (`devcluster gen`).
            "--service-cluster-ip-range=10.0.0.0/16".into(),
            format!("--audit-log-path={}", dir.join("audit.log").display()),
            format!("--audit-policy-file={}", dir.join("audit-policy.yaml").display()),
            "--audit-log-mode=blocking".into(),
            "--audit-log-format=json".into(),
            "--allow-privileged=true".into(),
            format!("--cert-dir={}", dir.join("pki").display()),
        ];
        // TaintNodesByCondition would taint every new Node not-ready; only the node lifecycle
        // controller (off: snapshot Nodes have no kubelet) removes that taint, so loaded Nodes
        // would differ from their files and kwok's nodes would never get pods.
        // Pod logs: the API server asks kwok's kubelet endpoint on the node's InternalIP.
        args.extend([
            "--kubelet-preferred-address-types=InternalIP".into(),
            format!("--kubelet-client-certificate={}", p("admin.crt")),
            format!("--kubelet-client-key={}", p("admin.key")),
        ]);
        let flux = opts.flux || opts.flux_operator;
        let kube_controllers = opts.kube_controllers || flux || opts.metrics_server;
        if opts.metrics_server {
            // The aggregation layer: the API server forwards metrics.k8s.io requests to
            // metrics-server as `front-proxy-client` with the user in X-Remote-* headers, and
            // reaches it at its Endpoints (no kube-proxy here to route a Service's cluster IP).
            args.extend([
                format!("--requestheader-client-ca-file={}", p("ca.crt")),
                format!("--requestheader-allowed-names={}", pki::FRONT_PROXY_CLIENT),
                "--requestheader-username-headers=X-Remote-User".into(),
                "--requestheader-group-headers=X-Remote-Group".into(),
                "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
                format!("--proxy-client-cert-file={}", p("front-proxy-client.crt")),
                format!("--proxy-client-key-file={}", p("front-proxy-client.key")),
                "--enable-aggregator-routing=true".into(),
            ]);
        }
        if kube_controllers {
            args.push("--disable-admission-plugins=TaintNodesByCondition".into());
        } else {
            // Without the controller manager no "default" ServiceAccount is ever created; loaded
            // Pods would be refused by the ServiceAccount admission plugin.
            args.push("--disable-admission-plugins=TaintNodesByCondition,ServiceAccount".into());
        }
        spawn(&dir, bin, "kube-apiserver", &args)?;
        cluster.server = format!("https://127.0.0.1:{port}");
        cluster.api_server = cluster.server.clone();
        write_kubeconfig(
            &dir.join("direct.kubeconfig"),
            &cluster.server,
            &pki.ca_cert,
            "admin",
            &pki.admin_cert,
            &pki.admin_key,
        )?;
        write_kubeconfig(&cluster.kubeconfig, &cluster.server, &pki.ca_cert, "admin", &pki.admin_cert, &pki.admin_key)?;
        write_kubeconfig(
            &dir.join("components.kubeconfig"),
            &cluster.server,
            &pki.ca_cert,
            "devcluster-components",
            &pki.components_cert,
            &pki.components_key,
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            // up's own requests use the components' identity, so `requests` shows only the user's.
            let client = crate::client(&dir.join("components.kubeconfig")).await?;
            let start = Instant::now();
            loop {
                let req = http::Request::get("/readyz").body(Vec::new())?;
                if matches!(client.request_text(req).await.as_deref(), Ok("ok")) {
                    break;
                }
                if start.elapsed() > Duration::from_secs(90) {
                    bail!("kube-apiserver not ready after 90s; logs in {}", dir.join("logs").display());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            crds::install(&client, &versions::load()?).await
        })?;
        if kube_controllers {
            let logs = if flux { crate::flux::kwok_logs(&dir) } else { String::new() };
            // Pods whose processes run here (Flux's controllers, metrics-server's Endpoints)
            // need the machine's own address; plain fake nodes make do with loopback.
            let node_ip = if flux || opts.metrics_server {
                crate::netaddr::node_address()?
            } else {
                crate::netaddr::node_address().unwrap_or(std::net::Ipv4Addr::LOCALHOST)
            };
            crate::controllers::start(cluster, bin, &logs, node_ip)?;
        }
        if flux {
            let flux_bin = build::build_flux(true)?;
            crate::fixtures::write(&dir.join("flux"))?;
            match &opts.standalone {
                Some(exe) => {
                    let args = ["__flux-daemon".to_string(), "--dir".into(), dir.display().to_string()];
                    spawn_program(&dir, exe, "flux-daemon", &args, &[])?;
                    wait_until("flux daemon", Duration::from_secs(10), &dir, || {
                        crate::flux::Endpoints::read(&dir).is_ok()
                    })?;
                }
                None => cluster.daemon = Some(crate::flux::start_daemon(&dir)?),
            }
            crate::flux::start(cluster, &flux_bin, &crate::flux::Endpoints::read(&dir)?.url)?;
        }
        if opts.flux_operator {
            crate::operator::start(cluster)?;
        }
        if opts.metrics_server {
            crate::metrics_server::start(cluster, flux)?;
        }
        if opts.proxy {
            match &opts.standalone {
                Some(exe) => cluster.spawn_proxy(exe)?,
                None => {
                    let handle = crate::proxy::start(&dir, &cluster.api_server)?;
                    cluster.use_proxy(&handle.endpoints.server)?;
                    cluster.proxy = Some(handle);
                }
            }
        }
        Ok(())
    }

    /// Points `kubeconfig` at a proxy in front of the API server (`direct.kubeconfig` keeps
    /// pointing at the API server itself).
    pub fn use_proxy(&mut self, server: &str) -> Result<()> {
        let text = std::fs::read_to_string(self.dir.join("direct.kubeconfig"))?;
        let api_server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .context("direct.kubeconfig has no server")?
            .to_string();
        std::fs::write(&self.kubeconfig, text.replace(&format!("server: {api_server}"), &format!("server: {server}")))?;
        self.server = server.to_string();
        self.api_server = api_server;
        Ok(())
    }

    fn spawn_proxy(&mut self, exe: &Path) -> Result<()> {
        let dir = self.dir.clone();
        let args = [
            "__proxy".to_string(),
            "--dir".into(),
            dir.display().to_string(),
            "--upstream".into(),
            self.api_server.clone(),
        ];
        spawn_program(&dir, exe, "proxy", &args, &[])?;
        wait_until("proxy", Duration::from_secs(10), &dir, || crate::proxy::Endpoints::read(&dir).is_ok())?;
        self.use_proxy(&crate::proxy::Endpoints::read(&dir)?.server)
    }

    /// The fault proxy's control endpoints (with `--proxy`).
    pub fn faults(&self) -> Result<crate::proxy::Endpoints> {
        crate::proxy::Endpoints::read(&self.dir)
    }

    /// Attaches to a cluster `up` left running (for `down`, `requests`, `env`).
    pub fn attach(dir: &Path) -> Result<Cluster> {
        let dir = dir.canonicalize().with_context(|| format!("{} is not a devcluster directory", dir.display()))?;
        if !dir.join("pids").exists() {
            bail!("{} is not a devcluster directory (no pids file)", dir.display());
        }
        Ok(Cluster {
            kubeconfig: dir.join("kubeconfig"),
            dir,
            server: String::new(),
            api_server: String::new(),
            proxy: None,
            daemon: None,
            keep: true,
        })
    }

    /// Keeps the cluster running when this value is dropped (the CLI's `up`).
    pub fn keep(mut self) -> Self {
        self.keep = true;
        self
    }

    /// Stops every process `up` started (SIGTERM, then SIGKILL after 10s), waits for them, and
    /// removes the directory.
    pub fn down(mut self) -> Result<()> {
        self.keep = true;
        // The supervisor first: it would start a stopped controller again.
        self.daemon.take();
        stop(&self.dir)
    }

    /// The pids `up` recorded, by component name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        read_pids(&self.dir)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.keep {
            self.daemon.take();
            let _ = stop(&self.dir);
        }
    }
}

pub(crate) fn read_pids(dir: &Path) -> Vec<(String, u32)> {
    std::fs::read_to_string(dir.join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (name, pid) = l.split_once(' ')?;
            Some((name.to_string(), pid.trim().parse().ok()?))
        })
        .collect()
}

fn stop(dir: &Path) -> Result<()> {
    stop_processes(dir)?;
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// SIGTERM to every recorded pid (controllers first, etcd last), SIGKILL after 10s, and waits
/// until none is left.
fn stop_processes(dir: &Path) -> Result<()> {
    // In stages, in reverse start order: the daemons (Flux's supervisor would start a stopped
    // controller again), then the controllers and kwok together, then kube-apiserver, then
    // etcd. Stopping etcd under a live API server makes the API server's graceful shutdown hang
    // until the SIGKILL bound. A process recorded while stopping (a restart in flight) is
    // stopped on the next round.
    for _ in 0..3 {
        let pids: Vec<_> = read_pids(dir).into_iter().filter(|(_, p)| alive(*p)).collect();
        if pids.is_empty() {
            break;
        }
        let (daemons, rest): (Vec<_>, Vec<_>) = pids.into_iter().partition(|(n, _)| n == "flux-daemon" || n == "proxy");
        let (servers, rest): (Vec<_>, Vec<_>) =
            rest.into_iter().partition(|(n, _)| n == "etcd" || n == "kube-apiserver");
        let mut stages = vec![daemons, rest];
        stages.extend(servers.into_iter().rev().map(|p| vec![p]));
        for stage in stages.iter().filter(|s| !s.is_empty()) {
            stop_stage(stage)?;
        }
    }
    Ok(())
}

/// SIGTERM, up to 10s for the processes to exit, SIGKILL, up to 5s more.
pub(crate) fn stop_stage(pids: &[(String, u32)]) -> Result<()> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    for (_, pid) in pids {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGTERM);
    }
    let start = Instant::now();
    while pids.iter().any(|(_, p)| alive(*p)) && start.elapsed() < Duration::from_secs(10) {
        reap(pids);
        std::thread::sleep(Duration::from_millis(50));
    }
    for (_, pid) in pids {
        if alive(*pid) {
            let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
        }
    }
    let start = Instant::now();
    while pids.iter().any(|(_, p)| alive(*p)) && start.elapsed() < Duration::from_secs(5) {
        reap(pids);
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some((name, pid)) = pids.iter().find(|(_, p)| alive(*p)) {
        bail!("{name} (pid {pid}) did not stop");
    }
    Ok(())
}

/// Reaps the cluster's processes that exited, when this process started them (a test calling
/// `up` and `down`); only those pids, never another thread's children.
fn reap(pids: &[(String, u32)]) {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    for (_, pid) in pids {
        let _ = waitpid(nix::unistd::Pid::from_raw(*pid as i32), Some(WaitPidFlag::WNOHANG));
    }
}

fn write_kubeconfig(path: &Path, server: &str, ca: &str, user: &str, cert: &str, key: &str) -> Result<()> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: devcluster\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: devcluster\n  context:\n    cluster: devcluster\n    user: {user}\ncurrent-context: devcluster\n",
        b64(ca),
        b64(cert),
        b64(key)
    );
    std::fs::write(path, text)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}
