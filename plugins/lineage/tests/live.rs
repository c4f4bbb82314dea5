//! flux-lineage against a real API server (devcluster) serving the incident scenarios: the same
//! answer as offline, from one discovery request and one list per kind.

use kubectl_flux_testkit::{assert_live_equals_offline, cluster_with, request_delta, requests, run};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"))
}

#[test]
fn live_answers_equal_offline_answers_with_one_list_per_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = ["missing-storageclass", "cycle"];
    let cluster = cluster_with(tmp.path(), &scenarios);
    let cases: &[&[&str]] = &[
        &["--why", "ks/userapp", "-n", "flux-system"],
        &["ks/userapp", "-n", "flux-system", "-o", "json"],
        &["sts/userdb", "-n", "userapp", "-o", "wide"],
        &["--cycles"],
        &["--why", "hr/kube-prometheus-stack", "-n", "monitoring"],
        &["ks/monitoring-config", "-n", "flux-system", "-o", "dot"],
    ];
    assert_live_equals_offline(bin(), &cluster, &scenarios, cases);
    let kubeconfig = cluster.kubeconfig.display().to_string();

    // Requests: one discovery GET of /apis, then exactly one list of each kind, whatever the
    // number of objects; never a GET per object.
    let before = requests(&cluster);
    let r = run(bin(), &["--why", "ks/userapp", "-n", "flux-system", "--kubeconfig", &kubeconfig]);
    assert_eq!(r.code, 0);
    let delta = request_delta(&before, &requests(&cluster));
    let gets: Vec<_> = delta.iter().filter(|((verb, _, _), _)| verb == "get").collect();
    assert_eq!(gets, [(&("get".to_string(), "/apis".to_string(), String::new()), &1)], "{delta:?}");
    let lists: Vec<_> = delta.iter().filter(|((verb, _, _), _)| verb == "list").collect();
    // Secrets are listed twice: metadata only, and the Helm storage Secrets (owner=helm) in full.
    assert!(lists.iter().all(|((_, resource, _), n)| **n == if resource == "secrets" { 2 } else { 1 }), "{delta:?}");
    assert_eq!(lists.len(), kubectl_flux_lineage::wants().len() - 1, "{delta:?}");
    assert_eq!(delta.len(), lists.len() + 1, "only discovery and lists: {delta:?}");
    drop(cluster);
}

#[test]
fn the_ten_thousand_app_scenario_finds_its_planted_incidents() {
    let tmp = tempfile::tempdir().unwrap();
    devcluster::scale::generate(10_000, 200, 1, tmp.path()).unwrap();
    let snapshot = tmp.path().join("snapshot.json").display().to_string();
    let r = run(bin(), &["--cycles", "-f", &snapshot, "-o", "json", "--jq", ".cycles[].objects | join(\" \")"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Kustomization/tenant-003/app-00150 Kustomization/tenant-003/app-00151 Kustomization/tenant-003/app-00152\n"
    );
    let r = run(bin(), &["--why", "sts/app-00250-cache", "-n", "tenant-005", "-f", &snapshot]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("<- StorageClass fast-ssd NotFound"), "{}", r.stdout);
}
