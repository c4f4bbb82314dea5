//! flux-controllers against devcluster's real Flux controllers: every controller's own metrics
//! read through the API server's pod proxy with one list per kind and one scrape per pod; each
//! verdict appears when its load is made real (`devcluster break`) and not on the healthy world;
//! the slowest objects are the ones made slow; a shard is found; `--sample` reads rates over its
//! window; 403 on pods/proxy gives the answer from pods and lists alone; live equals offline on
//! the same objects and saved scrapes; a fleet of three clusters plus one unreachable.

use devcluster::flux::{Failure, induce};
use devcluster::proxy::{Fault, FaultKind};
use kubectl_flux_testkit::{Run, cluster_with, example, flux_cluster, request_delta, requests, root, run, run_with};
use serde_json::Value;
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_controllers"))
}

fn live(cluster: &devcluster::Cluster, args: &[&str]) -> Run {
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let mut all = vec!["--kubeconfig", kubeconfig.as_str()];
    all.extend(args);
    run(bin(), &all)
}

fn doc(r: &Run) -> Value {
    assert!(r.code == 0 || r.code == 3, "{}{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn verdicts(d: &Value) -> Vec<(String, String, String)> {
    d["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["severity"].as_str().unwrap().into(),
                v["controller"].as_str().unwrap().into(),
                v["check"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn controller<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["controllers"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name}: {d}"))
}

/// Waits until the plugin's answer satisfies `done`, re-running it (the controllers work at
/// their own pace); the last answer.
fn until(cluster: &devcluster::Cluster, args: &[&str], what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let d = doc(&live(cluster, args));
        if done(&d) {
            return d;
        }
        assert!(
            start.elapsed().as_secs() < 180,
            "{what}: not after 180 s: {}",
            serde_json::to_string_pretty(&d["verdicts"]).unwrap()
        );
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
}

#[test]
fn the_real_controllers_keep_up_until_their_loads_are_made_real() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = flux_cluster(tmp.path());
    let dir = cluster.dir.clone();

    // The healthy world: every controller scraped, reconciling, no verdict; one list per kind
    // and one scrape per controller pod (the audit log counts the plugin's requests).
    let before = requests(&cluster);
    let d = doc(&live(&cluster, &["-o", "json"]));
    let delta = request_delta(&before, &requests(&cluster));
    for c in devcluster::flux::CONTROLLERS {
        let h = controller(&d, c);
        assert_eq!(h["vitals"]["scraped"], true, "{c}: {}", d["notes"]);
        assert!(h["vitals"]["memory"].as_f64().unwrap() > 1e6, "{c}");
        assert_eq!(h["pods"].as_array().unwrap().len(), 1, "{c}");
    }
    assert!(controller(&d, "kustomize-controller")["vitals"]["reconciles"].as_f64().unwrap() > 0.0);
    assert_eq!(controller(&d, "kustomize-controller")["objects"]["Kustomization"]["total"], 3);
    assert_eq!(verdicts(&d), Vec::<(String, String, String)>::new(), "the healthy world has no verdict");
    let proxied: u64 = delta.iter().filter(|((v, r, _), _)| v == "get" && r == "pods/proxy").map(|(_, n)| n).sum();
    assert_eq!(proxied, 4, "one scrape per controller pod: {delta:?}");
    assert!(
        delta.iter().all(|((v, r, _), n)| *n == 1 || r == "pods/proxy" || v != "list"),
        "one list per kind: {delta:?}"
    );
    assert_eq!(delta.get(&("get".into(), "/apis".into(), String::new())), Some(&1), "one discovery: {delta:?}");
    assert!(
        delta.keys().all(|(v, r, _)| v == "list" || r == "pods/proxy" || r == "/apis"),
        "never a GET per object: {delta:?}"
    );

    // --sample: two scrapes, rates over the window between them.
    let d = doc(&live(&cluster, &["-o", "json", "--sample", "4s"]));
    let k = controller(&d, "kustomize-controller");
    assert_eq!((k["vitals"]["sampled"].as_bool(), k["vitals"]["window"].as_f64()), (Some(true), Some(4.0)));
    assert!(k["vitals"]["memoryGrowthPerHour"].is_number(), "{k}");

    // --watch: a new document every interval, one JSON object per line, until stdout closes.
    let mut child = std::process::Command::new(bin())
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string(), "--watch", "--interval", "1s", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    for _ in 0..2 {
        let line = lines.next().expect("a document per refresh").unwrap();
        let d: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (d["kind"].as_str(), d["controllers"].as_array().map(Vec::len)),
            (Some("ControllerReport"), Some(4))
        );
    }
    drop(lines);
    let status = child.wait().unwrap();
    assert!(status.success(), "a closed pipe ends the watch as success: {status:?}");

    // A shard: found, with its selector, and the object it owns counted for it alone.
    induce(&dir, Failure::Shard).unwrap();
    let d = until(&cluster, &["-o", "json"], "the shard's object counted", |d| {
        d["controllers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == devcluster::flux::SHARD && c["objects"]["Kustomization"]["total"] == 1)
    });
    let shard = controller(&d, devcluster::flux::SHARD);
    assert_eq!(shard["shard"], "shard1");
    assert_eq!(shard["watchLabelSelector"], "sharding.fluxcd.io/key in (shard1)");
    assert_eq!(shard["vitals"]["scraped"], true);

    // Slow reconciles (health checks that time out after 15 s): the reconcile-time verdict at a
    // 10 s threshold, and the slowest objects are the ones made slow.
    induce(&dir, Failure::Slow).unwrap();
    let d = until(&cluster, &["-o", "json", "--max-reconcile", "10s", "--top", "3"], "slow reconciles judged", |d| {
        verdicts(d).iter().any(|v| v.2 == "reconcile-time")
    });
    let slowest: Vec<&str> = controller(&d, "kustomize-controller")["vitals"]["slowest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["object"].as_str().unwrap())
        .collect();
    assert_eq!(slowest.len(), 3);
    assert!(slowest.iter().all(|o| o.starts_with("Kustomization/flux-system/slow-")), "{slowest:?}");

    // Overload (300 Kustomizations every 5 s on one worker): backpressure, and the worker held.
    induce(&dir, Failure::Overload).unwrap();
    let d = until(&cluster, &["-o", "json"], "backpressure judged", |d| {
        let v = verdicts(d);
        v.iter().any(|v| v.2 == "queue") && v.iter().any(|v| v.2 == "workers")
    });
    let k = controller(&d, "kustomize-controller");
    assert_eq!(k["concurrent"], 1);
    assert!(k["vitals"]["queueDepth"].as_f64().unwrap() > 100.0);
    assert!(verdicts(&d).contains(&("critical".into(), "kustomize-controller".into(), "queue".into())));
    let decision: Vec<&str> = d["decision"].as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
    assert!(decision.contains(&"shard"), "{decision:?}");

    // An OOM kill: helm-controller over its memory limit, killed, recorded as a kubelet would.
    induce(&dir, Failure::Oom).unwrap();
    let d = until(&cluster, &["-o", "json"], "the OOM kill judged", |d| {
        verdicts(d).contains(&("critical".into(), "helm-controller".into(), "oom".into()))
    });
    assert!(controller(&d, "helm-controller")["pods"][0]["restarts"].as_i64().unwrap() >= 1);
    let r = live(&cluster, &["--fail-on", "critical"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stdout.contains("helm-controller oom: pod helm-controller-"), "{}", r.stdout);
}

/// Without pods/proxy (403 from the fault proxy), the answer comes from pods and lists alone,
/// and says what is missing.
#[test]
fn forbidden_pod_proxy_gives_the_answer_from_pods_and_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let options = devcluster::Options { flux: true, proxy: true, ..Default::default() };
    let cluster = devcluster::Cluster::up(&tmp.path().join("cluster"), &options).unwrap();
    cluster
        .faults()
        .unwrap()
        .add(&Fault {
            kind: FaultKind::Status { code: 403, retry_after: None },
            verb: Some("get".into()),
            resource: Some("pods/proxy".into()),
            times: None,
        })
        .unwrap();
    let r = live(&cluster, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("CONTROLLER "), "{}", r.stdout);
    assert!(r.stdout.contains("kustomize-controller"), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "note: forbidden to read the controllers' metrics through the pod proxy (403 pods/proxy is forbidden"
        ) && r.stderr.contains("grant get on pods/proxy in flux-system"),
        "{}",
        r.stderr
    );
    let d = doc(&live(&cluster, &["-o", "json"]));
    assert_eq!(controller(&d, "source-controller")["vitals"]["scraped"], false);
    assert_eq!(controller(&d, "source-controller")["objects"]["GitRepository"]["total"], 3);
}

/// The bundled incident loaded into a real API server, read live with its saved scrapes, gives
/// the answer the same objects give from a file (dumped with the real kubectl, managedFields
/// kept): API weight included.
#[test]
fn live_equals_offline_on_the_same_objects_and_saved_scrapes() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = cluster_with(tmp.path(), &["controllers-overload"]);
    let kubectl = devcluster::build::build(false).unwrap().join("kubectl");
    let dump = tmp.path().join("dump.json");
    let out = std::process::Command::new(&kubectl)
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .args([
            "get",
            "gitrepositories,helmrepositories,kustomizations,helmreleases",
            "-A",
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut flux: Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = std::process::Command::new(&kubectl)
        .args(["--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .args(["get", "deployments,pods", "-n", "flux-system", "-o", "json", "--show-managed-fields"])
        .output()
        .unwrap();
    let pods: Value = serde_json::from_slice(&out.stdout).unwrap();
    flux["items"].as_array_mut().unwrap().extend(pods["items"].as_array().unwrap().iter().cloned());
    std::fs::write(&dump, serde_json::to_vec_pretty(&flux).unwrap()).unwrap();
    let scrapes = root().join("examples/scrapes/controllers-overload");
    let (before, after) = (scrapes.join("before").display().to_string(), scrapes.join("after").display().to_string());
    let sampled = ["--metrics-file", before.as_str(), "--metrics-file", after.as_str(), "--sample", "10m"];
    for format in ["table", "json"] {
        let mut args = vec!["-o", format];
        args.extend(sampled);
        let l = live(&cluster, &args);
        let dump = dump.display().to_string();
        let mut offline_args = vec!["-f", dump.as_str()];
        offline_args.extend(&args);
        let o = run(bin(), &offline_args);
        assert_eq!((l.code, &l.stdout, &l.stderr), (o.code, &o.stdout, &o.stderr), "{format}");
    }
    // The weight is real: what the API server served, managedFields and all.
    let d = doc(&live(&cluster, &[&["-o", "json"][..], &sampled].concat()));
    let ks = d["apiWeight"]["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "Kustomization").unwrap();
    assert_eq!(ks["objects"], 241);
    assert!(ks["managedFieldsBytes"].as_u64().unwrap() > 0, "{ks}");
    // And the file it was loaded from answers the same verdicts.
    let f = example("controllers-overload");
    let file = doc(&run(bin(), &[&["-f", f.as_str(), "-o", "json"][..], &sampled].concat()));
    assert_eq!(verdicts(&file), verdicts(&d));
}

/// Three clusters (one running the real controllers, two serving the incident) and one that
/// cannot be reached: the worst cluster first, the lost one named, the others answer.
#[test]
fn a_fleet_of_three_clusters_and_one_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    let real = flux_cluster(&tmp.path().join("real"));
    let a = cluster_with(&tmp.path().join("a"), &["controllers-overload"]);
    let b = cluster_with(&tmp.path().join("b"), &["demo"]);
    let kubeconfig = kubectl_flux_testkit::fleet_kubeconfig(
        tmp.path(),
        &[("real", &real), ("incident", &a), ("demo", &b)],
        Some("gone"),
    );
    let r = run_with(
        bin(),
        &["--all-contexts", "--request-timeout", "5s", "-o", "json"],
        &[("KUBECONFIG", kubeconfig.as_str())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.starts_with("fleet: 3 of 4 clusters answered; failed: gone ("), "{}", r.stderr);
    let d: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(d["kind"], "Fleet");
    assert_eq!(d["worstFirst"][0], "incident", "{}", d["worstFirst"]);
    let real_answer = d["clusters"].as_array().unwrap().iter().find(|c| c["cluster"] == "real").unwrap();
    assert_eq!(controller(real_answer, "kustomize-controller")["vitals"]["scraped"], true);
    let r = run_with(bin(), &["--all-contexts"], &[("KUBECONFIG", kubeconfig.as_str())]);
    assert!(r.stdout.starts_with("=== cluster incident\n"), "{}", r.stdout);
}
