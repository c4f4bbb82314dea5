//! The release script builds reproducible archives and krew manifests whose sha256 is the
//! archive's; the committed manifests describe the same platforms, URIs, binaries and files.

use kubectl_flux_testkit::root;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn plugins() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn manifest(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn without_sha(mut m: Value) -> Value {
    for p in m["spec"]["platforms"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("sha256");
    }
    m
}

#[test]
fn release_archives_match_their_manifests() {
    let out = tempfile::tempdir().unwrap();
    // A target directory of its own: cargo test holds the workspace's build lock.
    let cache = std::env::var("CARGO_TARGET_DIR")
        .map(|d| format!("{d}-release"))
        .unwrap_or_else(|_| root().join("target/release-packaging").display().to_string());
    let status = Command::new("bash")
        .arg(root().join("scripts/release"))
        .args(["v0.1.0", &out.path().display().to_string()])
        .env("CARGO_TARGET_DIR", &cache)
        .status()
        .expect("run scripts/release");
    assert!(status.success(), "scripts/release failed");
    for name in plugins() {
        let generated = manifest(&out.path().join(format!("flux-{name}.yaml")));
        assert_eq!(generated["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
        assert_eq!(generated["kind"], "Plugin");
        assert_eq!(generated["metadata"]["name"], format!("flux-{name}"));
        let platform = &generated["spec"]["platforms"][0];
        assert_eq!(platform["selector"]["matchLabels"]["os"], "linux");
        assert_eq!(platform["selector"]["matchLabels"]["arch"], "amd64");
        assert_eq!(platform["bin"], format!("kubectl-flux_{name}"));
        let archive = out.path().join(format!("kubectl-flux_{name}_v0.1.0_linux_amd64.tar.gz"));
        let bytes = std::fs::read(&archive).unwrap();
        let sha = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(platform["sha256"], sha, "manifest sha256 of flux-{name} is not its archive's");
        assert!(
            platform["uri"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/v0.1.0/kubectl-flux_{name}_v0.1.0_linux_amd64.tar.gz"))
        );
        let listing = Command::new("tar").arg("-tzf").arg(&archive).output().unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        for file in
            [format!("./kubectl-flux_{name}"), format!("./kubectl_complete-flux_{name}"), "./LICENSE".to_string()]
        {
            assert!(listing.lines().any(|l| l == file), "{file} missing from {}: {listing}", archive.display());
        }
        let committed = manifest(&root().join(format!("krew-manifests/flux-{name}.yaml")));
        assert_eq!(
            without_sha(committed.clone()),
            without_sha(generated),
            "krew-manifests/flux-{name}.yaml is stale: rerun scripts/release (RELEASING.md)"
        );
        let committed_sha = committed["spec"]["platforms"][0]["sha256"].as_str().unwrap().to_string();
        assert!(committed_sha.len() == 64 && committed_sha.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

#[test]
fn every_plugin_has_a_completion_hook_and_a_manifest() {
    for name in plugins() {
        let hook = root().join(format!("plugins/{name}/kubectl_complete-flux_{name}"));
        let text = std::fs::read_to_string(&hook).unwrap_or_else(|e| panic!("{}: {e}", hook.display()));
        assert!(text.contains(&format!("exec kubectl-flux_{name} __complete \"$@\"")));
        assert!(root().join(format!("krew-manifests/flux-{name}.yaml")).exists());
    }
}
