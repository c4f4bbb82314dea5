//! flux-events against a real API server (devcluster) serving the incident scenarios: Events
//! keep their timestamps when loaded, so the live timeline equals the offline one.

use kubectl_flux_testkit::{assert_live_equals_offline, cluster_with, run};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_events"))
}

#[test]
fn live_timeline_equals_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = ["missing-storageclass", "guilty-tenant"];
    let cluster = cluster_with(tmp.path(), &scenarios);
    let cases: &[&[&str]] =
        &[&["--related"], &["--type", "Warning", "-o", "json"], &["--for", "ks/userapp", "-n", "flux-system"]];
    assert_live_equals_offline(bin(), &cluster, &scenarios, cases);
    let kubeconfig = cluster.kubeconfig.display().to_string();
    // Without controllers there are no controller Pods: --logs says so instead of failing.
    let r = run(bin(), &["--logs", "--kubeconfig", &kubeconfig, "-o", "json", "--jq", ".entries | length"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    drop(cluster);
}

/// Reads lines of a child's stdout on a thread, so a test can wait for them with a deadline.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next(rx: &std::sync::mpsc::Receiver<String>) -> serde_json::Value {
    let line = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("a watched entry within 30s");
    serde_json::from_str(&line).expect("one JSON object per line")
}

#[test]
fn watch_streams_new_and_changed_events_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = cluster_with(tmp.path(), &["missing-storageclass"]);
    let mut child = std::process::Command::new(bin())
        .args(["--watch", "-o", "json", "--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    // The current timeline first: the four Events about Flux objects in the scenario.
    let mut reasons: Vec<String> = (0..4).map(|_| next(&rx)["reason"].as_str().unwrap().to_string()).collect();
    reasons.sort();
    assert_eq!(reasons, ["HealthCheckFailed", "NewArtifact", "Progressing", "ReconciliationSucceeded"]);

    let kubectl = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut c = std::process::Command::new(devcluster::build::bin_dir().unwrap().join("kubectl"))
            .args(args)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if let Some(s) = stdin {
            c.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        drop(c.stdin.take());
        assert!(c.wait().unwrap().success(), "kubectl {args:?}");
    };
    let event = |name: &str, kind: &str, api: &str, obj: &str, reason: &str, count: u32| {
        let component = if kind == "Pod" { "kubelet" } else { "kustomize-controller" };
        format!(
            "apiVersion: v1\nkind: Event\nmetadata: {{name: {name}, namespace: flux-system}}\ninvolvedObject: {{apiVersion: {api}, kind: {kind}, name: {obj}, namespace: flux-system}}\nreason: {reason}\nmessage: \"kustomization path not found: stat /tmp/kustomization-123/deploy: no such file or directory\"\ntype: Warning\ncount: {count}\nfirstTimestamp: \"2026-11-20T10:31:00Z\"\nlastTimestamp: \"2026-11-20T10:3{count}:00Z\"\nsource: {{component: {component}}}\n"
        )
    };
    // A new Event about a Flux object arrives once, classified.
    kubectl(
        &["apply", "-f", "-"],
        Some(&event(
            "userapp.new",
            "Kustomization",
            "kustomize.toolkit.fluxcd.io/v1",
            "userapp",
            "ReconciliationFailed",
            1,
        )),
    );
    let e = next(&rx);
    assert_eq!(
        (e["reason"].as_str(), e["class"].as_str(), e["count"].as_u64()),
        (Some("ReconciliationFailed"), Some("not-found"), Some(1))
    );
    // An Event about something that is not Flux's is not shown; the next change of ours is.
    kubectl(&["apply", "-f", "-"], Some(&event("pod.other", "Pod", "v1", "web", "BackOff", 1)));
    kubectl(
        &["apply", "-f", "-"],
        Some(&event(
            "userapp.new",
            "Kustomization",
            "kustomize.toolkit.fluxcd.io/v1",
            "userapp",
            "ReconciliationFailed",
            2,
        )),
    );
    let e = next(&rx);
    assert_eq!(
        (e["reason"].as_str(), e["count"].as_u64(), e["lastSeen"].as_str()),
        (Some("ReconciliationFailed"), Some(2), Some("2026-11-20T10:32:00Z"))
    );
    // Nothing else, nothing repeated.
    assert!(
        rx.recv_timeout(std::time::Duration::from_secs(3)).is_err(),
        "an entry was repeated or a foreign one shown"
    );
    child.kill().unwrap();
    let _ = child.wait();
    drop(cluster);
}
