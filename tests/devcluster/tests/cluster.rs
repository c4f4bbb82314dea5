//! devcluster against itself and the real kubectl it builds: the command-line contract, a static
//! cluster serving a loaded scenario, exact request accounting, a rollout and garbage collection
//! with `--kube-controllers`, two clusters at once, and clean shutdown.
//!
//! Every test builds the Go components first (`devcluster build`: seconds when cached, tens of
//! minutes the very first time on a fresh machine).
mod common;

use common::*;
use devcluster::{Cluster, Options, audit, build};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[test]
fn the_command_line_contract_on_a_static_cluster() {
    let out = devcluster(&["build"]);
    assert!(out.status.success(), "devcluster build: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dirs: Vec<PathBuf> = stdout.lines().map(PathBuf::from).collect();
    assert_eq!(dirs.len(), 4, "Kubernetes', Flux's, metrics-server's and the flux-operator's binaries: {stdout}");
    let all = [build::COMPONENTS, build::FLUX_COMPONENTS, &["metrics-server"], build::OPERATOR_COMPONENTS];
    for (bin, components) in dirs.iter().zip(all) {
        for c in components {
            assert!(bin.join(c).is_file(), "{c} missing in {}", bin.display());
        }
    }
    let bin = dirs[0].clone();

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let cluster = CliCluster::up(dir.clone(), &[]);
    let kc = cluster.kubeconfig();
    let cache = tmp.path().join("kube-cache");

    // env prints what a shell needs.
    let env = String::from_utf8(devcluster(&["env", "--dir", dir.to_str().unwrap()]).stdout).unwrap();
    let expected = format!("export KUBECONFIG={} PATH={}:{}:$PATH", kc.display(), bin.display(), dirs[1].display());
    assert_eq!(env.trim(), expected);

    // The real kubectl, the admin identity, Flux's CRDs.
    let (code, out, err) = kubectl(&kc, &cache, &["get", "ns", "-o", "name"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("namespace/kube-system"), "{out}");
    let (code, out, _) = kubectl(&kc, &cache, &["version", "-o", "json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"gitVersion\": \"v1.36."), "{out}");
    let (_, out, _) = kubectl(&kc, &cache, &["get", "crd", "-o", "name"]);
    for crd in [
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
        "gitrepositories.source.toolkit.fluxcd.io",
        "alerts.notification.toolkit.fluxcd.io",
    ] {
        assert!(out.contains(crd), "{crd} missing: {out}");
    }

    // load: twice (the second run updates), owners before dependents, statuses, events.
    let scenario = fixtures().join("scenario");
    for _ in 0..2 {
        let out = devcluster(&["load", "--kubeconfig", kc.to_str().unwrap(), scenario.to_str().unwrap()]);
        assert!(out.status.success(), "load: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (_, out, _) = kubectl(
        &kc,
        &cache,
        &["get", "gitrepo", "shop", "-n", "flux-system", "-o", "jsonpath={.status.artifact.size}"],
    );
    assert_eq!(out, "48213", "status written through the status subresource");
    let (_, out, _) = kubectl(
        &kc,
        &cache,
        &["get", "ks", "shop", "-n", "flux-system", "-o", "jsonpath={.status.conditions[0].reason}"],
    );
    assert_eq!(out, "HealthCheckFailed");
    let (_, out, _) =
        kubectl(&kc, &cache, &["get", "pods", "-n", "shop", "--field-selector", "status.phase=Pending", "-o", "name"]);
    assert_eq!(out, "pod/web-5d4f8c7b9-x2k4q\n");
    let (_, uid, _) =
        kubectl(&kc, &cache, &["get", "rs", "web-5d4f8c7b9", "-n", "shop", "-o", "jsonpath={.metadata.uid}"]);
    let (_, owner, _) = kubectl(
        &kc,
        &cache,
        &["get", "pod", "web-5d4f8c7b9-x2k4q", "-n", "shop", "-o", "jsonpath={.metadata.ownerReferences[0].uid}"],
    );
    assert_eq!(owner, uid, "ownerReferences re-pointed to the server's uid");
    assert!(!uid.starts_with("0b7a1d1e"), "{uid}");
    let (_, out, _) = kubectl(
        &kc,
        &cache,
        &[
            "get",
            "events",
            "-n",
            "shop",
            "-o",
            "jsonpath={.items[0].lastTimestamp} {.items[0].count} {.items[0].involvedObject.uid}",
        ],
    );
    assert_eq!(out, format!("2026-01-01T00:04:10Z 7 {}", pod_uid(&kc, &cache)), "events keep their timestamps");
    let (_, out, _) =
        kubectl(&kc, &cache, &["get", "cm", "web-config", "-n", "shop", "-o", "jsonpath={.data.greeting}"]);
    assert_eq!(out, "hello", "List items are loaded");

    // Namespaces the files imply but do not define are created.
    let implied = fixtures().join("implied");
    let out = devcluster(&["load", "--kubeconfig", kc.to_str().unwrap(), implied.to_str().unwrap()]);
    assert!(out.status.success(), "load: {}", String::from_utf8_lossy(&out.stderr));
    let (_, out, _) =
        kubectl(&kc, &cache, &["get", "ks", "team-z", "-n", "team-z", "-o", "jsonpath={.status.conditions[0].reason}"]);
    assert_eq!(out, "ReconciliationSucceeded");

    // A malformed file and a refused object: exit 2 naming the file, the object, the reason.
    let bad = fixtures().join("bad");
    let out = devcluster(&["load", "--kubeconfig", kc.to_str().unwrap(), bad.join("malformed.yaml").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("malformed.yaml"), "{err}");
    let out = devcluster(&["load", "--kubeconfig", kc.to_str().unwrap(), bad.join("rejected.yaml").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("rejected.yaml") && err.contains("shop/Not_A_Valid_Name") && err.contains("RFC 1123"),
        "{err}"
    );

    // requests: exactly what a known sequence of kubectl calls did (discovery cached above).
    let before = requests_json(&dir);
    for args in [
        &["get", "ns"][..],
        &["create", "ns", "counted"],
        &["get", "cm", "-n", "counted"],
        &["get", "ns", "counted", "-o", "name"],
        &["delete", "ns", "counted", "--wait=false"],
    ] {
        let (code, _, err) = kubectl(&kc, &cache, args);
        assert_eq!(code, 0, "kubectl {args:?}: {err}");
    }
    let got = delta(&before, &requests_json(&dir));
    let want: Counts = [
        (key("list", "namespaces", ""), 1),
        (key("create", "namespaces", ""), 1),
        (key("list", "configmaps", "counted"), 1),
        (key("get", "namespaces", "counted"), 1),
        (key("delete", "namespaces", "counted"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    let table = String::from_utf8(devcluster(&["requests", "--dir", dir.to_str().unwrap()]).stdout).unwrap();
    assert!(table.starts_with("VERB") && table.contains("configmaps"), "{table}");

    // `break` needs a cluster with Flux.
    let out = devcluster(&["break", "--dir", dir.to_str().unwrap(), "wrong-path"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs no Flux"), "{}", String::from_utf8_lossy(&out.stderr));

    // down stops every process and removes the directory.
    let started = pids(&dir);
    assert_eq!(started.len(), 2, "etcd and kube-apiserver");
    let stopping = Instant::now();
    let out = devcluster(&["down", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "SIGTERM sufficed (no 10s SIGKILL bound): {:?}",
        stopping.elapsed()
    );
    assert!(started.iter().all(|p| !alive(*p)), "processes left running");
    assert!(!dir.exists());
    drop(cluster);
}

fn pod_uid(kc: &Path, cache: &Path) -> String {
    kubectl(kc, cache, &["get", "pod", "web-5d4f8c7b9-x2k4q", "-n", "shop", "-o", "jsonpath={.metadata.uid}"]).1
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

#[test]
fn kube_controllers_roll_out_deployments_and_collect_garbage() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster =
        Cluster::up(&tmp.path().join("c"), &Options { kube_controllers: true, ..Default::default() }).unwrap();
    let (kc, cache) = (cluster.kubeconfig.clone(), tmp.path().join("cache"));
    let names: Vec<String> = cluster.pids().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]);

    let (code, _, err) = kubectl_stdin(&kc, &cache, &["apply", "-f", "-"], Some(DEPLOYMENT));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = kubectl(&kc, &cache, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = kubectl(
        &kc,
        &cache,
        &["get", "pods", "-l", "app=web", "-o", "jsonpath={range .items[*]}{.status.phase}/{.spec.nodeName} {end}"],
    );
    let pods: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(pods.len(), 3, "{out}");
    assert!(pods.iter().all(|p| p.starts_with("Running/kwok-node-")), "{out}");

    // Owner-reference garbage collection: the ReplicaSet and the pods go with the Deployment.
    let (code, _, err) = kubectl(&kc, &cache, &["delete", "deployment", "web", "--cascade=background"]);
    assert_eq!(code, 0, "{err}");
    eventually("pods and replicasets collected", Duration::from_secs(60), || {
        let (_, out, _) = kubectl(&kc, &cache, &["get", "rs,pods", "-l", "app=web", "-o", "name"]);
        (!out.trim().is_empty()).then_some(out)
    });

    let started: Vec<u32> = cluster.pids().into_iter().map(|(_, p)| p).collect();
    let stopping = Instant::now();
    cluster.down().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "SIGTERM sufficed (no 10s SIGKILL bound): {:?}",
        stopping.elapsed()
    );
    assert!(started.iter().all(|p| !alive(*p)), "processes left running");
}

#[test]
fn two_clusters_run_at_once_and_a_dropped_guard_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Cluster::up(&tmp.path().join("a"), &Options::default()).unwrap();
    let b = Cluster::up(&tmp.path().join("b"), &Options::default()).unwrap();
    let cache = tmp.path().join("cache");
    assert_ne!(a.server, b.server);
    let (code, _, err) = kubectl(&a.kubeconfig, &cache, &["create", "namespace", "only-in-a"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = kubectl(&b.kubeconfig, &cache, &["get", "namespace", "only-in-a"]);
    assert_eq!(code, 1, "clusters share nothing");
    // Counting is per cluster.
    assert!(audit::requests(&b.dir).unwrap().iter().all(|c| c.resource != "namespaces" || c.verb != "create"));
    let started: Vec<u32> = a.pids().into_iter().chain(b.pids()).map(|(_, p)| p).collect();
    let dirs = [a.dir.clone(), b.dir.clone()];
    drop(a);
    drop(b);
    assert!(started.iter().all(|p| !alive(*p)), "a dropped guard must stop its processes");
    assert!(dirs.iter().all(|d| !d.exists()));
}

#[test]
fn a_panicking_test_still_stops_its_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let d = dir.clone();
    let result = std::thread::spawn(move || {
        let _cluster = Cluster::up(&d, &Options::default()).unwrap();
        panic!("test failure while the cluster runs");
    })
    .join();
    assert!(result.is_err());
    assert!(!dir.exists(), "the guard's drop ran down");
}

#[test]
fn versions_are_pinned_in_one_place_and_agree_with_go_mod() {
    let v = devcluster::versions::load().unwrap();
    let go_mod = std::fs::read_to_string(build::go_module_dir().join("go.mod")).unwrap();
    assert!(go_mod.contains(&format!("k8s.io/kubernetes {}", v.kubernetes.version)));
    assert!(go_mod.contains(&format!("{} {}", v.etcd.module.as_deref().unwrap(), v.etcd.version)));
    assert!(go_mod.contains(&format!("{} {}", v.kwok.module.as_deref().unwrap(), v.kwok.version)));
    let staging = v.kubernetes.version.replacen("v1.", "v0.", 1);
    for m in ["api", "apimachinery", "apiserver", "client-go", "kubectl", "component-base"] {
        assert!(go_mod.contains(&format!("k8s.io/{m} => k8s.io/{m} {staging}")), "replace of k8s.io/{m}");
    }
    // Each Flux component's wrapper module requires the pinned version (the flux CLI is built
    // from the module of the pinned release itself).
    for c in build::FLUX_COMPONENTS.iter().filter(|c| **c != "flux") {
        let go_mod = std::fs::read_to_string(build::flux_modules_dir().join(c).join("go.mod")).unwrap();
        let module = if *c == "kube-lineage" {
            "github.com/tohjustin/kube-lineage".to_string()
        } else {
            format!("github.com/fluxcd/{c}")
        };
        let pinned = &v.flux[*c];
        let required = go_mod.lines().any(|l| l.split_whitespace().take(2).eq([module.as_str(), pinned.as_str()]));
        assert!(required, "go-flux/{c}/go.mod requires {module} {pinned}");
    }
    // Each wrapper module requires its pin and names exactly its tools (krew: the client and
    // krew-index's manifest validator).
    let wrapper = |dir: std::path::PathBuf, pin: &devcluster::versions::Pin, tools: &[&str]| {
        let go_mod = std::fs::read_to_string(dir.join("go.mod")).unwrap();
        let module = pin.module.as_deref().unwrap();
        assert!(
            go_mod.lines().any(|l| l.split_whitespace().take(2).eq([module, pin.version.as_str()])),
            "{}/go.mod requires {module} {}",
            dir.display(),
            pin.version
        );
        let packages: Vec<String> = tools.iter().map(|t| format!("{module}/cmd/{t}")).collect();
        assert_eq!(build::tool_packages(&go_mod), packages);
    };
    wrapper(build::metrics_server_module_dir(), &v.metrics_server, &["metrics-server"]);
    wrapper(build::actionlint_module_dir(), &v.actionlint, &["actionlint"]);
    wrapper(build::krew_module_dir(), &v.krew, build::KREW_COMPONENTS);
    // The flux-operator's wrapper needs the Go release its pin names, and says so.
    wrapper(build::operator_module_dir(), &v.flux_operator, build::OPERATOR_COMPONENTS);
    let toolchain = v.flux_operator.toolchain.as_deref().unwrap();
    let go_mod = std::fs::read_to_string(build::operator_module_dir().join("go.mod")).unwrap();
    assert!(go_mod.contains(&format!("GOTOOLCHAIN={toolchain}")), "go-operator/go.mod names GOTOOLCHAIN={toolchain}");
}

/// The kubectl a user types, against a loaded incident scenario (the bundled `demo`).
#[test]
fn kubectl_reads_a_loaded_scenario_like_a_real_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::up(&tmp.path().join("c"), &Options::default()).unwrap();
    let (kc, cache) = (cluster.kubeconfig.as_path(), tmp.path().join("cache"));
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo.yaml");
    let loaded = devcluster::load_files(kc, &[demo]).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let ok = |args: &[&str]| {
        let (code, out, err) = kubectl(kc, &cache, args);
        assert_eq!(code, 0, "kubectl {args:?}: {err}");
        out
    };
    // Short names, all namespaces, wide.
    let wide = ok(&["get", "ks,hr,gitrepo", "-A", "-o", "wide"]);
    for row in [
        "kustomization.kustomize.toolkit.fluxcd.io/team-b",
        "helmrelease.helm.toolkit.fluxcd.io/podinfo",
        "gitrepository.source.toolkit.fluxcd.io/flux-system",
    ] {
        assert!(wide.contains(row), "{row}: {wide}");
    }
    // A label selector and a sort order.
    let tenant = ok(&["get", "ks", "-A", "-l", "toolkit.fluxcd.io/tenant=team-a", "-o", "name"]);
    assert!(!tenant.is_empty() && tenant.lines().all(|l| l.starts_with("kustomization.")), "{tenant}");
    let sorted = ok(&["get", "ks", "-A", "--sort-by=.metadata.name", "-o", "jsonpath={.items[*].metadata.name}"]);
    let names: Vec<&str> = sorted.split(' ').collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]) && names.len() >= 8, "{sorted}");
    // describe shows the loaded status and Events.
    let described = ok(&["describe", "hr", "podinfo", "-n", "podinfo"]);
    assert!(described.contains("Status:") && described.contains("Events:"), "{described}");
    // -o json | jq, as the seed pipelines do.
    let bin = build::build(false).unwrap();
    let script = "kubectl get gitrepository -A -o json | jq -r '.items[] | [.metadata.namespace, .metadata.name, .spec.interval] | @tsv'";
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .env("KUBECONFIG", kc)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("flux-system\tflux-system\t"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // watch: the listing, then the change made while watching.
    let mut watch = std::process::Command::new(bin.join("kubectl"))
        .args(["get", "ks", "-n", "team-b", "--watch", "-o", "name", "--request-timeout=20s"])
        .arg(format!("--cache-dir={}", cache.display()))
        .env("KUBECONFIG", kc)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    ok(&["annotate", "ks", "team-b", "-n", "team-b", "devcluster/touched=yes"]);
    std::thread::sleep(Duration::from_secs(2));
    watch.kill().unwrap();
    let out = String::from_utf8(watch.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(
        out.matches("kustomization.kustomize.toolkit.fluxcd.io/team-b").count(),
        2,
        "listed, then changed: {out}"
    );
}
