//! flux-events on the incident snapshots and a saved controller log: golden timelines, filters,
//! deduplication, --since edges, stuck detection, and the same answer live (devcluster).

use kubectl_flux_testkit::{Run, assert_golden, example, root, run};
use std::path::{Path, PathBuf};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_events"))
}

fn dir() -> PathBuf {
    root().join("plugins/events/tests/golden")
}

fn log_file() -> String {
    root().join("examples/logs/kustomize-controller.log").display().to_string()
}

fn events(scenario: &str, args: &[&str]) -> Run {
    let f = example(scenario);
    let mut all = args.to_vec();
    all.extend(["-f", f.as_str()]);
    run(bin(), &all)
}

#[test]
fn golden_timelines() {
    let log = log_file();
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("missing-storageclass", "related-with-logs", vec!["--related", "--logs-file", &log]),
        (
            "missing-storageclass",
            "for-userapp.wide",
            vec!["--for", "ks/userapp", "-n", "flux-system", "--logs-file", &log, "-o", "wide"],
        ),
        ("missing-storageclass", "json", vec!["--related", "--logs-file", &log, "-o", "json"]),
        ("guilty-tenant", "warnings", vec!["--type", "Warning"]),
        ("rate-limit", "tsv", vec!["-o", "tsv", "--since", "5m"]),
        ("cycle", "dependency", vec!["--reason", "DependencyNotReady"]),
    ];
    for (scenario, name, args) in cases {
        let r = events(scenario, &args);
        assert_eq!(r.code, 0, "{scenario}/{name}: {}", r.stderr);
        assert_golden(&dir().join(scenario), name, &r);
    }
}

#[test]
fn entries_are_ordered_by_true_time_and_classified() {
    let r = events(
        "missing-storageclass",
        &["--related", "--logs-file", &log_file(), "--jq", ".entries[] | [.lastSeen, .class] | @tsv"],
    );
    let times: Vec<&str> = r.stdout.lines().map(|l| l.split('\t').next().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "timeline not in time order");
    assert!(
        r.stdout.contains("\tconflict\n")
            && r.stdout.contains("\tnot-found\n")
            && r.stdout.contains("\thealth-check\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn duplicates_merge_with_counts_and_first_last_seen() {
    // Three identical "Reconciler error" lines become one entry x3 spanning 10:05 to 10:25.
    let r = events(
        "missing-storageclass",
        &[
            "--logs-file",
            &log_file(),
            "--grep",
            "Operation cannot be fulfilled",
            "--jq",
            ".entries[] | [.count, .firstSeen, .lastSeen] | @tsv",
        ],
    );
    assert_eq!(r.stdout, "3\t2026-11-20T10:05:01Z\t2026-11-20T10:25:01Z\n");
    // The same log file twice doubles the counts, not the entries.
    let f = example("missing-storageclass");
    let log = log_file();
    let twice = run(
        bin(),
        &["-f", &f, "--logs-file", &log, "--logs-file", &log, "--grep", "Operation cannot", "--jq", ".entries[].count"],
    );
    assert_eq!(twice.stdout, "6\n");
}

#[test]
fn since_keeps_entries_at_the_boundary() {
    // "now" is 10:30:00; the PVC's warning was last seen at 10:29:40, the userdb-0 one at 10:25:11.
    let count = |since: &str| {
        let r = events("missing-storageclass", &["--related", "--since", since, "--jq", ".entries | length"]);
        r.stdout.trim().to_string()
    };
    assert_eq!(count("20s"), "3", "10:29:40 is exactly 20s ago and stays");
    assert_eq!(count("19s"), "2");
    assert_eq!(count("4m49s"), "4");
    assert_eq!(count("4m48s"), "3");
}

#[test]
fn filters_narrow_the_timeline() {
    let r = events("guilty-tenant", &["--tenant", "team-x", "--jq", "[.entries[].object.namespace] | unique"]);
    assert_eq!(r.stdout, "[\"team-x\"]\n");
    // A tenant of `flux create tenant` is its Namespaces' label: with and without --related.
    for related in [&[][..], &["--related"]] {
        let mut args =
            vec!["--tenant", "sre-team", "--jq", "[.entries[].object | .kind + \" \" + .namespace] | unique"];
        args.extend(related);
        let r = events("multi-tenancy", &args);
        assert_eq!(r.stdout, "[\"HelmRelease envoy-gateway-system\"]\n", "{related:?}: {}", r.stderr);
        let r = events("multi-tenancy", &[&["--tenant", "apps", "--jq", ".entries | length"][..], related].concat());
        assert_eq!(r.stdout, "0\n", "{related:?}: the namespace is no longer the tenant");
    }
    let r = events("guilty-tenant", &["--type", "Normal", "--jq", "[.entries[].type] | unique"]);
    assert_eq!(r.stdout, "[\"Normal\"]\n");
    let r = events("rate-limit", &["--grep", "status code: 429", "--jq", "[.entries[].class] | unique"]);
    assert_eq!(r.stdout, "[\"rate-limit\"]\n");
    let r = events("guilty-tenant", &["--grep", "(unclosed"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--grep \"(unclosed\""), "{}", r.stderr);
    assert_eq!(events("guilty-tenant", &["--type", "Error"]).code, 2);
    assert_eq!(events("guilty-tenant", &["--for", "userapp"]).code, 2);
}

#[test]
fn stuck_objects_are_named_with_the_reason() {
    let r =
        events("missing-storageclass", &["--logs-file", &log_file(), "--jq", ".stuck[] | [.object, .reason] | @tsv"]);
    assert_eq!(
        r.stdout,
        "Kustomization flux-system/userapp\ta reconcile took 5m1.01s (over 300s: resource contention)\nKustomization flux-system/userapp\tno successful reconcile for 49m (5x its interval of 10m0s)\n"
    );
    let r = events("missing-storageclass", &["--stuck-factor", "10", "--jq", ".stuck | length"]);
    assert_eq!(r.stdout, "0\n");
}

#[test]
fn a_missing_log_file_exits_1() {
    let r = events("missing-storageclass", &["--logs-file", "/nonexistent/kustomize-controller.log"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("cannot read /nonexistent/kustomize-controller.log"), "{}", r.stderr);
}

/// An offline fleet: the clusters' timelines merged in time order, each entry and stuck object
/// named with its cluster; json groups each cluster's own timeline and adds the merged one.
#[test]
fn fleet_of_snapshots_merges_timelines() {
    let (msc, demo) = (example("missing-storageclass"), example("demo"));
    for (name, format) in [
        ("table", vec!["--type", "Warning"]),
        ("wide", vec!["-o", "wide", "--type", "Warning"]),
        ("json", vec!["-o", "json", "--type", "Warning"]),
        ("yaml", vec!["-o", "yaml", "--type", "Warning"]),
        ("tsv", vec!["-o", "tsv", "--type", "Warning"]),
    ] {
        let mut args = vec!["--cluster-from-dir", msc.as_str(), "--cluster-from-dir", demo.as_str()];
        args.extend(format);
        let r = run(bin(), &args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("fleet"), name, &r);
    }
}
