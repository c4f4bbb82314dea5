//! flux-ratelimit against a real API server (devcluster) serving the rate-limit scenario: the
//! same answer as offline (Secrets read from the cluster give the same token fingerprints), from
//! one discovery request, one list per kind, and the Secrets and Events only where they matter.

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
    // Exactly: the spenders (the flux-operator's input providers too), Providers and Alerts
    // everywhere; the Secrets in the namespaces
    // whose objects name one (Helm storage left on the server); the Events about the spenders
    // where they fail (team-a..d), and about the Kustomizations two Alerts send to GitHub
    // Providers (flux-system). A change that adds a cluster-wide read fails here.
    let mut seen: Vec<String> = delta.iter().map(|((verb, res, ns), n)| format!("{verb} {res} {ns} x{n}")).collect();
    seen.sort();
    let mut expected: Vec<String> = vec![
        "get /apis  x1".into(),
        "list fluxcd.controlplane.io/resourcesetinputproviders  x1".into(),
        "list image.toolkit.fluxcd.io/imageupdateautomations  x1".into(),
        "list notification.toolkit.fluxcd.io/alerts  x1".into(),
        "list notification.toolkit.fluxcd.io/providers  x1".into(),
        "list source.toolkit.fluxcd.io/gitrepositories  x1".into(),
        "list events flux-system x1".into(),
    ];
    for team in ["team-a", "team-b", "team-c", "team-d"] {
        expected.push(format!("list events {team} x2"));
    }
    for ns in ["flux-system", "legacy", "platform", "team-a", "team-b", "team-c", "team-d"] {
        expected.push(format!("list secrets {ns} x1"));
    }
    expected.sort();
    assert_eq!(seen, expected);
    let audit = std::fs::read_to_string(cluster.dir.join("audit.log")).unwrap();
    let secrets: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains(r#""username":"admin""#) && l.contains(r#""verb":"list""#))
        .filter_map(|l| l.split(r#""requestURI":""#).nth(1)?.split('"').next())
        .filter(|uri| uri.contains("/secrets"))
        .collect();
    assert!(secrets.iter().all(|uri| uri.ends_with("/secrets?labelSelector=owner%21%3Dhelm")), "{secrets:?}");
    // Only the Events it reads, by field selector; never every Event (a list without the
    // selector fails the `expect`). Lists only: loading the scenario created Events too.
    let mut about: Vec<&str> = audit
        .lines()
        .filter(|l| {
            l.contains(r#""username":"admin""#)
                && l.contains(r#""stage":"ResponseComplete""#)
                && l.contains(r#""verb":"list""#)
        })
        .filter_map(|l| l.split("/events?").nth(1))
        .map(|q| q.split("fieldSelector=involvedObject.kind%3D").nth(1).expect(q).split(['&', '"']).next().unwrap())
        .collect();
    about.sort();
    about.dedup(); // every run above listed the same
    assert_eq!(about, ["GitRepository", "ImageUpdateAutomation", "Kustomization"]);
    // Whole lists, never `limit` pages: the continue pages of a paginated list are read from
    // etcd, which counts the remaining keys on every page.
    let lists: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains(r#""username":"admin""#) && l.contains(r#""verb":"list""#))
        .filter_map(|l| l.split(r#""requestURI":""#).nth(1)?.split('"').next())
        .collect();
    assert!(!lists.is_empty() && lists.iter().all(|uri| !uri.contains("limit=")), "{lists:?}");
    drop(cluster);
}

/// Three real clusters and one that cannot be reached: one GitHub token used by two of them
/// spends one budget; the unreachable one is named in the summary while the others answer.
#[test]
fn a_fleet_shares_one_budget_per_token_and_names_the_cluster_that_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    let (a, b, c) = (
        kubectl_flux_testkit::cluster_with(&a, &["rate-limit"]),
        kubectl_flux_testkit::cluster_with(&b, &["rate-limit"]),
        kubectl_flux_testkit::cluster_with(&c, &["demo"]),
    );
    let kubeconfig = kubectl_flux_testkit::fleet_kubeconfig(
        tmp.path(),
        &[("fleet-a", &a), ("fleet-b", &b), ("fleet-c", &c)],
        Some("gone"),
    );
    let env = [("KUBECONFIG", kubeconfig.as_str())];
    let jq = ".credentials[] | select(.sources > 1 and .auth == \"token\") | [.credential, (.clusters | join(\",\")), .sources, (.secrets | length)] | @tsv";
    let r = kubectl_flux_testkit::run_with(
        bin(),
        &["--all-contexts", "--request-timeout", "5s", "-o", "json", "--jq", jq],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "sha256:83e8e15db325\tfleet-a,fleet-b\t114\t10\nsha256:11d53b7fcf53\tfleet-a,fleet-b\t2\t2\nsha256:04cd540e3e1e\tfleet-a,fleet-b\t6\t2\n"
    );
    assert!(r.stderr.starts_with("fleet: 3 of 4 clusters answered; failed: gone ("), "{}", r.stderr);
    // The same answer offline, from the scenarios the clusters were loaded with.
    let (rl, demo) = (kubectl_flux_testkit::example("rate-limit"), kubectl_flux_testkit::example("demo"));
    let offline = run(
        bin(),
        &[
            "--cluster-from-dir",
            &format!("fleet-a={rl}"),
            "--cluster-from-dir",
            &format!("fleet-b={rl}"),
            "--cluster-from-dir",
            &format!("fleet-c={demo}"),
            "-o",
            "json",
            "--jq",
            jq,
        ],
    );
    assert_eq!(offline.stdout, r.stdout);
    // The table: a CLUSTERS column; the fix patches each object in its own cluster.
    let r = kubectl_flux_testkit::run_with(bin(), &["--all-contexts", "fleet-*"], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("fleet:"), "a glob leaves the unreachable context out: {}", r.stderr);
    assert!(r.stdout.starts_with("CLUSTERS "), "{}", r.stdout);
    assert!(r.stdout.contains("fleet-a, fleet-b   github.com"), "{}", r.stdout);
    assert!(r.stdout.contains("kubectl --context fleet-"), "{}", r.stdout);
    // Only the unreachable cluster, or two of them: every cluster failed, exit 1.
    let r = kubectl_flux_testkit::run_with(
        bin(),
        &["--context", "gone", "--context", "gone", "--all-contexts", "gone", "--request-timeout", "3s"],
        &env,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("fleet: 0 of 1 clusters answered; failed: gone ("), "{}", r.stderr);
}
