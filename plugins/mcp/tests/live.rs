//! Against devcluster (a real kube-apiserver with Flux's CRDs) through its fault proxy, with the
//! official Python SDK as the client: live answers equal the plugins' own; a slow read reports
//! progress; a call the client gives up on does not hold the session; a cluster that stops
//! answering is a tool error naming it, and the server answers again once it is back.

mod common;

use common::{assert_same_as_cli, drive, result, stdio};
use devcluster::proxy::{Fault, FaultKind};
use kubectl_flux_testkit::cluster_with_options;
use serde_json::json;

const KUSTOMIZATIONS: &str = "kustomize.toolkit.fluxcd.io/kustomizations";

fn slow_list(ms: u64) -> Fault {
    Fault {
        kind: FaultKind::Latency { ms },
        verb: Some("list".into()),
        resource: Some(KUSTOMIZATIONS.into()),
        times: Some(1),
    }
}

#[test]
fn live_answers_progress_cancellation_and_a_cluster_that_goes_away() {
    let tmp = tempfile::tempdir().unwrap();
    let options = devcluster::Options { proxy: true, ..Default::default() };
    let cluster = cluster_with_options(tmp.path(), &["missing-storageclass"], &options);
    let proxy = cluster.faults().unwrap();
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let why = json!({"target": "kustomization/userapp", "namespace": "flux-system"});
    let server = stdio(&["--kubeconfig", &kubeconfig, "--request-timeout", "5s"]);

    // The live answers are the plugins' own.
    let calls = json!([
        {"tool": "lineage_why", "arguments": why},
        {"tool": "tenants_load", "arguments": {"all_namespaces": true}},
        {"tool": "reset_plan", "arguments": {"namespace": "flux-system"}},
    ]);
    let report = drive("stdio", &server, &calls, &[]);
    let k = ["--kubeconfig", kubeconfig.as_str()];
    assert_same_as_cli(
        result(&report, 0),
        "lineage",
        &[&["--why", "kustomization/userapp", "-n", "flux-system"], &k[..]].concat(),
    );
    assert_same_as_cli(result(&report, 1), "tenants", &[&["-A"], &k[..]].concat());
    assert_same_as_cli(result(&report, 2), "reset", &[&["plan", "-n", "flux-system"], &k[..]].concat());

    // A read the API server keeps waiting 3 s: progress notifications while it reads.
    proxy.add(&slow_list(3000)).unwrap();
    let report = drive("stdio", &server, &json!([{"tool": "lineage_why", "arguments": why}]), &[]);
    assert_eq!(result(&report, 0)["isError"], false, "{report:#}");
    assert!(result(&report, 0)["progress"].as_u64().unwrap() >= 1, "{report:#}");
    assert!(proxy.faults().unwrap().is_empty());

    // The client gives up on a call stuck behind a 4 s list; the session goes on and the next
    // call (the fault is spent) answers.
    proxy.add(&slow_list(4000)).unwrap();
    let calls = json!([
        {"tool": "lineage_why", "arguments": why, "cancelAfter": 1},
        {"tool": "lineage_why", "arguments": why},
    ]);
    let report = drive("stdio", &server, &calls, &[]);
    assert!(result(&report, 0)["abandoned"].is_string(), "{report:#}");
    assert_eq!(result(&report, 1)["isError"], false, "{report:#}");

    // The cluster stops answering (every connection cut): a tool error naming the server, in
    // the plugin's words; once it answers again, so does the tool, in the same session.
    let cut = Fault { kind: FaultKind::Reset, verb: None, resource: None, times: None };
    proxy.add(&cut).unwrap();
    let (failed, back) = (tmp.path().join("failed"), tmp.path().join("back"));
    let calls = json!([
        {"tool": "lineage_why", "arguments": why},
        {"signal": failed},
        {"waitFor": back},
        {"tool": "lineage_why", "arguments": why},
    ]);
    let report = std::thread::scope(|s| {
        let client = s.spawn(|| drive("stdio", &server, &calls, &[]));
        kubectl_flux_testkit::eventually("the first call ends", std::time::Duration::from_secs(60), || {
            (!failed.exists()).then(|| "still calling".to_string())
        });
        proxy.clear().unwrap();
        std::fs::write(&back, "").unwrap();
        client.join().unwrap()
    });
    let gone = result(&report, 0);
    assert_eq!(gone["isError"], true, "{report:#}");
    let message = gone["text"][0].as_str().unwrap();
    assert!(message.starts_with("flux-lineage: "), "{message}");
    assert!(message.contains("127.0.0.1"), "the error names the server: {message}");
    assert_same_as_cli(
        result(&report, 1),
        "lineage",
        &[&["--why", "kustomization/userapp", "-n", "flux-system"], &k[..]].concat(),
    );
}
