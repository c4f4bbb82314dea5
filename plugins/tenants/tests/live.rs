//! flux-tenants against a real API server (devcluster) serving the guilty-tenant scenario: the
//! same answer as offline, from one discovery request and one list per kind.

use kubectl_flux_testkit::{assert_live_equals_offline, cluster_with, request_delta, requests, run};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_tenants"))
}

#[test]
fn live_equals_offline_with_one_list_per_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = cluster_with(tmp.path(), &["guilty-tenant"]);
    let cases: &[&[&str]] = &[&[], &["-o", "json"], &["-o", "tsv"], &["--min-interval", "1m", "--fail-on", "error"]];
    assert_live_equals_offline(bin(), &cluster, &["guilty-tenant"], cases);
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let before = requests(&cluster);
    assert_eq!(run(bin(), &["--kubeconfig", &kubeconfig, "-o", "name"]).code, 0);
    let delta = request_delta(&before, &requests(&cluster));
    let key = |verb: &str, resource: &str| (verb.to_string(), resource.to_string(), String::new());
    assert_eq!(delta.get(&key("get", "/apis")), Some(&1), "{delta:?}");
    assert_eq!(delta.get(&key("list", "secrets")), Some(&1), "{delta:?}");
    assert_eq!(delta.get(&key("list", "source.toolkit.fluxcd.io/gitrepositories")), Some(&1), "{delta:?}");
    assert_eq!(delta.values().sum::<u64>(), 1 + kubectl_flux_tenants::wants().len() as u64, "{delta:?}");
    drop(cluster);
}

#[test]
fn the_ten_thousand_app_scenario_ranks_its_planted_guilty_tenant_first() {
    let tmp = tempfile::tempdir().unwrap();
    devcluster::scale::generate(10_000, 200, 1, tmp.path()).unwrap();
    let snapshot = tmp.path().join("snapshot.json").display().to_string();
    let r = run(bin(), &["-f", &snapshot, "-o", "tsv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 200);
    assert!(r.stdout.starts_with("tenant-007\t65\t10\t"), "{}", &r.stdout[..200]);
}
