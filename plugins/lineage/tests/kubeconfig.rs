//! The kubeconfig is resolved exactly as kubectl resolves it, against a real API server
//! (devcluster): several files in KUBECONFIG, --context, an exec credential plugin, a bearer
//! token with --server and --certificate-authority, impersonation with --as; and a user who may
//! not list Secrets gets a partial answer that says what is missing.

use devcluster::{Cluster, Options, build};
use kubectl_flux_testkit::{example, run, run_with};
use std::path::Path;
use std::process::Command;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"))
}

fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    let out = Command::new(build::bin_dir().unwrap().join("kubectl"))
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `key: value` of the admin kubeconfig devcluster wrote.
fn field(kubeconfig: &str, key: &str) -> String {
    kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("{key} missing"))
        .to_string()
}

#[test]
fn kubeconfig_is_resolved_like_kubectl() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::up(&tmp.path().join("cluster"), &Options::default()).unwrap();
    let scenario = example("missing-storageclass");
    let loaded = devcluster::load_files(&cluster.kubeconfig, &[scenario.clone().into()]).unwrap();
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let args = ["--why", "ks/userapp", "-n", "flux-system"];
    let expected = run(bin(), &[&args[..], &["-f", &scenario]].concat()).stdout;
    let admin = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    let (server, ca, cert, key) = (
        field(&admin, "server"),
        field(&admin, "certificate-authority-data"),
        field(&admin, "client-certificate-data"),
        field(&admin, "client-key-data"),
    );
    let dir = tmp.path();

    // Two files in KUBECONFIG: the first names the current context, the second defines it.
    let first = dir.join("first.yaml");
    std::fs::write(&first, "apiVersion: v1\nkind: Config\ncurrent-context: devcluster\nclusters:\n- name: nowhere\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: nobody\n  user: {}\ncontexts:\n- name: nowhere\n  context: {cluster: nowhere, user: nobody}\n").unwrap();
    let second = dir.join("second.yaml");
    std::fs::write(&second, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: devcluster\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: devcluster\n  context: {{cluster: devcluster, user: admin}}\n")).unwrap();
    let merged = format!("{}:{}", first.display(), second.display());
    let r = run_with(bin(), &args, &[("KUBECONFIG", &merged)]);
    assert_eq!((r.code, r.stdout.as_str()), (0, expected.as_str()), "{}", r.stderr);

    // --context picks another context of the merged files; that one is unreachable: exit 1,
    // the error names the call, within --request-timeout.
    let r = run_with(
        bin(),
        &[&args[..], &["--context", "nowhere", "--request-timeout", "2s"]].concat(),
        &[("KUBECONFIG", &merged)],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("error: flux-lineage: GET /apis (discovery): "), "{}", r.stderr);

    // An exec credential plugin (a small script) returning the client certificate.
    let plugin = dir.join("credential-plugin.sh");
    let pem = |b64: &str| String::from_utf8(kubectl_flux_testkit_decode(b64)).unwrap().replace('\n', "\\n");
    std::fs::write(&plugin, format!("#!/bin/sh\nprintf '%s' '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"clientCertificateData\":\"{}\",\"clientKeyData\":\"{}\"}}}}'\n", pem(&cert), pem(&key))).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exec = dir.join("exec.yaml");
    std::fs::write(&exec, format!("apiVersion: v1\nkind: Config\ncurrent-context: exec\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: e\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\ncontexts:\n- name: exec\n  context: {{cluster: c, user: e}}\n", plugin.display())).unwrap();
    let r = run(bin(), &[&args[..], &["--kubeconfig", &exec.display().to_string()]].concat());
    assert_eq!((r.code, r.stdout.as_str()), (0, expected.as_str()), "{}", r.stderr);

    // A bearer token for a ServiceAccount that may only view: Secrets are forbidden, so the
    // answer is partial and says so; the token never appears.
    kubectl(&cluster, &["create", "serviceaccount", "viewer", "-n", "default"]);
    // Everything lineage reads, except Secrets.
    let readable = [
        "namespaces",
        "configmaps",
        "services",
        "serviceaccounts",
        "pods",
        "persistentvolumeclaims",
        "persistentvolumes",
        "events",
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "jobs.batch",
        "cronjobs.batch",
        "storageclasses.storage.k8s.io",
        "ingresses.networking.k8s.io",
        "gitrepositories.source.toolkit.fluxcd.io",
        "ocirepositories.source.toolkit.fluxcd.io",
        "buckets.source.toolkit.fluxcd.io",
        "helmrepositories.source.toolkit.fluxcd.io",
        "helmcharts.source.toolkit.fluxcd.io",
        "externalartifacts.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
        "providers.notification.toolkit.fluxcd.io",
        "alerts.notification.toolkit.fluxcd.io",
        "receivers.notification.toolkit.fluxcd.io",
        "imagerepositories.image.toolkit.fluxcd.io",
        "imagepolicies.image.toolkit.fluxcd.io",
        "imageupdateautomations.image.toolkit.fluxcd.io",
    ]
    .join(",");
    kubectl(
        &cluster,
        &[
            "create",
            "clusterrole",
            "flux-reader-no-secrets",
            "--verb=get,list,watch",
            &format!("--resource={readable}"),
        ],
    );
    kubectl(
        &cluster,
        &[
            "create",
            "clusterrolebinding",
            "viewer",
            "--clusterrole=flux-reader-no-secrets",
            "--serviceaccount=default:viewer",
        ],
    );
    let token = kubectl(&cluster, &["create", "token", "viewer", "-n", "default", "--duration=1h"]).trim().to_string();
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, kubectl_flux_testkit_decode(&ca)).unwrap();
    let r = run_with(
        bin(),
        &[
            &args[..],
            &["--server", &server, "--certificate-authority", &ca_file.display().to_string(), "--token", &token],
        ]
        .concat(),
        &[("KUBECONFIG", "/nonexistent/kubeconfig")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("note: forbidden to list core/v1 secrets")
            && r.stderr.contains("the answer lacks every Secret object"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("StorageClass fast-ssd NotFound"), "the rest of the answer is there: {}", r.stdout);
    assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token));

    // Impersonation: the admin acting as the ServiceAccount gets the same partial answer.
    let r = run(
        bin(),
        &[
            &args[..],
            &[
                "--kubeconfig",
                &cluster.kubeconfig.display().to_string(),
                "--as",
                "system:serviceaccount:default:viewer",
            ],
        ]
        .concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("forbidden to list core/v1 secrets"), "{}", r.stderr);
    drop(cluster);
}

fn kubectl_flux_testkit_decode(b64: &str) -> Vec<u8> {
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in b64.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let v = table.iter().position(|t| *t == c).expect("base64") as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

/// A kubeconfig readable by everyone (0644, as many are) is read and used, never rewritten or
/// re-permissioned: same bytes, same mode, same modification time.
#[test]
fn a_loose_kubeconfig_is_read_but_never_rewritten() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config");
    let text = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: kubectl-flux-loose-kubeconfig-token\n";
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    let r = kubectl_flux_testkit::run_bounded(
        bin(),
        &["--cycles", "--kubeconfig", path.to_str().unwrap(), "--request-timeout", "2s"],
        std::time::Duration::from_secs(30),
    );
    assert_eq!(r.code, 1, "it was used: the cluster it names is unreachable: {}", r.stderr);
    assert!(!r.stderr.contains("kubectl-flux-loose-kubeconfig-token"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    assert_eq!(meta.modified().unwrap(), before);
}
