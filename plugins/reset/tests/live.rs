//! flux-reset against a real API server (devcluster, with kube-controller-manager, scheduler and
//! kwok so Deployments roll out and the garbage collector runs) serving the corrupted-state
//! scenario: a full reset loses nothing, a crash after any journal step is finished by
//! `resume`, a suspend that cannot be confirmed (403) aborts before any delete, `plan` makes no
//! write, and `restore --from` brings back what a namespace lost.
//!
//! The world is built by [`World::up`]. Until devcluster runs the real Flux controllers, it
//! creates stand-in controller Deployments in flux-system (so a rollout restart is observable)
//! and a stand-in reconciler ([`StandIn`]) that marks resumed Flux objects Ready the way the
//! controllers report it (status subresource, Ready=True at the current generation).

use kubectl_flux_testkit::{Run, example, request_delta, requests, run_with};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"))
}

/// The Flux objects of corrupted-state, by collection path.
const FLUX: &[(&str, &str)] = &[
    ("/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories", "flux-system"),
    ("/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations", "shop"),
    ("/apis/helm.toolkit.fluxcd.io/v2/namespaces/shop/helmreleases", "redis"),
];

/// The managed objects counted before and after (everything Flux applied or labelled in shop).
const MANAGED: &[&str] = &[
    "/api/v1/namespaces/shop/configmaps",
    "/api/v1/namespaces/shop/services",
    "/apis/apps/v1/namespaces/shop/deployments",
    "/api/v1/namespaces/shop/secrets",
];

/// Stand-ins for the Flux controller Deployments.
const CONTROLLERS: &[&str] =
    &["source-controller", "kustomize-controller", "helm-controller", "notification-controller"];

struct World {
    cluster: devcluster::Cluster,
    runtime: tokio::runtime::Runtime,
    admin: kube::Client,
    standin: Option<StandIn>,
}

impl World {
    // `..Default::default()` stays so that the real Flux controllers are one field away
    // (`flux: true`), once devcluster has them.
    #[allow(clippy::needless_update)]
    fn up(dir: &Path) -> World {
        let cluster = devcluster::Cluster::up(
            &dir.join("cluster"),
            &devcluster::Options { kube_controllers: true, ..Default::default() },
        )
        .expect("devcluster up");
        let loaded = devcluster::load_files(&cluster.kubeconfig, &[PathBuf::from(example("corrupted-state"))])
            .expect("devcluster load");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // The test's own requests use the components' identity: the audit counts only the plugin's.
        let admin = runtime.block_on(devcluster::client(&cluster.dir.join("components.kubeconfig"))).unwrap();
        let mut world = World { cluster, runtime, admin, standin: None };
        for name in CONTROLLERS {
            world.create_controller(name);
        }
        world.wait("stand-in controllers available", Duration::from_secs(90), |w| {
            CONTROLLERS.iter().all(|n| {
                let d = w.get(&format!("/apis/apps/v1/namespaces/flux-system/deployments/{n}")).unwrap_or_default();
                d["status"]["availableReplicas"] == 1 && d["status"]["replicas"] == 1
            })
        });
        world.standin = Some(StandIn::start(world.cluster.dir.join("components.kubeconfig")));
        world
    }

    fn kubeconfig(&self) -> String {
        self.cluster.kubeconfig.display().to_string()
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>, content_type: &str) -> Result<Value, String> {
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default())
            .unwrap();
        self.runtime.block_on(self.admin.request::<Value>(req)).map_err(|e| e.to_string())
    }

    fn get(&self, path: &str) -> Option<Value> {
        self.request("GET", path, None, "application/json").ok()
    }

    fn items(&self, path: &str) -> Vec<Value> {
        self.get(path).and_then(|l| l["items"].as_array().cloned()).unwrap_or_default()
    }

    fn create_controller(&self, name: &str) {
        let body = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "flux-system", "labels": {"app.kubernetes.io/part-of": "flux", "app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "manager", "image": format!("ghcr.io/fluxcd/{name}:v1.9.5")}]}}},
        });
        self.request("POST", "/apis/apps/v1/namespaces/flux-system/deployments", Some(body), "application/json")
            .unwrap();
    }

    fn wait(&self, what: &str, limit: Duration, ready: impl Fn(&World) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            assert!(start.elapsed() < limit, "{what}: not after {}s", limit.as_secs());
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// (path, spec) of every Flux object.
    fn flux_specs(&self) -> BTreeMap<String, Value> {
        FLUX.iter()
            .filter_map(|(c, n)| {
                let path = format!("{c}/{n}");
                self.get(&path).map(|o| (path, o["spec"].clone()))
            })
            .collect()
    }

    /// uid of every managed object, by path.
    fn managed(&self) -> BTreeMap<String, String> {
        MANAGED
            .iter()
            .flat_map(|c| {
                self.items(c).into_iter().map(move |o| {
                    (
                        format!("{c}/{}", o["metadata"]["name"].as_str().unwrap()),
                        o["metadata"]["uid"].as_str().unwrap().to_string(),
                    )
                })
            })
            .collect()
    }

    /// Pod uids of the controllers.
    fn controller_pods(&self) -> BTreeMap<String, String> {
        self.items("/api/v1/namespaces/flux-system/pods")
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                    p["metadata"]["uid"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn reset(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let kubeconfig = self.kubeconfig();
        let mut all = args.to_vec();
        all.extend(["--kubeconfig", &kubeconfig]);
        run_with(bin(), &all, env)
    }

    /// Nothing was lost: every Flux object exists with its original spec, Ready, not
    /// Terminating; every managed object keeps its uid; the Lease is gone.
    fn assert_nothing_lost(&self, specs: &BTreeMap<String, Value>, managed: &BTreeMap<String, String>, context: &str) {
        assert_eq!(&self.flux_specs(), specs, "{context}: Flux objects and specs");
        for (c, n) in FLUX {
            let o = self.get(&format!("{c}/{n}")).unwrap();
            assert!(o["metadata"]["deletionTimestamp"].is_null(), "{context}: {n} Terminating");
            let ready = o["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            assert!(ready, "{context}: {n} not Ready: {}", o["status"]);
        }
        assert_eq!(&self.managed(), managed, "{context}: managed objects (uids)");
        assert!(
            self.get("/apis/coordination.k8s.io/v1/namespaces/flux-system/leases/kubectl-flux-reset").is_none(),
            "{context}: lock released"
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(s) = self.standin.take() {
            s.stop();
        }
    }
}

/// Stand-in for the Flux controllers' status reporting: every 300 ms, each Flux object of the
/// scenario that is not suspended and not Ready at its generation gets Ready=True.
struct StandIn {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl StandIn {
    fn start(kubeconfig: PathBuf) -> StandIn {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let client = devcluster::client(&kubeconfig).await.unwrap();
                while !flag.load(Ordering::Relaxed) {
                    for (collection, _) in FLUX {
                        let req = http::Request::get(*collection).body(Vec::new()).unwrap();
                        let Ok(list) = client.request::<Value>(req).await else { continue };
                        for o in list["items"].as_array().into_iter().flatten() {
                            let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
                            let ready = o["status"]["conditions"].as_array().is_some_and(|cs| {
                                cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True" && c["observedGeneration"].as_i64() >= Some(g))
                            });
                            if o["spec"]["suspend"] == true || ready || !o["metadata"]["deletionTimestamp"].is_null() {
                                continue;
                            }
                            let status = json!({"status": {"observedGeneration": g, "conditions": [{
                                "type": "Ready", "status": "True", "reason": "Succeeded", "message": "stand-in reconciler",
                                "observedGeneration": g, "lastTransitionTime": "2026-11-20T10:00:00Z"}]}});
                            let path = format!("{collection}/{}/status", o["metadata"]["name"].as_str().unwrap());
                            let req = http::Request::patch(path)
                                .header("content-type", "application/merge-patch+json")
                                .body(serde_json::to_vec(&status).unwrap())
                                .unwrap();
                            let _ = client.request::<Value>(req).await;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
        });
        StandIn { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn journal_steps(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["step"].as_str().unwrap_or("").to_string())
        .collect()
}

const FAST: &[&str] = &["--yes", "--finalizer-wait", "2s", "--timeout", "90s"];

#[test]
fn a_reset_brings_everything_back_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::up(tmp.path());
    let specs = world.flux_specs();
    assert_eq!(specs.len(), 3);
    let managed = world.managed();
    assert!(managed.len() >= 6, "{managed:?}");
    let uids_before: Vec<String> =
        FLUX.iter().map(|(c, n)| world.get(&format!("{c}/{n}")).unwrap()["metadata"]["uid"].to_string()).collect();
    let pods_before = world.controller_pods();
    assert_eq!(pods_before.len(), CONTROLLERS.len());

    let dir = tmp.path().join("reset");
    let d = dir.display().to_string();
    let start = Instant::now();
    let mut args = vec!["run", "--all", "--dir", &d];
    args.extend(FAST);
    let r = world.reset(&args, &[]);
    let took = start.elapsed();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    eprintln!("reset of corrupted-state took {:.1}s", took.as_secs_f64());
    let lines: Vec<&str> = r.stdout.lines().collect();
    for expected in [
        "backup     3 objects -> ",
        "backup     baseline: 4 managed objects (2 inventory entries already missing), 0 Helm releases, 4 controllers",
        "suspend    3 objects suspended, 1 Kustomizations deletionPolicy Orphan; confirmed by re-reading",
        "delete     3 objects deleted (propagationPolicy Orphan, uid and resourceVersion preconditions)",
        "delete     3 objects were still Terminating after --finalizer-wait: removed finalizers.fluxcd.io from them",
        "restart    4 controllers restarted and available: helm-controller, kustomize-controller, notification-controller, source-controller",
        "recreate   3 objects recreated from the backup, suspended",
        "resume     3 objects resumed",
        "verify     ok     exists: 3/3 backed-up objects exist",
        "verify     ok     same spec: every spec equals the backup's",
        "verify     ok     not terminating: nothing Terminating",
        "verify     ok     nothing deleted: 4 of 4 managed objects kept (same uid), 0 Helm releases kept; 2 inventory entries were missing before the reset",
        "verify     ok     ready: 3/3 objects Ready before the reset are Ready again (--timeout 1m30s)",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(expected)), "missing {expected:?} in\n{}", r.stdout);
    }
    assert!(
        lines.iter().any(|l| l.starts_with("verify     ok     controllers restarted: 4/4 restarted at ")),
        "{}",
        r.stdout
    );
    assert_eq!(
        journal_steps(&dir),
        ["started", "backed-up", "suspended", "deleted", "restarted", "recreated", "resumed", "verified"]
    );

    // Every Flux object is back (new uid: deleted and recreated) with the same spec, Ready;
    // zero managed objects deleted; the controllers' pods were replaced.
    world.assert_nothing_lost(&specs, &managed, "after run");
    let uids_after: Vec<String> =
        FLUX.iter().map(|(c, n)| world.get(&format!("{c}/{n}")).unwrap()["metadata"]["uid"].to_string()).collect();
    assert!(uids_before.iter().zip(&uids_after).all(|(a, b)| a != b), "objects were recreated");
    world.wait("old controller pods gone", Duration::from_secs(60), |w| {
        let now = w.controller_pods();
        now.len() == CONTROLLERS.len() && now.values().all(|uid| !pods_before.values().any(|b| b == uid))
    });

    // The backup: 0600, a kubectl List every plugin reads with -f.
    use std::os::unix::fs::PermissionsExt;
    let backup = dir.join("backup.json");
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    let b = backup.display().to_string();
    let plan = run_with(bin(), &["plan", "--all", "-f", &b, "-o", "json", "--jq", ".objects | length"], &[]);
    assert_eq!((plan.code, plan.stdout.as_str()), (0, "3\n"), "{}", plan.stderr);
    let snapshot = kubectl_flux_shared::source::offline::read_paths(std::slice::from_ref(&backup)).unwrap();
    assert_eq!(snapshot.len(), 3);
    // The other plugins, when built alongside (cargo test --workspace builds every binary).
    let bins = bin().parent().unwrap();
    for (plugin, args) in [
        ("kubectl-flux_lineage", &["kustomization/shop", "-n", "flux-system", "-o", "name"][..]),
        ("kubectl-flux_tenants", &["-o", "name"][..]),
    ] {
        let p = bins.join(plugin);
        if p.exists() {
            let mut all = args.to_vec();
            all.extend(["-f", &b]);
            let r = run_with(&p, &all, &[]);
            assert_eq!(r.code, 0, "{plugin} -f backup: {}", r.stderr);
            assert!(!r.stdout.is_empty());
        } else {
            eprintln!("{plugin} not built: skipped its -f backup check (run cargo test --workspace)");
        }
    }

    // Running verify again, and resume of a finished reset, are harmless.
    let r = world.reset(&["verify", "--dir", &d, "--timeout", "30s"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = world.reset(&["resume", "--dir", &d, "--yes"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("is complete and verified: nothing to do"), "{}", r.stdout);
    world.assert_nothing_lost(&specs, &managed, "after a second resume");
}

#[test]
fn a_crash_after_any_journal_step_is_finished_by_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::up(tmp.path());
    let specs = world.flux_specs();
    let managed = world.managed();
    for step in ["started", "backed-up", "suspended", "deleted", "restarted", "recreated", "resumed", "verified"] {
        let dir = tmp.path().join(format!("reset-{step}"));
        let d = dir.display().to_string();
        let mut args = vec!["run", "--all", "--dir", &d];
        args.extend(FAST);
        let r = world.reset(&args, &[("KUBECTL_FLUX_RESET_CRASH_AFTER", step)]);
        assert_eq!(r.code, -1, "{step}: killed by SIGKILL: {}", r.stderr);
        assert_eq!(journal_steps(&dir).last().map(String::as_str), Some(step));
        let mut args = vec!["resume", "--dir", &d];
        args.extend(FAST);
        let r = world.reset(&args, &[]);
        assert_eq!(r.code, 0, "resume after {step}: {}\n{}", r.stdout, r.stderr);
        assert_eq!(journal_steps(&dir).last().map(String::as_str), Some("verified"), "{step}");
        world.assert_nothing_lost(&specs, &managed, &format!("resume after a crash after {step}"));
    }
}

#[test]
fn a_suspend_that_cannot_be_confirmed_aborts_before_any_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::up(tmp.path());
    let specs = world.flux_specs();
    let managed = world.managed();
    // A user who may do everything except patch Kustomizations: the API server answers 403.
    let rules = json!([
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch", "create", "update", "delete"]},
        {"apiGroups": ["source.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io", "apps", "coordination.k8s.io"], "resources": ["*"], "verbs": ["patch"]},
    ]);
    world
        .request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", Some(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "no-ks-patch"}, "rules": rules})), "application/json")
        .unwrap();
    world
        .request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", Some(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "no-ks-patch"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "no-ks-patch"}, "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "reset-tester"}]})), "application/json")
        .unwrap();
    let dir = tmp.path().join("reset");
    let d = dir.display().to_string();
    let before = requests(&world.cluster);
    let mut args = vec!["run", "--all", "--dir", &d, "--as", "reset-tester"];
    args.extend(FAST);
    let r = world.reset(&args, &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.starts_with("error: flux-reset: suspend: Kustomization flux-system/shop: PATCH /apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/shop: 403 "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Nothing was deleted."), "{}", r.stderr);
    let delta = request_delta(&before, &requests(&world.cluster));
    let deletes: Vec<_> = delta.keys().filter(|(verb, _, _)| verb == "delete").collect();
    assert!(deletes.is_empty(), "no delete request: {delta:?}");
    assert_eq!(journal_steps(&dir), ["started", "backed-up"]);
    // Nothing deleted; the HelmRelease suspended before the refusal gets its spec back from the
    // backup with restore, which takes over the stopped reset's lock and releases it.
    let redis = world.get(&format!("{}/redis", FLUX[2].0)).unwrap();
    assert_eq!(redis["spec"]["suspend"], true);
    let b = dir.join("backup.json").display().to_string();
    let r = world.reset(&["restore", "--from", &b, "--yes", "--timeout", "90s"], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    world.assert_nothing_lost(&specs, &managed, "after an aborted reset and restore");
}

#[test]
fn restore_recreates_everything_in_an_emptied_namespace() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::up(tmp.path());
    let specs = world.flux_specs();
    let managed = world.managed();
    // A backup, nothing else: the reset stops right after writing it.
    let dir = tmp.path().join("reset");
    let d = dir.display().to_string();
    let mut args = vec!["run", "-n", "shop,flux-system", "--dir", &d];
    args.extend(FAST);
    let r = world.reset(&args, &[("KUBECTL_FLUX_RESET_CRASH_AFTER", "backed-up")]);
    assert_eq!(r.code, -1, "{}", r.stderr);
    // Someone empties namespace shop of its Flux objects (Flux's finalizer removed by hand, as
    // the controllers are not there to do it).
    let redis = format!("{}/redis", FLUX[2].0);
    world
        .request(
            "PATCH",
            &redis,
            Some(json!({"spec": {"suspend": true}, "metadata": {"finalizers": null}})),
            "application/merge-patch+json",
        )
        .unwrap();
    world.request("DELETE", &redis, None, "application/json").unwrap();
    world.wait("HelmRelease gone", Duration::from_secs(30), |w| w.get(&redis).is_none());
    let r = world.reset(&["restore", "--from", &d, "--yes", "--timeout", "90s"], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("recreate   1 objects recreated from the backup, suspended; 2 existed already"),
        "{}",
        r.stdout
    );
    world.assert_nothing_lost(&specs, &managed, "after restore");
    // Restoring again changes nothing.
    let r = world.reset(&["restore", "--from", &d, "--yes", "--timeout", "30s"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("recreate   0 objects recreated from the backup, suspended; 3 existed already"),
        "{}",
        r.stdout
    );
}

#[test]
fn plan_makes_no_write_request() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = kubectl_flux_testkit::cluster_with(tmp.path(), &["corrupted-state"]);
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let before = requests(&cluster);
    let live = run_with(bin(), &["plan", "--all", "--kubeconfig", &kubeconfig], &[]);
    assert_eq!(live.code, 0, "{}", live.stderr);
    let delta = request_delta(&before, &requests(&cluster));
    assert!(delta.keys().all(|(verb, _, _)| verb == "get" || verb == "list"), "only reads: {delta:?}");
    assert!(delta.keys().any(|(verb, res, _)| verb == "list" && res == "kustomize.toolkit.fluxcd.io/kustomizations"));
    // The same objects and calls as offline, bodies aside (the server's uids and defaulted
    // fields differ from the snapshot's), but for the context and the controllers found.
    let f = example("corrupted-state");
    let offline = run_with(bin(), &["plan", "--all", "-f", &f], &[]);
    let calls = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .filter(|l| !l.contains("Flux controller Deployment"))
            .map(|l| l.split("  {").next().unwrap_or(l).to_string())
            .collect()
    };
    assert_eq!(calls(&live.stdout), calls(&offline.stdout));
    assert!(live.stdout.starts_with("Reset plan for context devcluster: 3 Flux objects in every namespace (--all)."));
    drop(cluster);
}
