//! Which commit a build comes from, for `--version`: shared by `build.rs` and its test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The build's commit: `KUBECTL_FLUX_COMMIT` when set (a release workflow that builds from an
/// export), else the short hash of `HEAD` of the git checkout whose top level is `root`, else
/// `unknown` (a source tarball, or no git on the machine). A checkout that merely contains
/// `root` (the sources unpacked inside another repository) is not ours: `unknown` too.
pub fn commit(root: &Path, from_env: Option<String>) -> String {
    if let Some(c) = from_env.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()) {
        return c;
    }
    if !is_top_level(root) {
        return "unknown".to_string();
    }
    git(root, &["rev-parse", "--short=7", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
}

/// The files whose change means another commit: HEAD, its reflog (written on every commit,
/// checkout and reset of this checkout), the branch's loose ref and packed-refs. Only those
/// that exist: cargo reruns a build script on every build while a watched file is missing.
pub fn watched(root: &Path) -> Vec<PathBuf> {
    if !is_top_level(root) {
        return Vec::new();
    }
    let mut paths = vec!["HEAD".to_string(), "logs/HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    paths
        .iter()
        .filter_map(|p| git(root, &["rev-parse", "--git-path", p]))
        .map(|p| root.join(p))
        .filter(|p| p.is_file())
        .collect()
}

fn is_top_level(root: &Path) -> bool {
    let top = git(root, &["rev-parse", "--show-toplevel"]);
    match (top.map(PathBuf::from).and_then(|t| t.canonicalize().ok()), root.canonicalize().ok()) {
        (Some(top), Some(root)) => top == root,
        _ => false,
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
