//! The name a user types to confirm a reset is the cluster the reset writes to, however the
//! kubeconfig is given: a `KUBECONFIG` list whose first file sets another current context,
//! `--context`, and `--server` (which sends the requests away from the context's own server,
//! so the context's name would name the wrong cluster). Run on a terminal (script(1) gives the
//! plugin a pty) against a real API server; a wrong answer changes nothing.

use kubectl_flux_testkit::cluster_with;
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"))
}

/// Runs the plugin on a pty with `answer` typed at its prompt; everything the terminal showed.
fn on_terminal(args: &[&str], kubeconfig_list: &str, answer: &str) -> (i32, String) {
    let cmdline = format!("{} {}", bin().display(), args.join(" "));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("KUBECONFIG", kubeconfig_list)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(format!("{answer}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    (out.status.code().unwrap_or(-1), text)
}

/// Whether anything in `shop` was suspended (the reset's first write).
fn suspended_anything(kubeconfig: &Path) -> bool {
    let out = std::process::Command::new(devcluster::build::build(false).unwrap().join("kubectl"))
        .args(["--kubeconfig", &kubeconfig.display().to_string(), "get", "kustomizations,helmreleases", "-A", "-o"])
        .arg("jsonpath={.items[*].spec.suspend}")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("true")
}

#[test]
fn the_prompt_names_the_cluster_the_reset_writes_to() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = cluster_with(tmp.path(), &["corrupted-state"]);
    let real = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    let server = real.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string();
    // A first kubeconfig file whose current context is a decoy: another cluster (nothing
    // listens there) with the same credentials. Its entries win over the second file's.
    let decoy = real
        .replace(&server, "https://127.0.0.1:9")
        .replace("- name: devcluster\n  cluster:", "- name: decoy-cluster\n  cluster:")
        .replace(
            "- name: devcluster\n  context:\n    cluster: devcluster",
            "- name: decoy\n  context:\n    cluster: decoy-cluster",
        )
        .replace("current-context: devcluster", "current-context: decoy");
    assert!(decoy.contains("current-context: decoy") && decoy.contains("decoy-cluster"), "{decoy}");
    let decoy_path = tmp.path().join("decoy.kubeconfig");
    std::fs::write(&decoy_path, decoy).unwrap();
    let list = format!("{}:{}", decoy_path.display(), cluster.kubeconfig.display());
    let dir = tmp.path().join("reset");
    let dir = dir.display().to_string();

    // --context picks the real cluster out of the list: its name is asked for.
    let (code, shown) =
        on_terminal(&["run", "-n", "shop,flux-system", "--context", "devcluster", "--dir", &dir], &list, "decoy");
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("on context devcluster (https://127.0.0.1:"), "{shown}");
    assert!(shown.contains("Type the context name (devcluster) to continue"), "{shown}");
    assert!(
        shown.contains("confirmation \"decoy\" is not the context name \"devcluster\": nothing was changed"),
        "{shown}"
    );

    // --server sends the decoy context's requests to the real cluster: the context's name would
    // confirm a write to a cluster it does not name, so the server's address is asked for.
    let (code, shown) =
        on_terminal(&["run", "-n", "shop,flux-system", "--server", &server, "--dir", &dir], &list, "decoy");
    assert_eq!(code, 2, "{shown}");
    let server = server.trim_end_matches('/');
    assert!(shown.contains(&format!("on server {server} (--server; credentials of context decoy)")), "{shown}");
    assert!(shown.contains(&format!("Type the context name ({server}) to continue")), "{shown}");
    assert!(!suspended_anything(&cluster.kubeconfig), "a refused confirmation changes nothing");

    // Without either, the list's first current context is the one written to, and it does not
    // answer: the reset stops before asking anything.
    let (code, shown) =
        on_terminal(&["run", "-n", "shop,flux-system", "--request-timeout", "2s", "--dir", &dir], &list, "decoy");
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("https://127.0.0.1:9: "), "{shown}");
    assert!(!shown.contains("Type the context name"), "{shown}");
    assert!(!suspended_anything(&cluster.kubeconfig));
}
