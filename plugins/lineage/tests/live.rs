//! flux-lineage against a real API server (devcluster) serving the incident scenarios: the same
//! answer as offline, from one discovery request and one list per kind.

use devcluster::flux::{Failure, induce};
use devcluster::proxy::{Fault, FaultKind};
use kubectl_flux_testkit::{
    assert_live_equals_offline, cluster_with, eventually, flux_cluster, request_delta, requests, run, run_now,
};
use std::path::Path;
use std::time::Duration;

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
    // number of objects, then Events only in the namespaces of the answer; never a GET per
    // object.
    let before = requests(&cluster);
    let r = run(bin(), &["--why", "ks/userapp", "-n", "flux-system", "--kubeconfig", &kubeconfig]);
    assert_eq!(r.code, 0);
    let delta = request_delta(&before, &requests(&cluster));
    let gets: Vec<_> = delta.iter().filter(|((verb, _, _), _)| verb == "get").collect();
    assert_eq!(gets, [(&("get".to_string(), "/apis".to_string(), String::new()), &1)], "{delta:?}");
    let lists: Vec<_> =
        delta.iter().filter(|((verb, resource, _), _)| verb == "list" && resource != "events").collect();
    // Secrets are listed twice: metadata only, and the Helm storage Secrets (owner=helm) in full.
    assert!(lists.iter().all(|((_, resource, _), n)| **n == if resource == "secrets" { 2 } else { 1 }), "{delta:?}");
    assert!(lists.iter().all(|((_, _, namespace), _)| namespace.is_empty()), "cluster-wide lists: {delta:?}");
    assert_eq!(lists.len(), kubectl_flux_lineage::wants().len() - 1, "{delta:?}");
    let events: Vec<_> = delta.iter().filter(|((_, resource, _), _)| resource == "events").collect();
    // The chain runs through flux-system and userapp to a StorageClass, whose Events are
    // recorded in default.
    assert_eq!(
        events.iter().map(|((verb, _, namespace), n)| (verb.as_str(), namespace.as_str(), **n)).collect::<Vec<_>>(),
        [("list", "default", 1), ("list", "flux-system", 1), ("list", "userapp", 1)],
        "{delta:?}"
    );
    assert_eq!(delta.len(), lists.len() + events.len() + 1, "only discovery and lists: {delta:?}");
    drop(cluster);
}

/// The real controllers make the failures; lineage names their root causes with the controllers'
/// own words, and a kind the proxy forbids is named as missing rather than guessed at.
#[test]
fn root_causes_of_failures_the_real_controllers_produce() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = flux_cluster(tmp.path());
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let live = |args: &[&str]| run_now(bin(), &[args, &["--kubeconfig", kubeconfig.as_str()]].concat());

    // The working flow: the dependsOn chain upstream, the inventory downstream, all Ready.
    let r = live(&["ks/app-b", "-n", "flux-system", "-o", "json", "--jq", ".edges[] | [.from, .relation, .to] | @tsv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for line in [
        "Kustomization/flux-system/app-b\tdependsOn\tKustomization/flux-system/app-a",
        "Kustomization/flux-system/app-a\tdependsOn\tKustomization/flux-system/infrastructure",
        "Kustomization/flux-system/infrastructure\tsourceRef\tGitRepository/flux-system/platform",
        "Kustomization/flux-system/app-b\tinventory\tService/apps/app-b",
        "Kustomization/flux-system/app-b\thealthCheck\tDeployment/apps/app-b",
    ] {
        assert!(r.stdout.lines().any(|l| l == line), "{line} in {}", r.stdout);
    }
    let r = live(&["ks/app-b", "-n", "flux-system", "-o", "json", "--jq", "[.nodes[].state] | unique | join(\",\")"]);
    assert_eq!(r.stdout, "Ready\n", "every node Ready");

    // Real failures: a dependsOn on a Kustomization whose path does not exist, and a
    // HelmRelease asking for a chart version the repository does not have.
    induce(&cluster.dir, Failure::FailingDependency).unwrap();
    induce(&cluster.dir, Failure::MissingChartVersion).unwrap();
    eventually("both failures reported by the controllers", Duration::from_secs(90), || {
        let a = live(&["--why", "ks/waits-on-failure", "-n", "flux-system"]);
        let b = live(&["--why", "hr/missing-chart", "-n", "flux-system"]);
        let done = a.stdout.contains("(ArtifactFailed)") && b.stdout.contains("(InvalidChartReference)");
        (!done).then(|| format!("{}{}", a.stdout, b.stdout))
    });
    let r = live(&["--why", "ks/waits-on-failure", "-n", "flux-system"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(
            "Root cause:\n  Kustomization flux-system/waits-on-failure not ready (DependencyNotReady) <- Kustomization flux-system/wrong-path not ready (ArtifactFailed)\n"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("condition Ready=False ArtifactFailed: kustomization path not found"), "{}", r.stdout);
    assert!(
        r.stdout.contains("from kustomize-controller: kustomization path not found"),
        "the controller's Event: {}",
        r.stdout
    );
    let r = live(&["--why", "hr/missing-chart", "-n", "flux-system", "--fail-on", "failed"]);
    assert_eq!(r.code, 3, "a finding at --fail-on: {}", r.stderr);
    assert!(
        r.stdout.starts_with(
            "Root cause:\n  HelmRelease flux-system/missing-chart not ready (SourceNotReady) <- HelmChart flux-system/flux-system-missing-chart not ready (InvalidChartReference)\n"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("no 'demo' chart with version matching '9.9.9' found"), "{}", r.stdout);

    // 403 on one kind through the fault proxy: a partial answer whose note names what is
    // missing; a target of that kind is an error, not a guess.
    let proxy = cluster.faults().unwrap();
    let forbid = Fault {
        kind: FaultKind::Status { code: 403, retry_after: None },
        verb: Some("list".into()),
        resource: Some("helm.toolkit.fluxcd.io/helmreleases".into()),
        times: None,
    };
    proxy.add(&forbid).unwrap();
    let r = live(&["ks/app-b", "-n", "flux-system"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("dependsOn: Kustomization flux-system/app-a"), "{}", r.stdout);
    assert!(
        r.stderr.contains("note: forbidden to list helm.toolkit.fluxcd.io/v2 helmreleases")
            && r.stderr.contains("the answer lacks every HelmRelease object"),
        "{}",
        r.stderr
    );
    let r = live(&["--why", "hr/demo", "-n", "flux-system"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.ends_with(
            "error: flux-lineage: HelmRelease flux-system/demo could not be read: its kind is missing from the answer (see the note above)\n"
        ),
        "{}",
        r.stderr
    );
    proxy.clear().unwrap();
    // 429 with Retry-After on every list, twice: retried within the timeout, same answer.
    let before = live(&["--why", "ks/app-b", "-n", "flux-system"]);
    proxy
        .add(&Fault {
            kind: FaultKind::Status { code: 429, retry_after: Some(1) },
            verb: Some("list".into()),
            resource: None,
            times: Some(2),
        })
        .unwrap();
    let after = live(&["--why", "ks/app-b", "-n", "flux-system"]);
    assert_eq!((after.code, &after.stdout), (0, &before.stdout), "{}", after.stderr);
    assert!(proxy.faults().unwrap().is_empty(), "both 429s were served");
}
