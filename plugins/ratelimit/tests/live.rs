//! flux-ratelimit against a real API server (devcluster) serving the rate-limit scenario: the
//! same answer as offline (Secrets read from the cluster give the same token fingerprints), from
//! one discovery request and one list per kind.

use kubectl_flux_testkit::{assert_live_equals_offline, cluster_with, request_delta, requests, run};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_ratelimit"))
}

#[test]
fn live_equals_offline_with_one_list_per_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = cluster_with(tmp.path(), &["rate-limit"]);
    assert_live_equals_offline(bin(), &cluster, &["rate-limit"], &[&[], &["-o", "json"], &["--fail-on", "over-limit"]]);
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let before = requests(&cluster);
    assert_eq!(run(bin(), &["--kubeconfig", &kubeconfig, "-o", "name"]).code, 0);
    let delta = request_delta(&before, &requests(&cluster));
    let mut expected: Vec<String> = vec!["get /apis".into()];
    for r in [
        "events",
        "image.toolkit.fluxcd.io/imageupdateautomations",
        "notification.toolkit.fluxcd.io/alerts",
        "notification.toolkit.fluxcd.io/providers",
        "secrets",
        "source.toolkit.fluxcd.io/gitrepositories",
    ] {
        expected.push(format!("list {r}"));
    }
    let mut seen: Vec<String> = delta
        .iter()
        .map(|((verb, res, _), n)| {
            assert_eq!(*n, 1, "{delta:?}");
            format!("{verb} {res}")
        })
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    drop(cluster);
}
