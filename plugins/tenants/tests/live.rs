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

/// Tenants of `flux create tenant` come from the Namespaces' labels: the live answer lists the
/// Namespaces once and equals the snapshot's.
#[test]
fn live_tenants_from_namespace_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = cluster_with(tmp.path(), &["multi-tenancy"]);
    let cases: &[&[&str]] = &[&[], &["-o", "wide"], &["-o", "json"], &["-n", "cert-manager", "-o", "tsv"]];
    assert_live_equals_offline(bin(), &cluster, &["multi-tenancy"], cases);
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let before = requests(&cluster);
    let r = run(bin(), &["--kubeconfig", &kubeconfig, "-o", "name"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "tenant/dev-team\ntenant/sre-team\ntenant/flux-system\ntenant/qa-team\n")
    );
    let delta = request_delta(&before, &requests(&cluster));
    assert_eq!(delta.get(&("list".to_string(), "namespaces".to_string(), String::new())), Some(&1), "{delta:?}");
    assert_eq!(delta.values().sum::<u64>(), 1 + kubectl_flux_tenants::wants().len() as u64, "{delta:?}");
    drop(cluster);
}
