//! flux-events against a real API server (devcluster) serving the incident scenarios: Events
//! keep their timestamps when loaded, so the live timeline equals the offline one.

use devcluster::flux::{Failure, induce};
use devcluster::proxy::{Fault, FaultKind};
use kubectl_flux_testkit::{
    assert_live_equals_offline, cluster_with, cluster_with_options, eventually, flux_cluster, run, run_now,
};
use std::path::Path;
use std::time::Duration;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_events"))
}

#[test]
fn live_timeline_equals_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = ["missing-storageclass", "guilty-tenant", "multi-tenancy"];
    let cluster = cluster_with(tmp.path(), &scenarios);
    let cases: &[&[&str]] = &[
        &[],
        &["--related"],
        &["--type", "Warning", "-o", "json"],
        &["--for", "ks/userapp", "-n", "flux-system"],
        &["--tenant", "sre-team"],
        &["--tenant", "dev-team", "--related", "-o", "json"],
    ];
    assert_live_equals_offline(bin(), &cluster, &scenarios, cases);
    let kubeconfig = cluster.kubeconfig.display().to_string();
    // Without --related, one list of the Events not about a Kubernetes kind the suite knows
    // (involvedObject.kind!=Pod,...: the scenarios' Pod and PVC Events stay on the server).
    let before = kubectl_flux_testkit::requests(&cluster);
    assert_eq!(run(bin(), &["--kubeconfig", &kubeconfig, "-o", "json"]).code, 0);
    let delta = kubectl_flux_testkit::request_delta(&before, &kubectl_flux_testkit::requests(&cluster));
    let events = ("list".to_string(), "events".to_string(), String::new());
    assert_eq!(delta.get(&events), Some(&1), "{delta:?}");
    // Without controllers there are no controller Pods: --logs says so instead of failing.
    let r = run(bin(), &["--logs", "--kubeconfig", &kubeconfig, "-o", "json", "--jq", ".entries | length"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    drop(cluster);
}

/// Reads lines of a child's stdout on a thread, so a test can wait for them with a deadline.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next(rx: &std::sync::mpsc::Receiver<String>) -> serde_json::Value {
    let line = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("a watched entry within 30s");
    serde_json::from_str(&line).expect("one JSON object per line")
}

#[test]
fn watch_streams_new_and_changed_events_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = cluster_with(tmp.path(), &["missing-storageclass"]);
    let mut child = std::process::Command::new(bin())
        .args(["--watch", "-o", "json", "--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    // The current timeline first: the four Events about Flux objects in the scenario.
    let mut reasons: Vec<String> = (0..4).map(|_| next(&rx)["reason"].as_str().unwrap().to_string()).collect();
    reasons.sort();
    assert_eq!(reasons, ["HealthCheckFailed", "NewArtifact", "Progressing", "ReconciliationSucceeded"]);

    let event = |name: &str, kind: &str, api: &str, obj: &str, reason: &str, count: u32| {
        let component = if kind == "Pod" { "kubelet" } else { "kustomize-controller" };
        format!(
            "apiVersion: v1\nkind: Event\nmetadata: {{name: {name}, namespace: flux-system}}\ninvolvedObject: {{apiVersion: {api}, kind: {kind}, name: {obj}, namespace: flux-system}}\nreason: {reason}\nmessage: \"kustomization path not found: stat /tmp/kustomization-123/deploy: no such file or directory\"\ntype: Warning\ncount: {count}\nfirstTimestamp: \"2026-11-20T10:31:00Z\"\nlastTimestamp: \"2026-11-20T10:3{count}:00Z\"\nsource: {{component: {component}}}\n"
        )
    };
    // A new Event about a Flux object arrives once, classified.
    apply(
        &cluster.kubeconfig,
        &event("userapp.new", "Kustomization", "kustomize.toolkit.fluxcd.io/v1", "userapp", "ReconciliationFailed", 1),
    );
    let e = next(&rx);
    assert_eq!(
        (e["reason"].as_str(), e["class"].as_str(), e["count"].as_u64()),
        (Some("ReconciliationFailed"), Some("not-found"), Some(1))
    );
    // An Event about something that is not Flux's is not shown; the next change of ours is.
    apply(&cluster.kubeconfig, &event("pod.other", "Pod", "v1", "web", "BackOff", 1));
    apply(
        &cluster.kubeconfig,
        &event("userapp.new", "Kustomization", "kustomize.toolkit.fluxcd.io/v1", "userapp", "ReconciliationFailed", 2),
    );
    let e = next(&rx);
    assert_eq!(
        (e["reason"].as_str(), e["count"].as_u64(), e["lastSeen"].as_str()),
        (Some("ReconciliationFailed"), Some(2), Some("2026-11-20T10:32:00Z"))
    );
    // Nothing else, nothing repeated.
    assert!(
        rx.recv_timeout(std::time::Duration::from_secs(3)).is_err(),
        "an entry was repeated or a foreign one shown"
    );
    child.kill().unwrap();
    let _ = child.wait();
    drop(cluster);
}

/// Applies a YAML document with the built kubectl.
fn apply(kubeconfig: &Path, yaml: &str) {
    use std::io::Write;
    let mut c = std::process::Command::new(devcluster::build::bin_dir().unwrap().join("kubectl"))
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "kubectl apply");
}

fn warning(name: &str, minute: u32) -> String {
    format!(
        "apiVersion: v1\nkind: Event\nmetadata: {{name: {name}, namespace: flux-system}}\ninvolvedObject: {{apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, name: userapp, namespace: flux-system}}\nreason: {name}\nmessage: \"{name} happened\"\ntype: Warning\ncount: 1\nfirstTimestamp: \"2026-11-20T10:{minute}:00Z\"\nlastTimestamp: \"2026-11-20T10:{minute}:00Z\"\nsource: {{component: kustomize-controller}}\n"
    )
}

#[test]
fn watch_resumes_after_a_dropped_watch_without_gap_or_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let options = devcluster::Options { proxy: true, ..Default::default() };
    let cluster = cluster_with_options(tmp.path(), &["missing-storageclass"], &options);
    let proxy = cluster.faults().unwrap();
    let mut child = std::process::Command::new(bin())
        .args(["--watch", "-o", "json", "--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .env("KUBECTL_FLUX_NOW", kubectl_flux_testkit::NOW)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    for _ in 0..4 {
        next(&rx);
    }
    apply(&cluster.kubeconfig, &warning("BeforeTheDrop", 40));
    assert_eq!(next(&rx)["reason"], "BeforeTheDrop");

    // The stream is cut and the next three watch requests fail; an Event created meanwhile
    // must still arrive, once.
    proxy
        .add(&Fault {
            kind: FaultKind::Status { code: 500, retry_after: None },
            verb: Some("watch".into()),
            resource: Some("events".into()),
            times: Some(3),
        })
        .unwrap();
    eventually("the watch to be open", Duration::from_secs(20), || {
        let open = proxy.requests().unwrap().iter().any(|c| c.verb == "watch" && c.resource == "events");
        (!open).then(|| "no watch yet".into())
    });
    assert_eq!(proxy.drop_watches().unwrap(), 1, "one watch stream was open");
    apply(&cluster.kubeconfig, &warning("DuringTheGap", 41));
    assert_eq!(next(&rx)["reason"], "DuringTheGap");
    eventually("the failing watch requests used up", Duration::from_secs(30), || {
        let left = proxy.faults().unwrap();
        (!left.is_empty()).then(|| format!("{left:?}"))
    });
    apply(&cluster.kubeconfig, &warning("AfterTheResume", 42));
    assert_eq!(next(&rx)["reason"], "AfterTheResume");
    // Nothing repeated: not the initial timeline, not the Events seen before the drop.
    assert!(rx.recv_timeout(Duration::from_secs(3)).is_err(), "an entry was repeated");
    let watches: u64 =
        proxy.requests().unwrap().iter().filter(|c| c.verb == "watch" && c.resource == "events").map(|c| c.count).sum();
    assert!(watches >= 5, "the first watch, three refused, one that resumed: {watches}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Real failures made by the real controllers: their Events and log lines (read through the
/// API from the controllers' pods) merged in one timeline, ordered, deduplicated and classified.
#[test]
fn real_failures_merge_events_and_controller_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = flux_cluster(tmp.path());
    let kubeconfig = cluster.kubeconfig.display().to_string();
    for failure in [Failure::WrongPath, Failure::MissingSecret, Failure::FailingDependency] {
        induce(&cluster.dir, failure).unwrap();
    }
    let timeline = || {
        let r = run_now(bin(), &["--logs", "-n", "flux-system", "-o", "json", "--kubeconfig", &kubeconfig]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()
    };
    let find = |doc: &serde_json::Value, origin: &str, name: &str, reason: Option<&str>| {
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["origin"] == origin
                    && e["object"]["name"] == name
                    && reason.is_none_or(|r| e["reason"] == r)
                    && (origin == "event" || e["type"] == "error" || reason.is_some())
            })
            .cloned()
    };
    // Wait until every failure shows up in both the Events and the logs, and wrong-path has
    // failed more than once (its retries are 10s apart).
    eventually("Events and log lines of every failure", Duration::from_secs(120), || {
        let doc = timeline();
        let ready = find(&doc, "event", "wrong-path", Some("ArtifactFailed"))
            .is_some_and(|e| e["count"].as_u64() > Some(1))
            && find(&doc, "log", "wrong-path", Some("error")).is_some_and(|e| e["count"].as_u64() > Some(1))
            && find(&doc, "event", "missing-secret", Some("AuthenticationFailed")).is_some()
            && find(&doc, "log", "missing-secret", Some("error")).is_some()
            && find(&doc, "event", "waits-on-failure", Some("DependencyNotReady")).is_some();
        (!ready).then(|| "not yet".into())
    });
    let doc = timeline();
    let class =
        |origin: &str, name: &str, reason: &str| find(&doc, origin, name, Some(reason)).unwrap()["class"].clone();
    assert_eq!(class("event", "wrong-path", "ArtifactFailed"), "not-found");
    assert_eq!(class("log", "wrong-path", "error"), "not-found");
    assert_eq!(class("event", "missing-secret", "AuthenticationFailed"), "auth");
    assert_eq!(class("event", "waits-on-failure", "DependencyNotReady"), "dependency-not-ready");
    // The retries of one failure are one entry: the log lines differ only in durations and
    // temporary paths.
    let retries: Vec<&serde_json::Value> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["origin"] == "log" && e["object"]["name"] == "wrong-path" && e["type"] == "error")
        .collect();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert!(retries[0]["message"].as_str().unwrap().contains("kustomization path not found"));
    assert!(retries[0]["firstSeen"].as_str() < retries[0]["lastSeen"].as_str());
    // The controllers' log lines name their controller, the Events their component.
    assert_eq!(find(&doc, "log", "missing-secret", Some("error")).unwrap()["source"], "gitrepository");
    assert_eq!(find(&doc, "event", "missing-secret", None).unwrap()["source"], "source-controller");
    // Ordered by when things happened; no conflict from the API server's finalizer warnings.
    let times: Vec<&str> = doc["entries"].as_array().unwrap().iter().filter_map(|e| e["lastSeen"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(doc["summary"]["warningsByClass"].get("conflict").is_none(), "{}", doc["summary"]);
    assert!(doc["notes"].as_array().unwrap().is_empty(), "every controller log was readable: {}", doc["notes"]);
}
