//! flux-tenants on the bundled snapshots and on small generated ones: golden outputs, ranking,
//! tenants by namespace, unknown artifact sizes, budget gates.

use kubectl_flux_testkit::{Run, assert_golden, example, root, run};
use std::path::{Path, PathBuf};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_tenants"))
}

fn dir() -> PathBuf {
    root().join("plugins/tenants/tests/golden")
}

fn tenants(file: &str, args: &[&str]) -> Run {
    let mut all = args.to_vec();
    all.extend(["-f", file]);
    run(bin(), &all)
}

#[test]
fn guilty_tenant_golden_in_every_format() {
    let f = example("guilty-tenant");
    for (name, args) in [
        ("table", vec![]),
        ("wide", vec!["-o", "wide"]),
        ("json", vec!["-o", "json"]),
        ("yaml", vec!["-o", "yaml"]),
        ("tsv", vec!["-o", "tsv"]),
        ("name", vec!["-o", "name"]),
    ] {
        let r = tenants(&f, &args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("guilty-tenant"), name, &r);
    }
}

#[test]
fn demo_golden() {
    let f = example("demo");
    for (name, args) in [("table", vec![]), ("json", vec!["-o", "json"])] {
        let r = tenants(&f, &args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("demo"), name, &r);
    }
}

/// `flux create tenant` labels Namespaces, not the tenant's Flux objects: sre-team owns two
/// namespaces and is one tenant; an object's own label wins over its Namespace's; findings name
/// the ServiceAccount an object applies as, and the one of another tenant.
#[test]
fn multi_tenancy_golden_with_tenants_from_namespace_labels() {
    let f = example("multi-tenancy");
    for (name, args) in [("table", vec![]), ("wide", vec!["-o", "wide"]), ("json", vec!["-o", "json"])] {
        let r = tenants(&f, &args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("multi-tenancy"), name, &r);
    }
    let r = tenants(&f, &["--jq", r#".tenants[] | select(.name == "sre-team") | .byKind, .serviceAccounts"#]);
    assert_eq!(
        r.stdout,
        "{\"HelmChart\":1,\"HelmRelease\":2,\"HelmRepository\":1,\"OCIRepository\":1}\n\
         [\"cert-manager/sre-team\",\"envoy-gateway-system/sre-team\"]\n"
    );
    // One namespace of a tenant still answers with the tenant's name.
    let r = tenants(&f, &["-n", "envoy-gateway-system", "-o", "name"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "tenant/sre-team\n"));
    // Another label: no Namespace carries it, so every namespace is its own tenant again.
    let r = tenants(&f, &["--tenant-label", "example.com/team", "-o", "name"]);
    assert_eq!(r.stdout, "tenant/apps\ntenant/envoy-gateway-system\ntenant/flux-system\ntenant/cert-manager\n");
    let r = tenants(&f, &["--jq", r#"[.findings[] | select(.object == "Kustomization apps/canary") | .message]"#]);
    assert_eq!(
        r.stdout,
        "[\"applies as ServiceAccount apps/dev-team of tenant dev-team: it acts with another tenant's permissions\",\
         \"uses GitRepository apps/dev-team of tenant dev-team (applies as ServiceAccount apps/dev-team)\"]\n"
    );
}

#[test]
fn the_guilty_tenant_comes_first_with_its_reason() {
    let f = example("guilty-tenant");
    let r = tenants(&f, &["-o", "tsv"]);
    assert_eq!(r.stdout.lines().next().unwrap().split('\t').next(), Some("team-x"));
    let r = tenants(&f, &["--jq", ".guilty.reason"]);
    assert_eq!(
        r.stdout,
        "team-x: 10s interval on the 600.0 GiB GitRepository team-x/big-mono = 210.9 TiB/h of fetches, 100% of all load\n"
    );
}

#[test]
fn budgets_gate_ci_with_exit_3() {
    let f = example("guilty-tenant");
    let r = tenants(&f, &["--min-interval", "1m", "--fail-on", "error"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stdout.contains("interval 10s is below the budget of 1m0s"));
    let r = tenants(
        &f,
        &[
            "--max-repo-size",
            "1GiB",
            "--fail-on",
            "error",
            "--jq",
            ".findings[] | select(.severity == \"error\") | .object",
        ],
    );
    assert_eq!((r.code, r.stdout.as_str()), (3, "GitRepository team-x/big-mono\n"));
    let r = tenants(
        &f,
        &[
            "--max-fetch-rate",
            "1GiB",
            "--fail-on",
            "error",
            "--jq",
            "[.findings[] | select(.severity == \"error\") | .tenant] | unique",
        ],
    );
    assert_eq!((r.code, r.stdout.as_str()), (3, "[\"team-c\",\"team-x\"]\n"));
    // Within budget: no error findings, exit 0 even with --fail-on error; warnings gate too.
    assert_eq!(tenants(&f, &["--min-interval", "5s", "--fail-on", "error"]).code, 0);
    assert_eq!(tenants(&f, &["--fail-on", "warning"]).code, 3);
    // Bad budgets are usage errors.
    let r = tenants(&f, &["--max-repo-size", "lots"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid size \"lots\""), "{}", r.stderr);
    let r = tenants(&f, &["--min-interval", "banana"]);
    assert_eq!(r.code, 2);
}

fn repo(ns: &str, name: &str, interval: &str, size: Option<u64>, tenant: Option<&str>) -> String {
    let labels = tenant.map(|t| format!("\n  labels: {{toolkit.fluxcd.io/tenant: {t}}}")).unwrap_or_default();
    let status =
        size.map(|s| format!("status:\n  artifact: {{revision: main@sha1:1, size: {s}}}\n")).unwrap_or_default();
    format!(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: {ns}{labels}\nspec:\n  interval: {interval}\n  url: https://example.com/{name}\n{status}"
    )
}

fn snapshot(docs: &[String]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.yaml");
    std::fs::write(&path, docs.concat()).unwrap();
    let p = path.display().to_string();
    (dir, p)
}

#[test]
fn ties_rank_by_name_and_tenants_default_to_namespaces() {
    let (_d, f) = snapshot(&[
        repo("zeta", "a", "1m", Some(1000), None),
        repo("alpha", "b", "1m", Some(1000), None),
        repo("mid", "c", "2m", Some(1000), None),
    ]);
    let r = tenants(&f, &["-o", "tsv"]);
    let order: Vec<&str> = r.stdout.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(order, ["alpha", "zeta", "mid"]);
}

#[test]
fn tenant_label_wins_over_namespace() {
    let (_d, f) =
        snapshot(&[repo("ns1", "a", "1m", Some(10), Some("blue")), repo("ns2", "b", "1m", Some(10), Some("blue"))]);
    assert_eq!(tenants(&f, &["-o", "name"]).stdout, "tenant/blue\n");
    assert_eq!(tenants(&f, &["-o", "name", "--tenant-label", "other"]).stdout, "tenant/ns1\ntenant/ns2\n");
}

#[test]
fn unknown_artifact_sizes_are_unknown_not_zero() {
    let (_d, f) = snapshot(&[repo("a", "sized", "1m", Some(1 << 20), None), repo("a", "unsized", "1m", None, None)]);
    let r = tenants(&f, &[]);
    assert!(r.stdout.contains("1.0 MiB (+1 unknown)"), "{}", r.stdout);
    assert!(r.stderr.contains("artifact size unknown") && r.stderr.contains("GitRepository a/unsized"), "{}", r.stderr);
    let r = tenants(&f, &["--jq", ".tenants[0].unknownArtifactSizes, (.notes | length)"]);
    assert_eq!(r.stdout, "1\n1\n");
}

#[test]
fn a_bad_interval_names_the_object() {
    let (_d, f) = snapshot(&[repo("a", "broken", "banana", Some(1), None)]);
    let r = tenants(&f, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("GitRepository a/broken: spec.interval: invalid duration \"banana\""), "{}", r.stderr);
}

/// An offline fleet: the tenants of several snapshots ranked together with their cluster, and a
/// cluster that cannot be read named in one summary line while the others answer.
#[test]
fn fleet_of_snapshots_golden() {
    let (guilty, demo) = (example("guilty-tenant"), example("demo"));
    let fleet = |extra: &[&str], format: &[&str]| {
        let mut args = vec!["--cluster-from-dir", guilty.as_str(), "--cluster-from-dir", demo.as_str()];
        args.extend(extra);
        args.extend(format);
        run(bin(), &args)
    };
    for (name, format) in [
        ("table", vec![]),
        ("wide", vec!["-o", "wide"]),
        ("json", vec!["-o", "json"]),
        ("yaml", vec!["-o", "yaml"]),
        ("tsv", vec!["-o", "tsv"]),
        ("name", vec!["-o", "name"]),
    ] {
        let r = fleet(&[], &format);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("fleet"), name, &r);
    }
    let r = fleet(&["--cluster-from-dir", "lost=/nonexistent/cluster"], &["-o", "name"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_golden(&dir().join("fleet"), "one-cluster-failed", &r);
    // Every cluster failed: exit 1, the summary says why.
    let r = run(bin(), &["--cluster-from-dir", "a=/nonexistent/a", "--cluster-from-dir", "b=/nonexistent/b"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("fleet: 0 of 2 clusters answered; failed: a (cannot read /nonexistent/a"),
        "{}",
        r.stderr
    );
    // Fleet flags that contradict each other are usage errors.
    let r = run(bin(), &["--cluster-from-dir", guilty.as_str(), "-f", demo.as_str()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}
