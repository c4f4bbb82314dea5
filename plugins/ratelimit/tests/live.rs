//! flux-ratelimit against a real API server (devcluster) serving the rate-limit scenario: the
//! same answer as offline (Secrets read from the cluster give the same token fingerprints), from
//! one discovery request and one list per kind.

use devcluster::{Cluster, Options};
use kubectl_flux_testkit::{example, request_delta, requests, run};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_ratelimit"))
}

#[test]
fn live_equals_offline_with_one_list_per_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::up(&tmp.path().join("cluster"), &Options::default()).unwrap();
    let file = example("rate-limit");
    let loaded = devcluster::load_files(&cluster.kubeconfig, &[file.clone().into()]).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let kubeconfig = cluster.kubeconfig.display().to_string();
    for args in [vec![], vec!["-o", "json"], vec!["--fail-on", "over-limit"]] {
        let mut offline = args.clone();
        offline.extend(["-f", file.as_str()]);
        let mut live = args.clone();
        live.extend(["--kubeconfig", kubeconfig.as_str()]);
        let (offline, live) = (run(bin(), &offline), run(bin(), &live));
        assert_eq!(
            (live.code, &live.stdout, &live.stderr),
            (offline.code, &offline.stdout, &offline.stderr),
            "{args:?}"
        );
    }
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
