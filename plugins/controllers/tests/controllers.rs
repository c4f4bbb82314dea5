//! flux-controllers on the bundled overload incident (a snapshot and two sets of scrapes ten
//! minutes apart): golden outputs in every format, the verdicts, the shard plan at 500 apps,
//! hostile snapshots and hostile scrapes, fleets of snapshot directories.

use kubectl_flux_testkit::{Run, assert_golden, assert_refuses_hostile_input, example, root, run, run_bounded};
use std::path::{Path, PathBuf};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_controllers"))
}

fn dir() -> PathBuf {
    root().join("plugins/controllers/tests/golden")
}

fn scrapes(set: &str) -> String {
    root().join("examples/scrapes/controllers-overload").join(set).display().to_string()
}

/// The incident: snapshot, both scrape sets, ten minutes apart.
fn overload(args: &[&str]) -> Run {
    let (file, before, after) = (example("controllers-overload"), scrapes("before"), scrapes("after"));
    let mut all = vec![
        "-f",
        file.as_str(),
        "--metrics-file",
        before.as_str(),
        "--metrics-file",
        after.as_str(),
        "--sample",
        "10m",
    ];
    all.extend(args);
    run(bin(), &all)
}

#[test]
fn the_overload_incident_in_every_format() {
    for (name, args) in [
        ("table", vec![]),
        ("wide", vec!["-o", "wide"]),
        ("json", vec!["-o", "json"]),
        ("yaml", vec!["-o", "yaml"]),
        ("tsv", vec!["-o", "tsv"]),
        ("name", vec!["-o", "name"]),
    ] {
        let r = overload(&args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("controllers-overload"), name, &r);
    }
    let r = run(bin(), &["-o", "prometheus-rules", "--max-queue", "50"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_golden(&dir(), "prometheus-rules", &r);
}

/// The same incident on a cluster the flux-operator installed: each fix of the decision goes
/// through the FluxInstance (its size profile, its shards), as the operator re-applies its
/// Deployments over any edit; without the FluxInstance no step says so.
#[test]
fn fixes_go_through_the_flux_instance_that_installed_the_controllers() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cluster.yaml");
    let instance = "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata:\n  name: flux\n  namespace: flux-system\nspec:\n  distribution:\n    version: 2.7.x\n    registry: ghcr.io/fluxcd\n  cluster:\n    size: small\n";
    let text = std::fs::read_to_string(example("controllers-overload")).unwrap();
    std::fs::write(&file, format!("{text}\n---\n{instance}")).unwrap();
    let (before, after) = (scrapes("before"), scrapes("after"));
    let jq = r#".fluxInstance.size, (.decision[] | "\(.action): \(.through // "-")")"#;
    let args = ["--metrics-file", &before, "--metrics-file", &after, "--sample", "10m", "--jq", jq];
    let r = run(bin(), &[&["-f", file.to_str().unwrap()][..], &args].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_golden(&dir().join("controllers-overload"), "flux-instance-decision", &r);
    assert!(
        r.stdout.contains("memory: through FluxInstance flux-system/flux: spec.cluster.size medium (now small)"),
        "{}",
        r.stdout
    );
    let without = overload(&["--jq", r#"[.decision[] | .through] | map(select(. != null)) | length"#]);
    assert_eq!(without.stdout, "0\n", "{}", without.stderr);
}

/// Each verdict the incident was made to show, with the evidence that makes it; and the ones it
/// was made not to show.
#[test]
fn every_verdict_rests_on_its_evidence() {
    let r = overload(&["-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let verdicts: Vec<(String, String, String)> = doc["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["severity"].as_str().unwrap().into(),
                v["controller"].as_str().unwrap().into(),
                v["check"].as_str().unwrap().into(),
            )
        })
        .collect();
    let has = |severity: &str, controller: &str, check: &str| {
        verdicts.contains(&(severity.to_string(), controller.to_string(), check.to_string()))
    };
    assert!(has("critical", "helm-controller", "oom"), "{verdicts:?}");
    assert!(has("critical", "kustomize-controller", "queue"), "{verdicts:?}");
    assert!(has("critical", "kustomize-controller", "workers"), "{verdicts:?}");
    assert!(has("critical", "kustomize-controller", "reconcile-time"), "{verdicts:?}");
    assert!(has("critical", "kustomize-controller", "not-ready"), "{verdicts:?}");
    assert!(has("warning", "source-controller", "memory-growth"), "{verdicts:?}");
    assert!(has("warning", "helm-controller", "memory-limit"), "{verdicts:?}");
    assert!(has("warning", "helm-controller", "throttled"), "{verdicts:?}");
    assert!(has("warning", "kustomize-controller", "sharding"), "{verdicts:?}");
    assert!(!verdicts.iter().any(|v| v.1 == "notification-controller"), "a healthy controller has no verdict");
    // The workers are held by the objects made slow: team-c's, waiting on health checks.
    let workers = doc["verdicts"].as_array().unwrap().iter().find(|v| v["check"] == "workers").unwrap();
    let holders: Vec<&str> = workers["evidence"].as_array().unwrap().iter().filter_map(|e| e.as_str()).collect();
    assert!(holders.iter().filter(|e| e.contains("team-c/svc-")).count() == 4, "{holders:?}");
    // The decision puts memory first, then the leak, then shards.
    let actions: Vec<&str> =
        doc["decision"].as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["memory", "leak", "shard", "api-rate", "fix-objects"]);
    // --fail-on: criticals exit 3; a threshold above every figure leaves warnings only.
    assert_eq!(overload(&["--fail-on", "critical"]).code, 3);
    let calm = overload(&[
        "--fail-on",
        "critical",
        "--max-queue",
        "1000",
        "--max-reconcile",
        "1h",
        "--max-not-ready",
        "50",
        "--oom-within",
        "1h",
    ]);
    assert_eq!(calm.code, 3, "every worker is still held while items wait: {}", calm.stdout);
    // Without the first scrapes: rates since each process started, no growth.
    let (file, after) = (example("controllers-overload"), scrapes("after"));
    let r = run(bin(), &["-f", &file, "--metrics-file", &after, "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let source = doc["controllers"].as_array().unwrap().iter().find(|c| c["name"] == "source-controller").unwrap();
    assert_eq!(source["vitals"]["sampled"], false);
    assert!(source["vitals"]["memoryGrowthPerHour"].is_null());
}

/// The shard plan at 500 apps (devcluster's generator): two or more shards of whole namespaces,
/// every namespace in exactly one, the loads balanced within one namespace's worth.
#[test]
fn the_shard_plan_for_a_500_app_cluster() {
    let out = tempfile::tempdir().unwrap();
    devcluster::scale::generate(500, 20, 1, out.path()).unwrap();
    let dir = out.path().display().to_string();
    let r = run_bounded(bin(), &["-f", &dir, "-o", "json"], std::time::Duration::from_secs(120));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(doc["apps"].as_u64().unwrap() >= 500, "{}", doc["apps"]);
    let plan = doc["shardPlan"]["shards"].as_array().expect("500 apps call for shards");
    let keys: Vec<&str> = plan.iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["shard1", "shard2", "shard3", "shard4", ""], "the guide's 500+ band: 8 controllers");
    let mut namespaces: Vec<&str> =
        plan.iter().flat_map(|s| s["namespaces"].as_array().unwrap().iter().map(|n| n.as_str().unwrap())).collect();
    let total = namespaces.len();
    namespaces.sort();
    namespaces.dedup();
    assert_eq!(namespaces.len(), total, "each namespace on one shard");
    let loads: Vec<u64> = plan.iter().map(|s| s["objects"].as_u64().unwrap()).collect();
    let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
    assert!(max - min <= 60, "balanced: {loads:?}");
    assert!(plan[4]["watchLabelSelector"] == "sharding.fluxcd.io/key notin (shard1, shard2, shard3, shard4)");
    assert_eq!(
        doc["shardPlan"]["commands"].as_array().unwrap().len(),
        total - plan[4]["namespaces"].as_array().unwrap().len()
    );
}

#[test]
fn watch_refreshes_a_live_answer_only() {
    let file = example("controllers-overload");
    let r = run(bin(), &["--watch", "-f", &file]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: flux-controllers: --watch refreshes a live answer: one cluster, no -f or --metrics-file\n"
    );
    let r = run(bin(), &["-o", "prometheus-rules", "--jq", ".spec"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn hostile_snapshots_are_refused_cleanly() {
    assert!(assert_refuses_hostile_input(bin(), &[]) > 10);
}

/// Bad metrics text: a clear error naming the file (exit 2), or a partial answer with a note;
/// never a panic or a hang.
#[test]
fn hostile_scrapes_are_refused_or_read_in_part() {
    let tmp = tempfile::tempdir().unwrap();
    let file = example("controllers-overload");
    let pod = "kustomize-controller-7d9f8b6c4-x2k9p";
    let good = std::fs::read_to_string(Path::new(&scrapes("after")).join(format!("{pod}.prom"))).unwrap();
    let write = |name: &str, body: &[u8]| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(format!("{pod}.prom"));
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    // Refused, naming the file.
    let huge = tmp.path().join("huge").join(format!("{pod}.prom"));
    std::fs::create_dir_all(huge.parent().unwrap()).unwrap();
    std::fs::File::create(&huge).unwrap().set_len(100 << 20).unwrap();
    for path in [
        write("latin1", b"process_resident_memory_bytes 1\n\xe9t\xe9\n"),
        write("html", b"<html>403</html>"),
        huge.display().to_string(),
    ] {
        let r = run_bounded(bin(), &["-f", &file, "--metrics-file", &path], std::time::Duration::from_secs(30));
        assert_eq!(r.code, 2, "{path}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: flux-controllers: ") && r.stderr.contains(&path), "{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert_eq!(r.stdout, "");
    }
    // Read in part: cut mid-line, NaN and +Inf values, a series given twice.
    let cut = &good[..good.len() / 2];
    let odd = format!(
        "{good}workqueue_depth{{controller=\"kustomization\",name=\"kustomization\",priority=\"0\"}} 999\nprocess_resident_memory_bytes NaN\ngo_memstats_heap_inuse_bytes +Inf\n"
    );
    for (name, body) in [("cut", cut.to_string()), ("odd", odd)] {
        let path = write(name, body.as_bytes());
        let r = run_bounded(
            bin(),
            &["-f", &file, "--metrics-file", &path, "-o", "json"],
            std::time::Duration::from_secs(30),
        );
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let k = doc["controllers"].as_array().unwrap().iter().find(|c| c["name"] == "kustomize-controller").unwrap();
        if name == "odd" {
            // The later duplicate wins; a value that is not a number is dropped (the series keeps
            // the number it was given before), and said.
            assert_eq!(k["vitals"]["queueDepth"], 999.0);
            assert_eq!(k["vitals"]["memory"], 6.21e8);
            let notes = doc["notes"].as_array().unwrap();
            assert!(
                notes.iter().any(|n| n.as_str().unwrap().contains("2 samples whose value is not a finite number")),
                "{notes:?}"
            );
        } else {
            assert_eq!(k["vitals"]["scraped"], true);
        }
    }
}

/// Three clusters as snapshot directories (scrapes saved beside each), plus one that is not
/// there: the worst cluster first, every format, the lost one named.
#[test]
fn a_fleet_of_three_clusters_worst_first() {
    let tmp = tempfile::tempdir().unwrap();
    let member = |name: &str, with_scrapes: bool| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(example("controllers-overload"), d.join("cluster.yaml")).unwrap();
        if with_scrapes {
            for set in ["before", "after"] {
                let to = d.join("scrapes").join(set);
                std::fs::create_dir_all(&to).unwrap();
                for f in std::fs::read_dir(scrapes(set)).unwrap() {
                    let f = f.unwrap();
                    std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
                }
            }
        }
        format!("{name}={}", d.display())
    };
    let (unscraped, overloaded, demo) =
        (member("unscraped", false), member("overloaded", true), format!("demo={}", example("demo")));
    for format in ["table", "json", "tsv", "name"] {
        let r = run(
            bin(),
            &[
                "--cluster-from-dir",
                &unscraped,
                "--cluster-from-dir",
                &overloaded,
                "--cluster-from-dir",
                &demo,
                "--cluster-from-dir",
                "lost=/nonexistent/cluster",
                "--sample",
                "10m",
                "-o",
                format,
            ],
        );
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("fleet: 3 of 4 clusters answered; failed: lost (cannot read /nonexistent/cluster"),
            "{}",
            r.stderr
        );
        assert_golden(&dir().join("fleet"), format, &r);
        if format == "table" {
            let first = r.stdout.lines().next().unwrap();
            assert_eq!(first, "=== cluster overloaded", "worst first");
        }
        if format == "json" {
            let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(doc["worstFirst"][0], "overloaded");
            assert_eq!(doc["failed"][0]["cluster"], "lost");
        }
    }
}
