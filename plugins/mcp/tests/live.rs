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

/// The Kustomizations of flux-system as the real kubectl reads them: name -> (uid, spec,
/// suspended, Terminating).
fn kustomizations(kubeconfig: &str) -> std::collections::BTreeMap<String, (String, serde_json::Value, bool, bool)> {
    let kubectl = devcluster::build::bin_dir().unwrap().join("kubectl");
    let out = std::process::Command::new(kubectl)
        .args([
            "get",
            "kustomizations.kustomize.toolkit.fluxcd.io",
            "-n",
            "flux-system",
            "-o",
            "json",
            "--kubeconfig",
            kubeconfig,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "kubectl get: {}", String::from_utf8_lossy(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let name = o["metadata"]["name"].as_str().unwrap().to_string();
            let uid = o["metadata"]["uid"].as_str().unwrap().to_string();
            let suspended = o["spec"]["suspend"] == true;
            (name, (uid, o["spec"].clone(), suspended, !o["metadata"]["deletionTimestamp"].is_null()))
        })
        .collect()
}

#[test]
fn reset_run_is_offered_only_with_allow_write_and_changes_nothing_without_the_context_name() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = kubectl_flux_testkit::flux_cluster(tmp.path());
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let before = kustomizations(&kubeconfig);
    assert!(!before.is_empty());
    let dir = tmp.path().join("reset");
    let scope = json!({"namespace": "flux-system", "kind": ["kustomization"]});
    let mut run = scope.clone();
    run["dir"] = json!(dir.display().to_string());
    run["timeout"] = json!("120s");
    run["finalizer_wait"] = json!("10s");

    // Without --allow-write the tool does not exist, whatever the call says.
    let read_only = stdio(&["--kubeconfig", &kubeconfig]);
    let mut confirmed = run.clone();
    confirmed["confirm"] = json!("devcluster");
    let report = drive("stdio", &read_only, &json!([{"tool": "reset_run", "arguments": confirmed}]), &[]);
    assert!(report["tools"].as_array().unwrap().iter().all(|t| t["name"] != "reset_run"));
    assert!(result(&report, 0)["protocolError"].as_str().unwrap().contains("unknown tool 'reset_run'"), "{report:#}");

    // With it: listed as destructive; a call must give the context's name, and a wrong one or
    // none changes nothing. The right name is the one reset_plan's document gives.
    let writer = stdio(&["--kubeconfig", &kubeconfig, "--allow-write"]);
    let mut wrong = run.clone();
    wrong["confirm"] = json!("prod");
    let calls = json!([
        {"tool": "reset_run", "arguments": run},
        {"tool": "reset_run", "arguments": wrong},
        {"tool": "reset_plan", "arguments": scope},
    ]);
    let report = drive("stdio", &writer, &calls, &[]);
    let tool = report["tools"].as_array().unwrap().iter().find(|t| t["name"] == "reset_run").unwrap();
    assert_eq!(tool["annotations"]["readOnlyHint"], false);
    assert_eq!(tool["annotations"]["destructiveHint"], true);
    assert_eq!(tool["inputSchema"]["required"], json!(["confirm"]));
    assert_eq!(result(&report, 0)["text"][0], "reset_run: the argument 'confirm' is required");
    let context = result(&report, 2)["structured"]["context"].as_str().unwrap().to_string();
    assert_eq!(
        result(&report, 1)["text"][0],
        format!("flux-reset: confirmation \"prod\" is not the context name \"{context}\": nothing was changed")
    );
    assert_eq!(kustomizations(&kubeconfig), before, "a refused reset changed the Kustomizations");
    assert!(!dir.exists(), "a refused reset wrote {}", dir.display());

    // Confirmed: the reset runs to its end; every Kustomization is back with its spec, a new
    // object (deleted and recreated), not suspended; the report is the plugin's ResetReport and
    // the text is the lines its steps said.
    let mut confirmed = run.clone();
    confirmed["confirm"] = json!(context);
    let report = drive("stdio", &writer, &json!([{"tool": "reset_run", "arguments": confirmed}]), &[]);
    let reset = result(&report, 0);
    assert_eq!(reset["isError"], false, "{reset:#}");
    let document = &reset["structured"];
    assert_eq!(document["kind"], "ResetReport");
    assert_eq!(document["failures"], json!([]), "{document:#}");
    assert!(document["checks"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{document:#}");
    let said: String = document["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{:<10} {}\n", l["step"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(reset["text"][0], said);
    assert!(dir.join("backup.json").exists() && dir.join("journal.jsonl").exists());
    let after = kustomizations(&kubeconfig);
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>());
    for (name, (uid, spec, suspended, terminating)) in &after {
        let (old_uid, old_spec, _, _) = &before[name];
        assert_eq!(spec, old_spec, "{name}: spec");
        assert_ne!(uid, old_uid, "{name}: not recreated");
        assert!(!suspended && !terminating, "{name}: suspended {suspended}, Terminating {terminating}");
    }
}
