//! `devcluster gen`: deterministic, with the promised shape at 10,000 apps, loadable.

mod common;

use devcluster::scale::{EVENTS_PER_APP, LOG_LINES_PER_APP, generate};

#[test]
fn the_same_seed_writes_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    generate(200, 10, 7, &a).unwrap();
    generate(200, 10, 7, &b).unwrap();
    generate(200, 10, 8, &c).unwrap();
    let read = |d: &std::path::Path| std::fs::read(d.join("snapshot.json")).unwrap();
    assert_eq!(read(&a), read(&b));
    assert_ne!(read(&a), read(&c));
    let doc: serde_json::Value = serde_json::from_slice(&read(&a)).expect("one valid JSON List");
    assert_eq!(doc["kind"], "List");
}

#[test]
fn ten_thousand_apps_have_the_promised_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let counts = generate(10_000, 200, 1, tmp.path()).unwrap();
    assert_eq!(counts.events, 10_000 * EVENTS_PER_APP);
    assert_eq!(counts.log_lines, 10_000 * LOG_LINES_PER_APP);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("snapshot.json")).unwrap()).unwrap();
    let items = doc["items"].as_array().unwrap();
    let count = |kind: &str| items.iter().filter(|i| i["kind"] == kind).count();
    assert_eq!(count("Kustomization"), 10_000);
    assert_eq!(count("HelmRelease"), 1_000);
    let sources: usize = ["GitRepository", "OCIRepository", "HelmRepository", "Bucket"].iter().map(|k| count(k)).sum();
    assert_eq!(sources, 2_000);
    let managed =
        items.iter().filter(|i| i.pointer("/metadata/labels/kustomize.toolkit.fluxcd.io~1name").is_some()).count();
    assert_eq!(managed, 80_000, "8 inventory objects per app carry Flux labels");
    assert_eq!(count("Pod") + count("ReplicaSet"), 30_000, "plus owned ReplicaSets and Pods: 110,000 managed objects");
    assert_eq!(count("Namespace"), 201);
}

/// A generated scenario is something the real API server accepts, every object of it: the live
/// half of the benchmarks loads one. 300 apps hold more Services than a /24 service range and
/// ReplicaSets the apps/v1 validation must pass.
#[test]
fn a_generated_scenario_loads_into_a_real_cluster_without_a_refusal() {
    use devcluster::{Cluster, Options};
    let tmp = tempfile::tempdir().unwrap();
    let counts = generate(300, 6, 1, &tmp.path().join("scenario")).unwrap();
    let cluster = Cluster::up(&tmp.path().join("c"), &Options::default()).unwrap();
    let snapshot = tmp.path().join("scenario/snapshot.json");
    let loaded = devcluster::load_files(&cluster.dir.join("components.kubeconfig"), &[snapshot]).unwrap();
    assert_eq!(loaded.errors, Vec::<String>::new());
    assert_eq!(loaded.applied, counts.objects);
    // Seen by an independent client, with the status the snapshot gave them.
    let (kc, cache) = (cluster.kubeconfig.as_path(), tmp.path().join("cache"));
    // Services: the apps' and default/kubernetes. Events: the generated ones are about
    // Kustomizations; the cluster's own components may record others (once: a 6,001st).
    for (kind, n) in [("services", 301), ("replicasets", 300), ("kustomizations", 300), ("events", counts.events)] {
        let mut args = vec!["get", kind, "-A", "--no-headers", "-o", "name"];
        if kind == "events" {
            args.extend(["--field-selector", "involvedObject.kind=Kustomization"]);
        }
        let (code, out, err) = common::kubectl(kc, &cache, &args);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), n, "{kind}");
    }
    let (_, out, _) = common::kubectl(
        kc,
        &cache,
        &["get", "ks", "app-00250", "-n", "tenant-005", "-o", "jsonpath={.status.conditions[0].reason}"],
    );
    assert_eq!(out, "HealthCheckFailed");
}
