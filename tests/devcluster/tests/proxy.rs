//! The fault proxy (`up --proxy`): every fault kind observed by a real client (the kubectl
//! devcluster builds), identities forwarded as they came, requests counted, and the command-line
//! form (`devcluster fault`) with a proxy process that `down` stops.

mod common;

use common::*;
use devcluster::proxy::{Fault, FaultKind};
use devcluster::{Cluster, Options};
use std::process::{Command, Stdio};
use std::time::Duration;

fn fault(kind: FaultKind, verb: Option<&str>, resource: Option<&str>, times: Option<u32>) -> Fault {
    Fault { kind, verb: verb.map(str::to_string), resource: resource.map(str::to_string), times }
}

fn proxied() -> (tempfile::TempDir, Cluster) {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::up(&tmp.path().join("c"), &Options { proxy: true, ..Default::default() }).unwrap();
    (tmp, cluster)
}

#[test]
fn every_fault_kind_is_observed_by_a_real_client() {
    let (tmp, cluster) = proxied();
    let (kc, cache) = (cluster.kubeconfig.as_path(), tmp.path().join("cache"));
    let proxy = cluster.faults().unwrap();
    assert_ne!(cluster.server, cluster.api_server, "the kubeconfig points at the proxy");
    assert_eq!(proxy.server, cluster.server);

    // No fault: requests pass, with the admin identity of the kubeconfig's client certificate.
    let (code, out, err) = kubectl(kc, &cache, &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert_eq!((code, out.as_str()), (0, "admin"), "{err}");

    // 429 with Retry-After, twice: client-go waits as told and the third attempt succeeds.
    proxy
        .add(&fault(FaultKind::Status { code: 429, retry_after: Some(1) }, None, Some("namespaces"), Some(2)))
        .unwrap();
    let (code, out, err) = kubectl(kc, &cache, &["get", "ns", "default", "-o", "name", "-v=6"]);
    assert_eq!((code, out.as_str()), (0, "namespace/default\n"), "{err}");
    assert_eq!(err.matches("status=\"429 Too Many Requests\"").count(), 2, "{err}");
    assert_eq!(err.matches("Got a Retry-After response").count(), 2, "{err}");
    assert!(proxy.faults().unwrap().is_empty(), "a rule with `times` is gone once used up");

    // 500: surfaced as the server's error.
    proxy
        .add(&fault(FaultKind::Status { code: 500, retry_after: None }, Some("list"), Some("configmaps"), Some(1)))
        .unwrap();
    let (code, _, err) = kubectl(kc, &cache, &["get", "configmaps", "-A"]);
    assert_eq!(code, 1);
    assert!(err.contains("Error from server (InternalError)") && err.contains("devcluster fault proxy: 500"), "{err}");
    assert_eq!(kubectl(kc, &cache, &["get", "configmaps", "-A"]).0, 0, "the fault was used up");

    // 403 for one resource only, until cleared.
    proxy.add(&fault(FaultKind::Status { code: 403, retry_after: None }, None, Some("secrets"), None)).unwrap();
    let (code, _, err) = kubectl(kc, &cache, &["get", "secrets", "-A"]);
    assert_eq!(code, 1);
    assert!(err.contains("Error from server (Forbidden): secrets is forbidden"), "{err}");
    assert_eq!(kubectl(kc, &cache, &["get", "configmaps", "-A"]).0, 0, "other resources still answer");
    assert_eq!(kubectl(kc, &cache, &["get", "secrets", "-A"]).0, 1, "still forbidden");
    proxy.clear().unwrap();
    assert_eq!(kubectl(kc, &cache, &["get", "secrets", "-A"]).0, 0, "cleared");

    // Latency beyond the client's timeout.
    proxy.add(&fault(FaultKind::Latency { ms: 3000 }, Some("get"), Some("namespaces"), Some(1))).unwrap();
    let (code, _, err) = kubectl(kc, &cache, &["get", "ns", "default", "--request-timeout=1s"]);
    assert_eq!(code, 1);
    assert!(err.contains("Client.Timeout exceeded") || err.contains("context deadline exceeded"), "{err}");

    // Connection reset on a create (not retried by the client: it is not idempotent).
    proxy.add(&fault(FaultKind::Reset, Some("create"), Some("configmaps"), Some(1))).unwrap();
    let (code, _, err) = kubectl(kc, &cache, &["create", "configmap", "reset-me", "-n", "default"]);
    assert_eq!(code, 1);
    assert!(err.contains("EOF") || err.contains("connection reset"), "{err}");
    let (code, out, err) = kubectl(kc, &cache, &["create", "configmap", "reset-me", "-n", "default"]);
    assert_eq!((code, out.as_str()), (0, "configmap/reset-me created\n"), "{err}");

    // A dropped watch: the stream ends under the client, which exits long before its own timeout.
    let mut watch = Command::new(kubectl_bin())
        .args(["get", "configmaps", "-n", "default", "--watch", "--request-timeout=60s", "-o", "name"])
        .arg(format!("--cache-dir={}", cache.display()))
        .env("KUBECONFIG", kc)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut open = 0;
    eventually("an open watch", Duration::from_secs(20), || {
        open = proxy.requests().unwrap().iter().filter(|c| c.verb == "watch").map(|c| c.count).sum();
        (open == 0).then(|| "no watch yet".to_string())
    });
    assert_eq!(proxy.drop_watches().unwrap(), 1);
    eventually("kubectl --watch to end", Duration::from_secs(20), || match watch.try_wait().unwrap() {
        Some(_) => None,
        None => Some("still watching".into()),
    });
    let out = watch.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("configmap/reset-me"));

    // The proxy counted everything it forwarded or answered, by verb and resource.
    let counts = proxy.requests().unwrap();
    let count = |verb: &str, resource: &str| {
        counts.iter().filter(|c| c.verb == verb && c.resource == resource).map(|c| c.count).sum::<u64>()
    };
    assert_eq!(count("create", "configmaps"), 2);
    assert_eq!(count("watch", "configmaps"), 1);
    assert_eq!(count("get", "namespaces"), 4, "{counts:?}");
}

#[test]
fn a_bearer_token_is_forwarded_as_its_own_identity() {
    let (tmp, cluster) = proxied();
    let (kc, cache) = (cluster.kubeconfig.as_path(), tmp.path().join("cache"));
    assert_eq!(kubectl(kc, &cache, &["create", "serviceaccount", "reader", "-n", "default"]).0, 0);
    let (code, token, err) = kubectl(kc, &cache, &["create", "token", "reader", "-n", "default"]);
    assert_eq!(code, 0, "{err}");
    let token = format!("--token={}", token.trim());
    let whoami = ["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", token.as_str()];
    let (code, out, err) = kubectl(kc, &cache, &whoami);
    assert_eq!((code, out.as_str()), (0, "system:serviceaccount:default:reader"), "{err}");
    // RBAC applies to the token's identity, not the proxy's.
    let (code, _, err) = kubectl(kc, &cache, &["get", "secrets", "-n", "default", token.as_str()]);
    assert_eq!(code, 1);
    assert!(err.contains("system:serviceaccount:default:reader\" cannot list resource \"secrets\""), "{err}");
    // The kubeconfig that bypasses the proxy reaches the API server itself.
    let direct = cluster.dir.join("direct.kubeconfig");
    let (code, out, _) =
        kubectl(&direct, &cache, &["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]);
    assert_eq!((code, out.as_str()), (0, cluster.api_server.as_str()));
}

#[test]
fn the_command_line_switches_faults_and_down_stops_the_proxy_process() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = CliCluster::up(tmp.path().join("c"), &["--proxy"]);
    let (kc, cache, dir) = (cluster.kubeconfig(), tmp.path().join("cache"), cluster.dir.to_str().unwrap().to_string());
    let run = |args: &[&str]| {
        let mut all = vec!["fault", "--dir", dir.as_str()];
        all.extend_from_slice(args);
        let out = devcluster(&all);
        assert!(out.status.success(), "devcluster {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["status", "--code", "403", "--resource", "configmaps", "--verb", "list"]);
    let listed: serde_json::Value = serde_json::from_str(&run(&["list"])).unwrap();
    assert_eq!(listed, serde_json::json!([{"fault": "status", "code": 403, "verb": "list", "resource": "configmaps"}]));
    assert_eq!(kubectl(&kc, &cache, &["get", "configmaps", "-A"]).0, 1);
    run(&["clear"]);
    assert_eq!(kubectl(&kc, &cache, &["get", "configmaps", "-A"]).0, 0);
    let requests: serde_json::Value = serde_json::from_str(&run(&["requests"])).unwrap();
    let lists = requests.as_array().unwrap().iter().find(|c| c["verb"] == "list" && c["resource"] == "configmaps");
    assert_eq!(lists.unwrap()["count"], 2);
    // An unknown fault is refused by clap with exit 2.
    assert_eq!(devcluster(&["fault", "--dir", &dir, "explode"]).status.code(), Some(2));

    let pids = pids(&cluster.dir);
    assert_eq!(pids.len(), 3, "etcd, kube-apiserver and the proxy");
    let out = devcluster(&["down", "--dir", &dir]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(pids.iter().all(|p| !alive(*p)), "down stopped the proxy too");
}
