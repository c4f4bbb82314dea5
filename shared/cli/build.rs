//! Stamps the commit and the target into every plugin's `--version`:
//! `kubectl-flux_lineage 0.1.0 (commit abc1234, x86_64-unknown-linux-gnu)`.

#[path = "build/commit.rs"]
mod commit;

use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string());
    let root = Path::new(&manifest_dir).join("../..");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/commit.rs");
    println!("cargo:rerun-if-env-changed=KUBECTL_FLUX_COMMIT");
    for path in commit::watched(&root) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let commit = commit::commit(&root, std::env::var("KUBECTL_FLUX_COMMIT").ok());
    println!("cargo:rustc-env=KUBECTL_FLUX_COMMIT={commit}");
    println!("cargo:rustc-env=KUBECTL_FLUX_TARGET={}", std::env::var("TARGET").unwrap_or_default());
}
