//! Golden outputs of flux-lineage on the bundled incident snapshots, in every format.
//! `UPDATE_GOLDEN=1 cargo test -p kubectl-flux-lineage --test golden` rewrites them.

use kubectl_flux_testkit::{assert_golden, example, root, run};
use std::path::{Path, PathBuf};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"))
}

fn dir() -> PathBuf {
    root().join("plugins/lineage/tests/golden")
}

/// Runs one case on a scenario and compares it with its golden file.
fn case(scenario: &str, name: &str, args: &[&str], code: i32) {
    let file = example(scenario);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-f", &file]);
    let r = run(bin(), &all);
    assert_eq!(r.code, code, "{scenario}/{name}: {}", r.stderr);
    assert_golden(&dir().join(scenario), name, &r);
}

const USERAPP: &[&str] = &["kustomization/userapp", "-n", "flux-system"];

#[test]
fn missing_storageclass_every_format() {
    for format in ["tree", "table", "wide", "json", "yaml", "name", "tsv", "dot", "mermaid"] {
        let mut args = USERAPP.to_vec();
        args.extend(["-o", format]);
        case("missing-storageclass", &format!("userapp.{format}"), &args, 0);
    }
}

#[test]
fn missing_storageclass_root_cause() {
    case("missing-storageclass", "why", &["--why", "ks/userapp", "-n", "flux-system"], 0);
    case("missing-storageclass", "why.json", &["--why", "ks/userapp", "-n", "flux-system", "-o", "json"], 0);
    case(
        "missing-storageclass",
        "why-fail-on-missing",
        &["--why", "ks/userapp", "-n", "flux-system", "--fail-on", "missing"],
        3,
    );
    case("missing-storageclass", "why-pod", &["--why", "pod/userdb-0", "-n", "userapp"], 0);
}

#[test]
fn missing_storageclass_from_any_object() {
    case("missing-storageclass", "storageclass", &["sc/fast-ssd"], 0);
    case("missing-storageclass", "pod-upstream", &["pod", "userapp-7d9f8b6c5-x2k4q", "-n", "userapp", "--upstream"], 0);
    case("missing-storageclass", "statefulset-downstream", &["sts/userdb", "-n", "userapp", "--downstream"], 0);
    case("missing-storageclass", "gitrepo-depth-1", &["gitrepo/apps", "-n", "flux-system", "--depth", "1"], 0);
    case("missing-storageclass", "cycles", &["--cycles", "--fail-on", "cycle"], 0);
}

/// Source -> ArtifactGenerator -> ExternalArtifact -> Kustomization (source-watcher): a missing
/// ExternalArtifact names the generator that should produce it and why it has not, or says that
/// no generator names it; the generator's tree shows what it reads and generates.
#[test]
fn artifact_generator_chains() {
    let s = "artifact-generator";
    case(s, "why-apps", &["--why", "ks/apps", "-n", "flux-system"], 0);
    case(s, "why-apps.json", &["--why", "ks/apps", "-n", "flux-system", "-o", "json"], 0);
    case(s, "why-monitoring", &["--why", "ks/monitoring", "-n", "flux-system"], 0);
    case(s, "generator", &["ag/platform", "-n", "flux-system"], 0);
    case(s, "cycles", &["--cycles", "--fail-on", "cycle"], 0);
}

/// The flux-operator: FluxInstance -> its sync Kustomization -> ResourceSetInputProvider ->
/// ResourceSet -> the GitRepositories and Kustomizations it generated per pull request.
#[test]
fn flux_operator_chains() {
    let s = "flux-operator";
    case(s, "why-podinfo-102", &["--why", "ks/podinfo-102", "-n", "apps"], 0);
    case(s, "resourceset", &["rset/previews", "-n", "apps"], 0);
    case(s, "resourceset.json", &["rset/previews", "-n", "apps", "-o", "json", "--depth", "1"], 0);
    case(s, "instance", &["fluxinstance/flux", "-n", "flux-system", "--downstream", "--depth", "2"], 0);
    case(s, "cycles", &["--cycles", "--fail-on", "cycle"], 0);
}

#[test]
fn dot_output_renders_with_graphviz() {
    let file = example("missing-storageclass");
    let r = run(bin(), &["ks/userapp", "-n", "flux-system", "-o", "dot", "-f", &file]);
    assert_eq!(r.code, 0);
    let svg = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(r.stdout.as_bytes())?;
            child.wait_with_output()
        })
        .expect("graphviz's dot must be installed (scripts/test installs it)");
    assert!(svg.status.success(), "dot rejected the output: {}", String::from_utf8_lossy(&svg.stderr));
    let svg = String::from_utf8_lossy(&svg.stdout);
    assert!(svg.contains("<svg") && svg.contains("fast&#45;ssd"), "rendered graph lacks the missing StorageClass");
}

#[test]
fn cycle_scenario_finds_both_loops_and_no_false_ones() {
    case("cycle", "cycles", &["--cycles"], 0);
    case("cycle", "cycles.json", &["--cycles", "-o", "json"], 0);
    case("cycle", "cycles.table", &["--cycles", "-o", "wide"], 0);
    case("cycle", "cycles-fail-on", &["--cycles", "--fail-on", "cycle"], 3);
    case("cycle", "cycles-selector", &["--cycles", "-l", "kustomize.toolkit.fluxcd.io/name=monitoring-stack"], 0);
    case("cycle", "why-helmrelease", &["--why", "hr/kube-prometheus-stack", "-n", "monitoring"], 0);
    case("cycle", "monitoring-config.dot", &["ks/monitoring-config", "-n", "flux-system", "-o", "dot"], 0);
    case("cycle", "healthy-chain", &["ks/apps", "-n", "flux-system", "--fail-on", "failed"], 0);
}

/// An offline fleet: --cycles per cluster, one section per cluster in tree form, a CLUSTER
/// column first in tsv, the clusters' documents grouped in json.
#[test]
fn fleet_of_snapshots_cycles_per_cluster() {
    let (cycle, demo) = (example("cycle"), example("demo"));
    for (name, format, code) in [
        ("cycles-tree", "tree", 3),
        ("cycles-table", "table", 3),
        ("cycles-wide", "wide", 3),
        ("cycles-tsv", "tsv", 3),
        ("cycles-json", "json", 3),
        ("cycles-yaml", "yaml", 3),
    ] {
        let args =
            ["--cycles", "--fail-on", "cycle", "-o", format, "--cluster-from-dir", &cycle, "--cluster-from-dir", &demo];
        let r = run(bin(), &args);
        assert_eq!(r.code, code, "{name}: {}", r.stderr);
        assert_golden(&dir().join("fleet"), name, &r);
    }
}

/// An offline fleet asked about one object: every format of the tree and of `--why`, each
/// cluster's answer a value until it is printed (yaml once printed `null` per cluster).
#[test]
fn fleet_of_snapshots_in_every_format() {
    let msc = example("missing-storageclass");
    let (a, b) = (format!("a={msc}"), format!("b={msc}"));
    let fleet = ["--cluster-from-dir", a.as_str(), "--cluster-from-dir", b.as_str(), "-n", "flux-system"];
    for format in ["tree", "table", "wide", "json", "yaml", "name", "tsv", "dot", "mermaid"] {
        let mut args = vec!["ks/userapp", "-o", format];
        args.extend(fleet);
        let r = run(bin(), &args);
        assert_eq!(r.code, 0, "{format}: {}", r.stderr);
        assert_golden(&dir().join("fleet"), &format!("userapp-{format}"), &r);
    }
    for format in ["tree", "json", "yaml"] {
        let mut args = vec!["--why", "ks/userapp", "-o", format, "--fail-on", "missing"];
        args.extend(fleet);
        let r = run(bin(), &args);
        assert_eq!(r.code, 3, "{format}: {}", r.stderr);
        assert_golden(&dir().join("fleet"), &format!("why-{format}"), &r);
    }
}
