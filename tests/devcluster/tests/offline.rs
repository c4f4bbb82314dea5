//! The parts of devcluster that need no cluster: reading kubectl-shaped files and counting
//! requests in an audit log.

use devcluster::{audit, load};
use std::path::Path;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn reads_multi_document_yaml_json_lists_and_directories() {
    let objects = load::read_paths(&[fixtures().join("scenario")]).unwrap();
    let mut got: Vec<String> = objects.iter().map(|o| format!("{} {}/{}", o.kind, o.namespace, o.name)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "ConfigMap shop/web-config",
            "Deployment shop/web",
            "Event shop/web-5d4f8c7b9-x2k4q.1",
            "GitRepository flux-system/shop",
            "Kustomization flux-system/shop",
            "Namespace /flux-system",
            "Namespace /shop",
            "Pod shop/web-5d4f8c7b9-x2k4q",
            "ReplicaSet shop/web-5d4f8c7b9",
        ]
    );
    let event = objects.iter().find(|o| o.kind == "Event").unwrap();
    assert!(event.file.ends_with("scenario/events.json"));
    assert!(event.to_string().ends_with("events.json: Event shop/web-5d4f8c7b9-x2k4q.1"), "{event}");
}

#[test]
fn a_malformed_file_is_named() {
    let err = load::read_paths(&[fixtures().join("bad/malformed.yaml")]).unwrap_err();
    assert!(format!("{err:#}").contains("bad/malformed.yaml: malformed YAML"), "{err:#}");
    let tmp = tempfile::tempdir().unwrap();
    let nameless = tmp.path().join("nameless.yaml");
    std::fs::write(&nameless, "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n").unwrap();
    let err = load::read_paths(&[nameless]).unwrap_err();
    assert!(
        format!("{err:#}").contains("nameless.yaml: an object without apiVersion, kind or metadata.name"),
        "{err:#}"
    );
}

#[test]
fn counts_only_the_admins_completed_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let entry = |stage: &str, user: &str, verb: &str, object: &str, uri: &str| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","stage":"{stage}","requestURI":"{uri}","verb":"{verb}","user":{{"username":"{user}","groups":["system:masters"]}}{object}}}"#
        )
    };
    let ks = r#","objectRef":{"resource":"kustomizations","namespace":"flux-system","apiGroup":"kustomize.toolkit.fluxcd.io","apiVersion":"v1"}"#;
    let status =
        r#","objectRef":{"resource":"pods","namespace":"shop","name":"p","apiVersion":"v1","subresource":"status"}"#;
    let lines = [
        entry(
            "ResponseComplete",
            "admin",
            "list",
            ks,
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations",
        ),
        entry(
            "ResponseComplete",
            "admin",
            "list",
            ks,
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations?limit=500",
        ),
        entry(
            "ResponseStarted",
            "admin",
            "watch",
            ks,
            "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations?watch=1",
        ),
        entry("ResponseComplete", "admin", "patch", status, "/api/v1/namespaces/shop/pods/p/status"),
        entry("ResponseComplete", "admin", "get", "", "/apis?timeout=32s"),
        entry(
            "ResponseComplete",
            "devcluster-components",
            "list",
            ks,
            "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
        ),
        entry("ResponseComplete", "system:apiserver", "get", "", "/readyz"),
        "not json".to_string(),
    ];
    std::fs::write(tmp.path().join("audit.log"), lines.join("\n")).unwrap();
    let counts: Vec<(String, String, String, u64)> =
        audit::requests(tmp.path()).unwrap().into_iter().map(|c| (c.verb, c.resource, c.namespace, c.count)).collect();
    let s = |v: &str, r: &str, n: &str, c: u64| (v.to_string(), r.to_string(), n.to_string(), c);
    assert_eq!(
        counts,
        [
            s("get", "/apis", "", 1),
            s("list", "kustomize.toolkit.fluxcd.io/kustomizations", "flux-system", 2),
            s("patch", "pods/status", "shop", 1),
        ]
    );
    // The API server rotates audit.log every 100 MB: the rotated files count too.
    std::fs::write(tmp.path().join("audit-2026-11-25T10-00-00.000.log"), &lines[1]).unwrap();
    let counts = audit::requests(tmp.path()).unwrap();
    let lists = counts.iter().find(|c| c.verb == "list").map(|c| c.count);
    assert_eq!(lists, Some(3));
}
