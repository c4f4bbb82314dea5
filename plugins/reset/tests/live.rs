//! flux-reset against the real Flux controllers (devcluster `--flux`: source, kustomize, helm
//! and notification controllers as local processes, a working GitOps flow from a local Git
//! server and chart repository, kwok running the pods) with the corrupted-state scenario
//! loaded next to it, and the fault proxy in front of the API server: a full reset loses
//! nothing, a crash after any journal step is finished by `resume`, a suspend the proxy forbids
//! aborts before any delete, `plan` makes no write, and `restore --from` brings back what a
//! namespace lost.

use kubectl_flux_testkit::{Run, example, request_delta, requests, run, run_with};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"))
}

/// Every Flux collection a reset covers.
const FLUX: &[&str] = &[
    "/apis/source.toolkit.fluxcd.io/v1/gitrepositories",
    "/apis/source.toolkit.fluxcd.io/v1/helmrepositories",
    "/apis/source.toolkit.fluxcd.io/v1/helmcharts",
    "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
    "/apis/helm.toolkit.fluxcd.io/v2/helmreleases",
    "/apis/notification.toolkit.fluxcd.io/v1beta3/providers",
    "/apis/notification.toolkit.fluxcd.io/v1beta3/alerts",
];

/// The managed objects counted before and after: what the GitOps flow and the scenario's
/// Kustomization and HelmRelease applied, and Helm's storage.
const MANAGED: &[&str] = &[
    "/api/v1/namespaces/apps/configmaps",
    "/api/v1/namespaces/apps/services",
    "/apis/apps/v1/namespaces/apps/deployments",
    "/api/v1/namespaces/shop/configmaps",
    "/api/v1/namespaces/shop/services",
    "/apis/apps/v1/namespaces/shop/deployments",
    "/api/v1/namespaces/shop/secrets",
    "/api/v1/namespaces/flux-system/secrets",
];

const CONTROLLERS: &[&str] = devcluster::flux::CONTROLLERS;

/// The Kustomization of the scenario whose source cannot authenticate.
const SHOP: &str = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/shop";

struct World {
    cluster: devcluster::Cluster,
    runtime: tokio::runtime::Runtime,
    admin: kube::Client,
    /// Objects Ready before anything was reset (the others are findings, not failures).
    ready_before: BTreeSet<String>,
}

fn is_ready(o: &Value) -> bool {
    o["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn path_of(collection: &str, o: &Value) -> String {
    let (prefix, resource) = collection.rsplit_once('/').unwrap();
    format!(
        "{prefix}/namespaces/{}/{resource}/{}",
        o["metadata"]["namespace"].as_str().unwrap(),
        o["metadata"]["name"].as_str().unwrap()
    )
}

impl World {
    fn up(dir: &Path) -> World {
        let options = devcluster::Options { flux: true, proxy: true, ..Default::default() };
        let cluster = devcluster::Cluster::up(&dir.join("cluster"), &options).expect("devcluster up --flux --proxy");
        let loaded = devcluster::load_files(&cluster.kubeconfig, &[PathBuf::from(example("corrupted-state"))])
            .expect("devcluster load");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // The test's own requests use the components' identity: the audit counts only the plugin's.
        let admin = runtime.block_on(devcluster::client(&cluster.dir.join("components.kubeconfig"))).unwrap();
        let mut world = World { cluster, runtime, admin, ready_before: BTreeSet::new() };
        // The scenario's Kustomization and HelmRelease are loaded with the Ready=True they had on
        // the incident's cluster; here their source cannot authenticate, but the controllers may
        // take minutes to say so (artifact download retries), and a status-only change starts no
        // reconcile. Their Ready becomes Unknown, so what the tests expect does not depend on
        // when the controllers get to them; inventory and history (what a reset must keep)
        // stay. A stale Ready=True is made on purpose where the test needs one
        // (`a_stale_ready_is_a_finding_not_a_failure`).
        let unknown = json!([{
            "type": "Ready", "status": "Unknown", "reason": "Progressing",
            "message": "loaded from a snapshot; not reconciled here yet",
            "lastTransitionTime": "2026-11-20T10:00:00Z", "observedGeneration": 1,
        }]);
        for path in [
            format!("{SHOP}/status"),
            "/apis/helm.toolkit.fluxcd.io/v2/namespaces/shop/helmreleases/redis/status".into(),
        ] {
            let patch = json!({"status": {"conditions": unknown}});
            world.request("PATCH", &path, Some(patch), "application/merge-patch+json").expect(&path);
        }
        // The controllers judge the loaded scenario for themselves: its GitRepository cannot
        // authenticate (no Secret), so what depends on it is not Ready either.
        world.wait("the controllers to judge corrupted-state", Duration::from_secs(90), |w| {
            w.objects()
                .get("/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system")
                .is_some_and(|o| {
                    o["status"]["conditions"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|c| c["reason"] == "AuthenticationFailed"))
                })
        });
        world.ready_before = world.objects().iter().filter(|(_, o)| is_ready(o)).map(|(p, _)| p.clone()).collect();
        assert!(world.ready_before.len() >= 9, "the GitOps flow is Ready: {:?}", world.ready_before);
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

    fn wait(&self, what: &str, limit: Duration, ready: impl Fn(&World) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            assert!(start.elapsed() < limit, "{what}: not after {}s", limit.as_secs());
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Every Flux object, by path.
    fn objects(&self) -> BTreeMap<String, Value> {
        FLUX.iter().flat_map(|c| self.items(c).into_iter().map(move |o| (path_of(c, &o), o))).collect()
    }

    /// (path, spec) of every Flux object.
    fn flux_specs(&self) -> BTreeMap<String, Value> {
        self.objects().into_iter().map(|(p, o)| (p, o["spec"].clone())).collect()
    }

    /// uid of every managed object, by path; Helm releases by name (their storage Secrets
    /// rotate: every upgrade adds a revision and Helm keeps `maxHistory` of them).
    fn managed(&self) -> BTreeMap<String, String> {
        MANAGED
            .iter()
            .flat_map(|c| {
                self.items(c).into_iter().map(move |o| {
                    let name = o["metadata"]["name"].as_str().unwrap();
                    match name.strip_prefix("sh.helm.release.v1.").and_then(|r| r.rsplit_once(".v")) {
                        Some((release, _)) => (format!("helm release {c}/{release}"), "stored".to_string()),
                        None => (format!("{c}/{name}"), o["metadata"]["uid"].as_str().unwrap().to_string()),
                    }
                })
            })
            .collect()
    }

    /// The controllers' current process ids.
    fn controller_pids(&self) -> Vec<u32> {
        CONTROLLERS.iter().map(|c| devcluster::flux::current_pid(&self.cluster.dir, c).unwrap()).collect()
    }

    fn reset(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let kubeconfig = self.kubeconfig();
        let mut all = args.to_vec();
        all.extend(["--kubeconfig", &kubeconfig]);
        run_with(bin(), &all, env)
    }

    /// Nothing was lost: every Flux object exists with its original spec, not Terminating, and
    /// those Ready before are Ready again; every managed object is still there with its uid;
    /// the Lease is gone.
    fn assert_nothing_lost(&self, specs: &BTreeMap<String, Value>, managed: &BTreeMap<String, String>, context: &str) {
        assert_eq!(&self.flux_specs(), specs, "{context}: Flux objects and specs");
        let objects = self.objects();
        for (path, o) in &objects {
            assert!(o["metadata"]["deletionTimestamp"].is_null(), "{context}: {path} Terminating");
        }
        self.wait(&format!("{context}: Ready again"), Duration::from_secs(120), |w| {
            let now = w.objects();
            w.ready_before.iter().all(|p| now.get(p).is_some_and(is_ready))
        });
        // Every managed object is still there, the same object (uid). New ones may appear: an
        // upgrade of the recreated HelmRelease adds a Helm storage revision.
        let now = self.managed();
        let lost: Vec<&String> = managed.iter().filter(|(p, uid)| now.get(*p) != Some(uid)).map(|(p, _)| p).collect();
        assert!(lost.is_empty(), "{context}: managed objects deleted or replaced: {lost:?}");
        assert!(
            self.get("/apis/coordination.k8s.io/v1/namespaces/flux-system/leases/kubectl-flux-reset").is_none(),
            "{context}: lock released"
        );
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

const FAST: &[&str] = &["--yes", "--finalizer-wait", "10s", "--timeout", "120s"];

#[test]
fn a_reset_brings_everything_back_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::up(tmp.path());
    let specs = world.flux_specs();
    let n = specs.len();
    assert_eq!(n, 15, "the GitOps flow's 13 objects and the scenario's GitRepository... {specs:#?}");
    let managed = world.managed();
    assert!(managed.len() >= 12, "{managed:?}");
    let uids_before: BTreeMap<String, Value> =
        world.objects().into_iter().map(|(p, o)| (p, o["metadata"]["uid"].clone())).collect();
    let pids_before = world.controller_pids();

    let dir = tmp.path().join("reset");
    let d = dir.display().to_string();
    let mut args = vec!["run", "--all", "--dir", &d];
    args.extend(FAST);
    let r = world.reset(&args, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let ready = world.ready_before.len();
    for expected in [
        format!("backup     {n} objects -> "),
        "backup     baseline: 12 managed objects (2 inventory entries already missing), 1 Helm releases, 4 controllers".into(),
        format!("suspend    {n} objects suspended, 4 Kustomizations deletionPolicy Orphan; confirmed by re-reading"),
        format!("delete     {n} objects deleted (propagationPolicy Orphan, uid and resourceVersion preconditions)"),
        "delete     every deleted object is gone".into(),
        "restart    4 controllers restarted and available: helm-controller, kustomize-controller, notification-controller, source-controller".into(),
        format!("recreate   {n} objects recreated from the backup, suspended"),
        format!("resume     {n} objects resumed"),
        format!("verify     ok     exists: {n}/{n} backed-up objects exist"),
        "verify     ok     same spec: every spec equals the backup's".into(),
        "verify     ok     not terminating: nothing Terminating".into(),
        "verify     ok     nothing deleted: 12 of 12 managed objects kept (same uid), 1 Helm releases kept; 2 inventory entries were missing before the reset".into(),
        format!("verify     ok     ready: {ready}/{ready} objects soundly Ready before the reset are Ready again (--timeout 2m0s)"),
        "finding    HelmRelease shop/redis was not Ready before the reset and still is not".into(),
        "finding    Kustomization flux-system/shop was not Ready before the reset and still is not".into(),
    ] {
        assert!(lines.iter().any(|l| l.starts_with(&expected)), "missing {expected:?} in\n{}", r.stdout);
    }
    // The GitRepository that cannot authenticate is judged as it is when verified: source-controller,
    // just restarted, retries it, and during a retry its Ready reads Unknown (Progressing).
    let source =
        "finding    GitRepository flux-system/flux-system was not Ready before the reset and still is not: Ready=";
    assert!(
        lines.iter().any(|l| l.strip_prefix(source).is_some_and(|now| {
            now == "False (AuthenticationFailed)"
                || now.starts_with("False (AuthenticationFailed): ")
                || now.starts_with("Unknown (Progressing)")
        })),
        "missing {source:?} in\n{}",
        r.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("verify     ok     controllers restarted: 4/4 restarted at ")),
        "{}",
        r.stdout
    );
    assert_eq!(
        journal_steps(&dir),
        ["started", "backed-up", "suspended", "deleted", "restarted", "recreated", "resumed", "verified"]
    );

    // Every Flux object is back (new uid: deleted and recreated) with the same spec, Ready
    // again if it was; zero managed objects deleted; every controller process was restarted.
    world.assert_nothing_lost(&specs, &managed, "after run");
    let uids_after: BTreeMap<String, Value> =
        world.objects().into_iter().map(|(p, o)| (p, o["metadata"]["uid"].clone())).collect();
    assert!(uids_before.iter().all(|(p, uid)| uids_after.get(p).is_some_and(|u| u != uid)), "objects were recreated");
    let pids_after = world.controller_pids();
    assert!(pids_before.iter().zip(&pids_after).all(|(a, b)| a != b), "{pids_before:?} -> {pids_after:?}");

    // With --fail-on, the findings (not Ready before and still not) exit 3; nothing was lost.
    let r = world.reset(&["verify", "--dir", &d, "--timeout", "30s", "--fail-on", "not-ready"], &[]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);

    // The backup: 0600, a kubectl List every plugin reads with -f.
    use std::os::unix::fs::PermissionsExt;
    let backup = dir.join("backup.json");
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
    let b = backup.display().to_string();
    let plan = run_with(bin(), &["plan", "--all", "-f", &b, "-o", "json", "--jq", ".objects | length"], &[]);
    assert_eq!((plan.code, plan.stdout.as_str()), (0, format!("{n}\n").as_str()), "{}", plan.stderr);
    let snapshot = kubectl_flux_source::offline::read_paths(std::slice::from_ref(&backup)).unwrap();
    assert_eq!(snapshot.len(), n);
    // The other plugins, when built alongside (cargo test --workspace builds every binary).
    let bins = bin().parent().unwrap();
    for (plugin, args) in [
        ("kubectl-flux_lineage", &["kustomization/app-b", "-n", "flux-system", "-o", "name"][..]),
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
    // The `apps` tenant's Kustomizations and the HelmRelease: real controllers, real pruning
    // guards, a dependsOn chain to become Ready again after every resume.
    for step in ["started", "backed-up", "suspended", "deleted", "restarted", "recreated", "resumed", "verified"] {
        let dir = tmp.path().join(format!("reset-{step}"));
        let d = dir.display().to_string();
        let mut args = vec!["run", "-n", "flux-system", "--kind", "kustomization,helmrelease", "--dir", &d];
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
    // The fault proxy forbids patching Kustomizations (403): their suspend cannot be confirmed.
    let proxy = world.cluster.faults().unwrap();
    proxy
        .add(&devcluster::proxy::Fault {
            kind: devcluster::proxy::FaultKind::Status { code: 403, retry_after: None },
            verb: Some("patch".into()),
            resource: Some("kustomize.toolkit.fluxcd.io/kustomizations".into()),
            times: None,
        })
        .unwrap();
    let dir = tmp.path().join("reset");
    let d = dir.display().to_string();
    let before = requests(&world.cluster);
    let mut args = vec!["run", "--all", "--dir", &d];
    args.extend(FAST);
    let r = world.reset(&args, &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("error: flux-reset: suspend: Kustomization flux-system/"), "{}", r.stderr);
    assert!(r.stderr.contains(": 403 ") && r.stderr.contains("Nothing was deleted."), "{}", r.stderr);
    let delta = request_delta(&before, &requests(&world.cluster));
    let deletes: Vec<_> = delta.keys().filter(|(verb, _, _)| verb == "delete").collect();
    assert!(deletes.is_empty(), "no delete request: {delta:?}");
    assert_eq!(journal_steps(&dir), ["started", "backed-up"]);
    // Nothing deleted; what was suspended before the refusal gets its spec back from the
    // backup with restore, which takes over the stopped reset's lock and releases it.
    proxy.clear().unwrap();
    let b = dir.join("backup.json").display().to_string();
    let r = world.reset(&["restore", "--from", &b, "--yes", "--timeout", "120s"], &[]);
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
    // Someone empties namespace shop of its Flux objects (suspended first, so helm-controller
    // lets it go without uninstalling).
    let redis = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/shop/helmreleases/redis";
    world.request("PATCH", redis, Some(json!({"spec": {"suspend": true}})), "application/merge-patch+json").unwrap();
    world.request("DELETE", redis, None, "application/json").unwrap();
    world.wait("HelmRelease gone", Duration::from_secs(60), |w| w.get(redis).is_none());
    let r = world.reset(&["restore", "--from", &d, "--yes", "--timeout", "120s"], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let n = specs.len();
    assert!(
        r.stdout
            .contains(&format!("recreate   1 objects recreated from the backup, suspended; {} existed already", n - 1)),
        "{}",
        r.stdout
    );
    world.assert_nothing_lost(&specs, &managed, "after restore");
    // Restoring again changes nothing.
    let r = world.reset(&["restore", "--from", &d, "--yes", "--timeout", "30s"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("recreate   0 objects recreated from the backup, suspended; {n} existed already")),
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

/// A Ready that predates its source's failure is stale: the reset's backup records why, and
/// after the reset, when the controller judges the object afresh and finds it not Ready, that is
/// a finding naming the cause, never a failed verification. kustomize-controller is stopped
/// while the stale status is written and backed up (nothing can re-judge it in between), and so
/// is source-controller, between two of its retries of the failing GitRepository (during a retry
/// its Ready reads Unknown/Progressing, not the failure the backup must name); both are started
/// again for the rest of the reset, resumed after a crash right after the backup.
#[test]
fn a_stale_ready_is_a_finding_not_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::up(tmp.path());
    let scale = |controller: &str, replicas: i64| {
        let deployment = format!("/apis/apps/v1/namespaces/flux-system/deployments/{controller}");
        world
            .request(
                "PATCH",
                &deployment,
                Some(json!({"spec": {"replicas": replicas}})),
                "application/merge-patch+json",
            )
            .unwrap_or_else(|e| panic!("scale {controller}: {e}"));
    };
    // Stopped: its pod is gone (the supervisor stops the process when the Deployment scales to
    // 0) and its process with it.
    let stop = |controller: &str| {
        let pid = devcluster::flux::current_pid(&world.cluster.dir, controller).unwrap();
        scale(controller, 0);
        world.wait(&format!("{controller} to stop"), Duration::from_secs(60), |w| {
            let pods = w.items(&format!("/api/v1/namespaces/flux-system/pods?labelSelector=app%3D{controller}"));
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')));
            pods.is_empty() && !alive
        });
    };
    let start = |controller: &str| {
        let before = devcluster::flux::current_pid(&world.cluster.dir, controller);
        scale(controller, 1);
        world.wait(&format!("{controller} to start"), Duration::from_secs(60), |_| {
            devcluster::flux::current_pid(&world.cluster.dir, controller) != before
        });
    };
    stop("kustomize-controller");
    let source_ready = |w: &World| {
        w.get("/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system")
            .and_then(|o| o["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "Ready").cloned())
            .and_then(|c| c["reason"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    for _ in 0..5 {
        world.wait("the GitRepository's Ready to say AuthenticationFailed", Duration::from_secs(90), |w| {
            source_ready(w) == "AuthenticationFailed"
        });
        stop("source-controller");
        if source_ready(&world) == "AuthenticationFailed" {
            break;
        }
        start("source-controller");
    }
    assert_eq!(source_ready(&world), "AuthenticationFailed", "source-controller stopped between two retries");
    let generation = world.get(SHOP).unwrap()["metadata"]["generation"].clone();
    let stale = json!({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied revision: main@sha1:0a1b2c3d",
        "lastTransitionTime": "2026-11-20T09:00:00Z", "observedGeneration": generation,
    }]}});
    world
        .request("PATCH", &format!("{SHOP}/status"), Some(stale), "application/merge-patch+json")
        .expect("shop status");

    let dir = tmp.path().join("reset");
    let d = dir.display().to_string();
    let mut args = vec!["run", "--all", "--dir", &d];
    args.extend(FAST);
    let r = world.reset(&args, &[("KUBECTL_FLUX_RESET_CRASH_AFTER", "backed-up")]);
    assert_ne!(r.code, 0, "killed right after the backup: {}", r.stderr);
    // The plan of the backup says so: shop is Ready, stale, and why.
    let backup = dir.join("backup.json").display().to_string();
    let plan = run(bin(), &["plan", "--all", "-f", &backup, "-o", "json"]);
    let doc: Value = serde_json::from_str(&plan.stdout).unwrap();
    let shop = doc["objects"].as_array().unwrap().iter().find(|o| o["name"] == "shop").unwrap().clone();
    assert_eq!(shop["readyWorth"], "stale", "{shop}");
    assert!(
        shop["staleBecause"]
            .as_str()
            .unwrap()
            .starts_with("its source GitRepository flux-system/flux-system was not Ready (AuthenticationFailed)"),
        "{shop}"
    );

    scale("source-controller", 1);
    scale("kustomize-controller", 1);
    let mut args = vec!["resume", "--yes", "--dir", &d];
    args.extend(&FAST[1..]);
    let r = world.reset(&args, &[]);
    assert_eq!(r.code, 0, "a stale Ready that comes back NotReady fails nothing: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.lines().any(|l| l.starts_with(
            "finding    Kustomization flux-system/shop: Ready was stale: its source GitRepository flux-system/flux-system was not Ready (AuthenticationFailed) since "
        )),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("FAILED") && !r.stderr.contains("verification failed"), "{}\n{}", r.stdout, r.stderr);
    // The soundly Ready GitOps flow is Ready again: those must come back, and did.
    let ready = world.ready_before.len();
    assert!(
        r.stdout.contains(&format!("ready: {ready}/{ready} objects soundly Ready before the reset are Ready again")),
        "{}",
        r.stdout
    );
    let r = world.reset(&["verify", "--dir", &d, "--timeout", "30s", "--fail-on", "not-ready"], &[]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
}
