//! API faults through devcluster's fault proxy (the shared live source every plugin uses): 429
//! with Retry-After, 500 storms, connections cut without an answer, latency beyond
//! `--request-timeout`, a refused connection, a bad token, a CA that does not match. Each run is
//! bounded: retried within the timeout to the same answer, or a clear error with exit 1.

use devcluster::proxy::{Fault, FaultKind};
use kubectl_flux_testkit::{Run, cluster_with_options, run_bounded};
use std::path::Path;
use std::time::Duration;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"))
}

const WHY: &[&str] = &["--why", "ks/userapp", "-n", "flux-system"];
const KUSTOMIZATIONS: &str = "kustomize.toolkit.fluxcd.io/kustomizations";

fn fault(kind: FaultKind, verb: &str, resource: Option<&str>, times: Option<u32>) -> Fault {
    Fault { kind, verb: Some(verb.into()), resource: resource.map(str::to_string), times }
}

#[test]
fn faults_are_survived_within_the_timeout_or_end_in_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let options = devcluster::Options { proxy: true, ..Default::default() };
    let cluster = cluster_with_options(tmp.path(), &["missing-storageclass"], &options);
    let proxy = cluster.faults().unwrap();
    let kubeconfig = cluster.kubeconfig.display().to_string();
    let live = |extra: &[&str]| -> Run {
        let mut args = WHY.to_vec();
        args.extend(["--kubeconfig", kubeconfig.as_str()]);
        args.extend(extra);
        run_bounded(bin(), &args, Duration::from_secs(60))
    };
    let answer = live(&[]);
    assert_eq!(answer.code, 0, "{}", answer.stderr);
    assert!(answer.stdout.starts_with("Root cause:"), "{}", answer.stdout);
    let mut survived = 0;

    // Retried to the same answer: 429 with Retry-After, a 500 storm on every list, 503s,
    // connections cut without an answer.
    for (what, f) in [
        ("429 + Retry-After", fault(FaultKind::Status { code: 429, retry_after: Some(1) }, "list", None, Some(3))),
        (
            "500 on every list, 4 times",
            fault(FaultKind::Status { code: 500, retry_after: None }, "list", None, Some(4)),
        ),
        ("503 on discovery", fault(FaultKind::Status { code: 503, retry_after: None }, "get", Some("/apis"), Some(2))),
        ("connection reset", fault(FaultKind::Reset, "list", Some(KUSTOMIZATIONS), Some(2))),
    ] {
        proxy.add(&f).unwrap();
        let r = live(&[]);
        assert_eq!((r.code, &r.stdout), (0, &answer.stdout), "{what}: {}", r.stderr);
        assert!(proxy.faults().unwrap().is_empty(), "{what}: every fault was served");
        survived += 1;
    }

    // Latency beyond --request-timeout: a clear error naming the call, exit 1.
    proxy.add(&fault(FaultKind::Latency { ms: 8000 }, "list", Some(KUSTOMIZATIONS), None)).unwrap();
    let r = live(&["--request-timeout", "2s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("list kustomize.toolkit.fluxcd.io/v1 kustomizations"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    proxy.clear().unwrap();

    // A 500 that never ends: retried until the timeout, then the server's words.
    proxy.add(&fault(FaultKind::Status { code: 500, retry_after: None }, "list", Some(KUSTOMIZATIONS), None)).unwrap();
    let r = live(&["--request-timeout", "3s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("devcluster fault proxy: 500"), "{}", r.stderr);
    proxy.clear().unwrap();

    // Nothing listening: refused at once, named.
    let r = run_bounded(
        bin(),
        &[WHY, &["--server", "https://127.0.0.1:1", "--insecure-skip-tls-verify"]].concat(),
        Duration::from_secs(60),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("Connection refused") || r.stderr.contains("connection refused"), "{}", r.stderr);

    // A token the API server does not know (expired, revoked): 401, said as such; never printed.
    let token = "kubectl-flux-planted-token-5f1c9e";
    let r = live(&["--token", token]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("401") && r.stderr.contains("Unauthorized"), "{}", r.stderr);
    assert!(!r.stderr.contains(token) && !r.stdout.contains(token), "the token is never printed");

    // A CA that did not sign the server's certificate: a TLS error naming the certificate.
    let other = tmp.path().join("other-pki");
    devcluster::pki::generate(&other).unwrap();
    let ca = other.join("ca.crt").display().to_string();
    let r = live(&["--certificate-authority", &ca]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.to_lowercase().contains("certificate"), "{}", r.stderr);
    assert!(survived == 4);
}
