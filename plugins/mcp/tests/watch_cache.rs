//! `--watch-cache` against devcluster (a real kube-apiserver), with the official Python SDK as
//! the client: the first question lists and starts watches, the same question again is
//! answered without a single list (the API server's audit log says so) and equals the plugin's
//! own answer, a change made with the real kubectl reaches the next answer through the watch,
//! and each result says how fresh its lists were; while the cluster does not answer (the fault
//! proxy cuts every connection), the answers come from memory marked as not current, and they
//! are current again once it is back.

mod common;

use common::{assert_same_as_cli, drive, result, serve};
use devcluster::proxy::{Fault, FaultKind};
use kubectl_flux_testkit::{cluster_with_options, eventually, request_delta, requests};
use serde_json::{Value, json};
use std::time::Duration;

/// The freshness line of a result: its third text block.
fn freshness(result: &Value) -> &str {
    result["text"][2].as_str().unwrap_or_else(|| panic!("no freshness line: {result:#}"))
}

#[test]
fn repeated_questions_are_answered_from_watches_and_see_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let options = devcluster::Options { proxy: true, ..Default::default() };
    let cluster = cluster_with_options(tmp.path(), &["missing-storageclass"], &options);
    let proxy = cluster.faults().unwrap();
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let k = ["--kubeconfig", kubeconfig.as_str()];
    // A short request timeout: a watch the cut connection silences ends within it.
    let served = serve(&["--kubeconfig", &kubeconfig, "--watch-cache", "--request-timeout", "3s"], &[]);
    let url = std::slice::from_ref(&served.url);
    let calls = json!([
        {"tool": "lineage_why", "arguments": {"target": "kustomization/userapp", "namespace": "flux-system"}},
        {"tool": "tenants_load", "arguments": {"all_namespaces": true}},
        {"tool": "events_timeline", "arguments": {}},
    ]);
    let why = [&["--why", "kustomization/userapp", "-n", "flux-system"], &k[..]].concat();
    let tenants = [&["-A"], &k[..]].concat();

    // The first questions list what they read and watch it from there.
    let first = drive("http", url, &calls, &[]);
    assert_same_as_cli(result(&first, 0), "lineage", &why);
    assert_same_as_cli(result(&first, 1), "tenants", &tenants);
    assert_same_as_cli(result(&first, 2), "events", &k);
    let line = freshness(result(&first, 0));
    assert!(line.starts_with("watch cache: ") && line.ends_with(" lists made now and watched from here on"), "{line}");
    assert!(!line.contains("answered from memory"), "{line}");

    // Asked again, in another session: the same answers, and not one list or get reaches the
    // API server (watches resuming are the only requests allowed).
    let before = requests(&cluster);
    let again = drive("http", url, &calls, &[]);
    let delta = request_delta(&before, &requests(&cluster));
    assert!(delta.keys().all(|(verb, _, _)| verb == "watch"), "requests of a repeated question: {delta:#?}");
    assert_same_as_cli(result(&again, 0), "lineage", &why);
    assert_same_as_cli(result(&again, 1), "tenants", &tenants);
    assert_same_as_cli(result(&again, 2), "events", &k);
    for i in 0..3 {
        let line = freshness(result(&again, i));
        assert!(
            line.starts_with("watch cache: ") && line.contains(" answered from memory, kept current by watches since "),
            "{line}"
        );
        assert!(!line.contains("made now") && !line.contains("not current"), "{line}");
    }

    // The Kustomization's source is deleted with kubectl (its finalizer cleared: no
    // source-controller runs here): the watch brings the change, and the answer becomes the
    // plugin's answer on the changed cluster.
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new(devcluster::build::bin_dir().unwrap().join("kubectl"))
            .args(args)
            .args(["-n", "flux-system", "--kubeconfig", &kubeconfig])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || stderr.contains("NotFound"), "kubectl {args:?}: {stderr}");
    };
    let source = "gitrepositories.source.toolkit.fluxcd.io/apps";
    let one = json!([calls[0]]);

    // The source's status changes (what source-controller would write): the same lists are
    // read, one of them changed, so nothing derived from the old ones (the graph) may answer.
    let failing = r#"{"status":{"conditions":[{"type":"Ready","status":"False","reason":"GitOperationFailed",
        "message":"failed to checkout and determine revision","lastTransitionTime":"2026-11-20T10:00:00Z"}]}}"#;
    kubectl(&["patch", source, "--subresource=status", "--type=merge", "-p", failing]);
    let before_status = result(&again, 0)["structured"].clone();
    let mut failed = Value::Null;
    eventually("the source's new status reaches the cached answer", Duration::from_secs(30), || {
        failed = result(&drive("http", url, &one, &[]), 0).clone();
        (failed["structured"] == before_status).then(|| "the answer still shows the source Ready".to_string())
    });
    assert_same_as_cli(&failed, "lineage", &why);
    let text = serde_json::to_string(&failed["structured"]).unwrap();
    assert!(text.contains("GitOperationFailed"), "{text}");

    // A controller records an Event about the Kustomization: the timeline's entries, kept
    // while the Events' list is unchanged, are those of the changed list at the next question.
    let event = tmp.path().join("event.yaml");
    std::fs::write(
        &event,
        r#"{"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "userapp.recorded-by-the-test", "namespace": "flux-system"},
        "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "name": "userapp", "namespace": "flux-system"},
        "type": "Warning", "reason": "ReconciliationFailed", "count": 1,
        "message": "recorded by the test after the first answers",
        "firstTimestamp": "2026-11-20T10:25:00Z", "lastTimestamp": "2026-11-20T10:25:00Z",
        "source": {"component": "kustomize-controller"}}"#,
    )
    .unwrap();
    kubectl(&["create", "-f", &event.display().to_string()]);
    let events = json!([calls[2]]);
    let recorded_by_test = |r: &Value| {
        let entries = r["structured"]["entries"].as_array().cloned().unwrap_or_default();
        entries.iter().any(|e| e["message"] == "recorded by the test after the first answers")
    };
    assert!(!recorded_by_test(result(&again, 2)));
    let mut recorded = Value::Null;
    eventually("the new Event reaches the cached timeline", Duration::from_secs(30), || {
        recorded = result(&drive("http", url, &events, &[]), 0).clone();
        (!recorded_by_test(&recorded)).then(|| "the timeline lacks the new Event".into())
    });
    assert_same_as_cli(&recorded, "events", &k);

    kubectl(&["delete", source, "--wait=false"]);
    kubectl(&["patch", source, "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    kubectl(&["wait", "--for=delete", source, "--timeout=30s"]);
    let before_change = failed["structured"].clone();
    let mut changed = Value::Null;
    eventually("the deletion reaches the cached answer", Duration::from_secs(30), || {
        let report = drive("http", url, &one, &[]);
        changed = result(&report, 0).clone();
        (changed["structured"] == before_change).then(|| "the answer still shows the GitRepository".to_string())
    });
    assert_same_as_cli(&changed, "lineage", &why);
    let missing = serde_json::to_string(&changed["structured"]).unwrap();
    assert!(missing.contains("GitRepository") && missing.contains("apps"), "{missing}");
    assert!(freshness(&changed).contains("(last change seen "), "{}", freshness(&changed));

    // The cluster stops answering: the same question is answered from memory, the line says
    // which lists are not current; once the cluster answers again, they are current again.
    let cut = Fault { kind: FaultKind::Reset, verb: None, resource: None, times: None };
    proxy.add(&cut).unwrap();
    let mut during = Value::Null;
    eventually("the watches notice the cut", Duration::from_secs(60), || {
        during = result(&drive("http", url, &one, &[]), 0).clone();
        (!freshness(&during).contains("; all not current, the cluster unanswered for up to "))
            .then(|| freshness(&during).to_string())
    });
    assert_eq!(during["structured"], changed["structured"], "{during:#}");
    proxy.clear().unwrap();
    eventually("the watches reconnect", Duration::from_secs(60), || {
        let report = drive("http", url, &one, &[]);
        let line = freshness(result(&report, 0)).to_string();
        line.contains("not current").then_some(line)
    });
}

#[test]
fn the_watch_cache_is_for_clusters_not_files() {
    let r = kubectl_flux_testkit::run(common::bin(), &["--watch-cache", "-f", "examples"]);
    assert_eq!(r.code, 2, "{}", r.render());
    assert!(r.stderr.contains("--watch-cache") && r.stderr.contains("--filename"), "{}", r.stderr);
}
