//! flux-lineage against a real API server (devcluster) serving the incident scenarios: the same
//! answer as offline, from one discovery request and one list per kind (and namespace).

use devcluster::flux::{Failure, induce};
use devcluster::proxy::{Fault, FaultKind};
use kubectl_flux_model::kinds::{CORE_KINDS, FLUX_KINDS, KindInfo};
use kubectl_flux_testkit::{
    assert_live_equals_offline, cluster_with, eventually, flux_cluster, request_delta, requests, run, run_now,
};
use std::path::Path;
use std::time::Duration;

/// A request as counted: verb, resource, namespace, how many.
type Request = (String, String, String, u64);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"))
}

#[test]
fn live_answers_equal_offline_answers_with_one_list_per_kind_and_namespace() {
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = ["missing-storageclass", "cycle"];
    let cluster = cluster_with(tmp.path(), &scenarios);
    let cases: &[&[&str]] = &[
        &["--why", "ks/userapp", "-n", "flux-system"],
        &["ks/userapp", "-n", "flux-system", "-o", "json"],
        &["sts/userdb", "-n", "userapp", "-o", "wide"],
        &["--cycles"],
        &["--why", "hr/kube-prometheus-stack", "-n", "monitoring"],
        // Its chains lead to apps and ingress-nginx, read in a later round.
        &["--why", "ks/apps", "-n", "flux-system", "-o", "json"],
        &["ks/monitoring-config", "-n", "flux-system", "-o", "dot"],
    ];
    assert_live_equals_offline(bin(), &cluster, &scenarios, cases);
    let kubeconfig = cluster.kubeconfig.display().to_string();

    // Requests: one discovery GET of /apis, then one list per kind (and namespace), whatever the
    // number of objects, then Events only in the namespaces of the answer; never a GET per
    // object. `--why` lists the Flux kinds (with the Helm storage Secrets) and the other
    // namespaced kinds only where the target's chains lead, the cluster-scoped kinds in full,
    // and every Flux kind everywhere only when a missing object's producers must be named.
    // Resources as the audit log names them: `group/plural`, core ones by their plural.
    let resource =
        |k: &KindInfo| if k.group.is_empty() { k.plural.to_string() } else { format!("{}/{}", k.group, k.plural) };
    let flux: Vec<String> = FLUX_KINDS.iter().map(resource).collect();
    let kube = |namespaced: bool| -> Vec<String> {
        CORE_KINDS
            .iter()
            .filter(|k| k.namespaced == namespaced && !matches!(k.kind, "Node" | "CustomResourceDefinition" | "Event"))
            .map(resource)
            .collect()
    };
    let why = |args: &[&str]| {
        let before = requests(&cluster);
        let mut args = args.to_vec();
        args.extend(["--kubeconfig", &kubeconfig]);
        let r = run(bin(), &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let mut seen: Vec<Request> = request_delta(&before, &requests(&cluster))
            .into_iter()
            .map(|((verb, resource, namespace), n)| (verb, resource, namespace, n))
            .collect();
        seen.sort();
        seen
    };
    // The Flux kinds that produce Kubernetes objects or name one in another namespace.
    let producers = [
        "kustomize.toolkit.fluxcd.io/kustomizations",
        "helm.toolkit.fluxcd.io/helmreleases",
        "fluxcd.controlplane.io/resourcesets",
        "fluxcd.controlplane.io/fluxinstances",
    ];
    // The lists of an answer: the Flux kinds and Helm storage in `flux_in` ("" for everywhere);
    // with `producers_and_rest_in`, the producers and Helm storage everywhere and the other Flux
    // kinds in those namespaces; the namespaced Kubernetes kinds in `kube_in` ("" for
    // everywhere); Events in `events`.
    let expected = |flux_in: &[&str], producers_and_rest_in: Option<&[&str]>, kube_in: &[&str], events: &[&str]| {
        let mut lists: std::collections::BTreeMap<(String, String, String), u64> = Default::default();
        let mut add = |resource: &str, namespace: &str| {
            *lists.entry(("list".into(), resource.into(), namespace.into())).or_default() += 1
        };
        for ns in flux_in {
            flux.iter().for_each(|r| add(r, ns));
            add("secrets", ns);
        }
        if let Some(rest_in) = producers_and_rest_in {
            producers.iter().for_each(|r| add(r, ""));
            add("secrets", "");
            for ns in rest_in {
                flux.iter().filter(|r| !producers.contains(&r.as_str())).for_each(|r| add(r, ns));
            }
        }
        kube(false).iter().for_each(|r| add(r, ""));
        for ns in kube_in {
            kube(true).iter().for_each(|r| add(r, ns));
        }
        events.iter().for_each(|ns| add("events", ns));
        add("/apis", "");
        let mut lists: Vec<Request> = lists.into_iter().map(|((verb, r, ns), n)| (verb, r, ns, n)).collect();
        for l in &mut lists {
            if l.1 == "/apis" {
                l.0 = "get".into();
            }
        }
        lists.sort();
        lists
    };

    // A chain with nothing missing is read where it leads and nowhere else, as `flux tree`
    // would: flux-system first, then the namespaces its inventory applies to (their objects
    // name their producer with Flux's labels); no Kustomization of any other namespace.
    let delta = why(&["--why", "ks/apps", "-n", "flux-system"]);
    let read = ["apps", "flux-system", "ingress-nginx"];
    assert_eq!(delta, expected(&read, None, &read, &["flux-system"]));
    // The HelmRelease's chains stay in monitoring and flux-system (its chart's source, the
    // ConfigMap a Kustomization there produces); an object its release installed is missing, so
    // every Kustomization, HelmRelease (with Helm storage), ResourceSet and FluxInstance is listed
    // to name whoever else would produce it, and only the other Flux kinds in flux-system.
    let delta = why(&["--why", "hr/kube-prometheus-stack", "-n", "monitoring"]);
    let read = ["flux-system", "monitoring"];
    assert_eq!(delta, expected(&["monitoring"], Some(&["flux-system"]), &read, &read));

    // A chain to a missing cluster-scoped object (the StorageClass) names who refers to it and
    // who would produce it, from any namespace. The first round reads flux-system, the second
    // the namespace the Kustomization applies to (both families of kinds), where the StatefulSet
    // and its PVC name the StorageClass: the third lists the Flux kinds that can produce it and
    // every PVC (what can name a StorageClass), not every kind. The chain runs through
    // flux-system and userapp to a StorageClass, whose Events are recorded in default.
    let delta = why(&["--why", "ks/userapp", "-n", "flux-system"]);
    let read = ["flux-system", "userapp"];
    let mut lists = expected(&read, Some(&[]), &read, &["default", "flux-system", "userapp"]);
    lists.push(("list".into(), "persistentvolumeclaims".into(), "".into(), 1));
    lists.sort();
    assert_eq!(delta, lists);

    // The StorageClass created with the real kubectl: the PVC waits for it only to exist, and an
    // existing class holds nothing up, so what it might own elsewhere is not read. The chain
    // stays in flux-system and userapp, and the answer is the one the whole cluster gives (the
    // scenario files with the class beside them).
    let class = tmp.path().join("fast-ssd.yaml");
    std::fs::write(&class, FAST_SSD).unwrap();
    let out = std::process::Command::new(devcluster::build::bin_dir().unwrap().join("kubectl"))
        .args(["create", "-f", &class.display().to_string(), "--kubeconfig", &kubeconfig])
        .output()
        .unwrap();
    assert!(out.status.success(), "kubectl create: {}", String::from_utf8_lossy(&out.stderr));
    let delta = why(&["--why", "ks/userapp", "-n", "flux-system"]);
    let read = ["flux-system", "userapp"];
    assert_eq!(delta, expected(&read, None, &read, &read));
    let mut offline = vec!["--why", "ks/userapp", "-n", "flux-system"];
    let files: Vec<String> = scenarios.iter().map(|s| kubectl_flux_testkit::example(s)).collect();
    let class_file = class.display().to_string();
    for f in files.iter().chain([&class_file]) {
        offline.extend(["-f", f.as_str()]);
    }
    let (offline, live) =
        (run(bin(), &offline), run(bin(), &["--why", "ks/userapp", "-n", "flux-system", "--kubeconfig", &kubeconfig]));
    assert_eq!((live.code, &live.stdout, &live.stderr), (offline.code, &offline.stdout, &offline.stderr));
    assert!(live.stdout.contains("PersistentVolumeClaim userapp/data-userdb-0"), "{}", live.stdout);
    assert!(!live.stdout.contains("NotFound"), "the class exists now: {}", live.stdout);
    drop(cluster);
}

/// The StorageClass the missing-storageclass scenario lacks.
const FAST_SSD: &str = "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fast-ssd
provisioner: ebs.csi.aws.com
volumeBindingMode: WaitForFirstConsumer
";

/// The ArtifactGenerator chain read from a real API server (the generator's kind served by a CRD,
/// as source-watcher installs it) answers as the snapshot does; once the CRD is deleted with the
/// real kubectl, a missing ExternalArtifact says that the cluster does not serve the kind.
#[test]
fn generator_chains_live_and_a_generator_kind_not_served() {
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = ["artifact-generator"];
    let cluster = cluster_with(tmp.path(), &scenarios);
    let cases: &[&[&str]] = &[
        &["--why", "ks/apps", "-n", "flux-system"],
        &["--why", "ks/monitoring", "-n", "flux-system", "-o", "json"],
        &["ag/platform", "-n", "flux-system", "-o", "wide"],
        &["--cycles"],
    ];
    assert_live_equals_offline(bin(), &cluster, &scenarios, cases);
    let kubeconfig = cluster.kubeconfig.display().to_string();
    // source-watcher uninstalled: no controller removes the generator's finalizer, so it goes
    // first, then the CRD with every ArtifactGenerator.
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new(devcluster::build::bin_dir().unwrap().join("kubectl"))
            .args(args)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    kubectl(&[
        "patch",
        "ag/platform",
        "-n",
        "flux-system",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    kubectl(&["delete", "crd", "artifactgenerators.source.extensions.fluxcd.io", "--timeout=60s"]);
    let note = "note: ArtifactGenerator (source.extensions.fluxcd.io) is not served by this cluster; skipped\n";
    let unserved = "no ArtifactGenerator can generate it: the cluster does not serve ArtifactGenerator \
                    (source.extensions.fluxcd.io); source-watcher is not installed";
    eventually("the generator's kind no longer served", std::time::Duration::from_secs(30), || {
        let r = run(bin(), &["--why", "ks/apps", "-n", "flux-system", "--kubeconfig", &kubeconfig]);
        (r.code == 0 && r.stderr == note && r.stdout.contains(unserved)).then_some(()).ok_or(r.render()).err()
    });
    let r = run(
        bin(),
        &[
            "--why",
            "ks/monitoring",
            "-n",
            "flux-system",
            "--kubeconfig",
            &kubeconfig,
            "--jq",
            ".nodes[].evidence.unproduced // empty",
        ],
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, format!("{unserved}\n").as_str()), "{}", r.stderr);
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
