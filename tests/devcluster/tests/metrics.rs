//! What `kubectl flux-controllers` reads, made real: each Flux controller pod's Prometheus
//! endpoint through the API server's pod proxy (served by the real process), the Deployments'
//! args, ports and resources, `kubectl top` fed with the processes' real usage, and the loads
//! `devcluster break` makes (overload, OOM kill, slow reconciles, a shard), each observable the
//! way a user or the plugin would observe it.

mod common;

use common::*;
use devcluster::flux::{self, Failure, Launch, current_pid, induce, samples};
use devcluster::{Cluster, Options};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const CONTROLLERS: &[&str] = flux::CONTROLLERS;

fn ok(kc: &Path, cache: &Path, args: &[&str]) -> String {
    let (code, out, err) = kubectl(kc, cache, args);
    assert_eq!(code, 0, "kubectl {args:?}: {err}");
    out
}

fn json(kc: &Path, cache: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&ok(kc, cache, &[args, &["-o", "json"]].concat())).unwrap()
}

/// The pods of a controller Deployment (`app=<name>`).
fn pods(kc: &Path, cache: &Path, name: &str) -> Vec<Value> {
    json(kc, cache, &["get", "pods", "-n", "flux-system", "-l", &format!("app={name}")])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The metrics of a controller's pod, read as the plugin reads them: the real kubectl's
/// `get --raw` through the pod proxy, at the Deployment's `http-prom` port.
fn raw_metrics(kc: &Path, cache: &Path, name: &str) -> Result<String, String> {
    let d = json(kc, cache, &["get", "deployment", name, "-n", "flux-system"]);
    let port = d["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "http-prom")
        .expect("an http-prom port")["containerPort"]
        .as_u64()
        .unwrap();
    let pods = pods(kc, cache, name);
    let pod = pods
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .max_by_key(|p| p["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string())
        .ok_or("no pod")?;
    let path = format!(
        "/api/v1/namespaces/flux-system/pods/{}:{port}/proxy/metrics",
        pod["metadata"]["name"].as_str().unwrap()
    );
    let (code, out, err) = kubectl(kc, cache, &["get", "--raw", &path]);
    if code == 0 { Ok(out) } else { Err(err) }
}

/// When a process started, in seconds since the epoch: /proc/<pid>/stat's starttime (clock
/// ticks after boot, 100 a second) plus /proc/stat's btime.
fn process_start(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[19].parse().unwrap();
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    boot + ticks / 100.0
}

#[test]
fn controller_pods_serve_their_processes_metrics_and_kubectl_top_reads_their_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options { flux: true, metrics_server: true, ..Default::default() };
    let cluster = Cluster::up(&tmp.path().join("c"), &opts).unwrap();
    let (kc, cache, dir) = (cluster.kubeconfig.clone(), tmp.path().join("cache"), cluster.dir.clone());
    let address = devcluster::netaddr::node_address().unwrap();

    for c in CONTROLLERS {
        // Settled when `up` returns: one pod, whose log kubectl serves.
        let pods = pods(&kc, &cache, c);
        assert_eq!(pods.len(), 1, "{c}: {pods:?}");
        let (code, _, err) = kubectl(&kc, &cache, &["logs", "-n", "flux-system", &format!("deployment/{c}")]);
        assert_eq!(code, 0, "{c}: {err}");

        // The Deployment as `flux install` writes it, carrying the process's real flags.
        let launch = Launch::read(&dir, c).unwrap();
        let d = json(&kc, &cache, &["get", "deployment", c, "-n", "flux-system"]);
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        let ports: Vec<(String, u64)> = container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_string(), p["containerPort"].as_u64().unwrap()))
            .collect();
        assert!(ports.contains(&("http-prom".into(), launch.metrics.into())), "{ports:?}");
        assert!(ports.contains(&("healthz".into(), launch.health.into())), "{ports:?}");
        assert_eq!(container["resources"]["requests"], serde_json::json!({"cpu": "100m", "memory": "64Mi"}));
        assert_eq!(container["resources"]["limits"], serde_json::json!({"cpu": "1", "memory": "1Gi"}));
        let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert!(args.contains(&format!("--metrics-addr={address}:{}", launch.metrics).as_str()), "{args:?}");
        assert!(args.iter().any(|a| a.starts_with("--concurrent=")), "{args:?}");
        // ... which are exactly the process's command line.
        let pid = current_pid(&dir, c).unwrap();
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
        let running: Vec<&str> = cmdline.split('\0').filter(|a| !a.is_empty()).skip(1).collect();
        assert_eq!(running, args, "{c}'s process runs with its Deployment's args");
        if *c != "notification-controller" {
            assert!(args.contains(&"--requeue-dependency=5s") || *c == "source-controller", "{args:?}");
        }

        // The pod's IP is the machine's own address, which the API server proxies to.
        let pod = &pods[0];
        assert_eq!(pod["status"]["podIP"], address.to_string());
        let metrics = raw_metrics(&kc, &cache, c).unwrap();
        assert!(metrics.contains("controller_runtime_reconcile_total{"), "{c}: {}", &metrics[..metrics.len().min(500)]);
        assert!(metrics.contains("process_resident_memory_bytes"), "{c}");
        // The real process's: its start time is the process's.
        let start = samples(&metrics, "process_start_time_seconds", &[])[0];
        let created = process_start(pid);
        assert!((start - created).abs() < 5.0, "{c}: process_start_time_seconds {start} vs /proc {created}");
    }

    // kubectl top: metrics-server, scraping kwok's resource metrics fed from /proc.
    let mut last = String::new();
    eventually("kubectl top lists every controller with its memory", Duration::from_secs(90), || {
        let (code, out, err) = kubectl(&kc, &cache, &["top", "pods", "-n", "flux-system", "--containers"]);
        last = format!("{out}{err}");
        if code != 0 {
            return Some(last.clone());
        }
        let missing: Vec<&&str> = CONTROLLERS
            .iter()
            .filter(|c| {
                !out.lines().any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    // Above kwok's 1Mi for a pod without usage: the process's own.
                    f.len() == 4
                        && f[1] == **c
                        && f[3].strip_suffix("Mi").and_then(|m| m.parse::<u64>().ok()).is_some_and(|m| m > 5)
                })
            })
            .collect();
        (!missing.is_empty()).then(|| format!("missing {missing:?}: {out}"))
    });
    // The memory shown is the process's RSS (within what it moves between scrapes).
    let out = ok(&kc, &cache, &["top", "pods", "-n", "flux-system", "--containers"]);
    for c in CONTROLLERS {
        let line = out.lines().find(|l| l.split_whitespace().nth(1) == Some(c)).unwrap();
        let shown: f64 = line.split_whitespace().nth(3).unwrap().trim_end_matches("Mi").parse().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{}/status", current_pid(&dir, c).unwrap())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        let rss = kib / 1024.0;
        assert!(shown > rss * 0.5 && shown < rss * 1.5, "{c}: top shows {shown}Mi, RSS {rss:.0}Mi\n{out}");
    }
    assert!(ok(&kc, &cache, &["top", "nodes"]).contains("kwok-node-0"));

    // A user's patch of the args, rolled out, restarts the process with them.
    let before = current_pid(&dir, "source-controller").unwrap();
    ok(
        &kc,
        &cache,
        &[
            "patch",
            "deployment",
            "source-controller",
            "-n",
            "flux-system",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--concurrent=3"}]"#,
        ],
    );
    ok(&kc, &cache, &["rollout", "status", "deployment/source-controller", "-n", "flux-system", "--timeout=60s"]);
    eventually("source-controller runs with --concurrent=3", Duration::from_secs(60), || {
        let m = raw_metrics(&kc, &cache, "source-controller").unwrap_or_default();
        let workers = samples(&m, "controller_runtime_max_concurrent_reconciles", &[("controller", "gitrepository")]);
        (workers != [3.0]).then(|| format!("{workers:?}"))
    });
    assert_ne!(current_pid(&dir, "source-controller"), Some(before));
    cluster.down().unwrap();
}

#[test]
fn breaks_make_the_controllers_struggle_observably() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::up(&tmp.path().join("c"), &Options { flux: true, ..Default::default() }).unwrap();
    let (kc, cache, dir) = (cluster.kubeconfig.clone(), tmp.path().join("cache"), cluster.dir.clone());

    // slow: reconciles as long as the health checks' timeout, in both duration histograms.
    induce(&dir, Failure::Slow).unwrap();
    let m = raw_metrics(&kc, &cache, "kustomize-controller").unwrap();
    let sum = samples(&m, "gotk_reconcile_duration_seconds_sum", &[("name", "slow-0")]);
    assert!(sum[0] >= flux::SLOW_TIMEOUT_SECS as f64, "{sum:?}");
    let reconcile = [("controller", "kustomization")];
    let count = samples(&m, "controller_runtime_reconcile_time_seconds_count", &reconcile)[0];
    let within_10s = samples(&m, "controller_runtime_reconcile_time_seconds_bucket", &[reconcile[0], ("le", "10")])[0];
    assert!(count - within_10s >= 1.0, "a reconcile longer than 10 s: {count} {within_10s}");
    let (_, out, _) = kubectl(&kc, &cache, &["get", "kustomization", "slow-0", "-n", "flux-system"]);
    assert!(out.contains("timeout waiting for") || out.contains("Health check") || out.contains("False"), "{out}");

    // shard: a second kustomize-controller Deployment and process, for the labelled objects.
    induce(&dir, Failure::Shard).unwrap();
    let arg = |name: &str| {
        ok(
            &kc,
            &cache,
            &[
                "get",
                "deployment",
                name,
                "-n",
                "flux-system",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].args}",
            ],
        )
    };
    assert!(arg(flux::SHARD).contains("--watch-label-selector=sharding.fluxcd.io/key in (shard1)"));
    assert!(arg("kustomize-controller").contains("--watch-label-selector=sharding.fluxcd.io/key notin (shard1)"));
    let shard_metrics = raw_metrics(&kc, &cache, flux::SHARD).unwrap();
    assert!(!samples(&shard_metrics, "gotk_reconcile_duration_seconds_count", &[("name", "sharded")]).is_empty());
    assert!(samples(&shard_metrics, "gotk_reconcile_duration_seconds_count", &[("name", "app-a")]).is_empty());
    let main_metrics = raw_metrics(&kc, &cache, "kustomize-controller").unwrap();
    assert!(samples(&main_metrics, "gotk_reconcile_duration_seconds_count", &[("name", "sharded")]).is_empty());
    let (code, log, _) = kubectl(&kc, &cache, &["logs", "-n", "flux-system", &format!("deployment/{}", flux::SHARD)]);
    assert_eq!(code, 0);
    assert!(log.contains("\"name\":\"sharded\""), "{log}");

    // oom, through the command line: killed over its limit, recorded as a kubelet would.
    let before = current_pid(&dir, flux::OOM_CONTROLLER).unwrap();
    let out = devcluster(&["break", "--dir", dir.to_str().unwrap(), "oom"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let oom_pods = pods(&kc, &cache, flux::OOM_CONTROLLER);
    // The rollout's new pod (the old one stays while the new one crash-loops, as on a cluster).
    let limited = |p: &&Value| p["spec"]["containers"][0]["resources"]["limits"]["memory"] == flux::OOM_LIMIT;
    let pod = oom_pods.iter().find(limited).unwrap();
    let status = &pod["status"]["containerStatuses"][0];
    let terminated = &status["lastState"]["terminated"];
    assert_eq!(terminated["reason"], "OOMKilled", "{status}");
    assert_eq!(terminated["exitCode"], 137, "{status}");
    assert!(terminated["startedAt"].is_string() && terminated["finishedAt"].is_string(), "{status}");
    assert!(status["restartCount"].as_u64().unwrap() >= 1, "{status}");
    assert!(!alive(before));
    // kwok leaves it so; the restarts go on, backing off.
    std::thread::sleep(Duration::from_secs(3));
    let again = pods(&kc, &cache, flux::OOM_CONTROLLER);
    let pod = again.iter().find(limited).unwrap();
    assert_eq!(pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"], "OOMKilled");
    let described =
        ok(&kc, &cache, &["describe", "pod", "-n", "flux-system", pod["metadata"]["name"].as_str().unwrap()]);
    assert!(described.contains("OOMKilled") && described.contains("137"), "{described}");

    // overload: kustomize-controller with one worker and 300 Kustomizations every 5 s.
    induce(&dir, Failure::Overload).unwrap();
    let m = raw_metrics(&kc, &cache, "kustomize-controller").unwrap();
    let depth = samples(&m, "workqueue_depth", &[("name", "kustomization")]);
    assert!(depth[0] > 100.0, "{depth:?}");
    assert_eq!(samples(&m, "controller_runtime_max_concurrent_reconciles", &[("controller", "kustomization")]), [1.0]);
    cluster.down().unwrap();
}
