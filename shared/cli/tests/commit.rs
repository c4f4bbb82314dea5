//! The commit `--version` names (`build/commit.rs`, run by the build script): the checkout's
//! HEAD, `unknown` for sources without git (a tarball) or unpacked inside another repository,
//! and `KUBECTL_FLUX_COMMIT` first.

#[path = "../build/commit.rs"]
mod commit;

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .output()
        .expect("git must be installed");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    dir
}

#[test]
fn a_checkout_names_its_head() {
    let dir = repo();
    let head = git(dir.path(), &["rev-parse", "--short=7", "HEAD"]);
    assert_eq!(head.len(), 7);
    assert_eq!(commit::commit(dir.path(), None), head);
    // A new commit is seen: the build script reruns when one of these files changes.
    let watched = commit::watched(dir.path());
    let canonical = |p: &Path| p.canonicalize().unwrap();
    let git_dir = canonical(&dir.path().join(".git"));
    for f in ["HEAD", "logs/HEAD", "refs/heads/main"] {
        assert!(watched.iter().any(|w| canonical(w) == git_dir.join(f)), "{f} not watched: {watched:?}");
    }
    std::fs::write(dir.path().join("README"), "x\n").unwrap();
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "second"]);
    let next = git(dir.path(), &["rev-parse", "--short=7", "HEAD"]);
    assert_ne!(next, head);
    assert_eq!(commit::commit(dir.path(), None), next);
}

#[test]
fn sources_without_git_say_unknown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
    assert_eq!(commit::commit(dir.path(), None), "unknown");
    assert_eq!(commit::watched(dir.path()), Vec::<std::path::PathBuf>::new());
    assert_eq!(commit::commit(dir.path(), Some(String::new())), "unknown");
}

#[test]
fn sources_unpacked_inside_another_repository_say_unknown() {
    let dir = repo();
    let inner = dir.path().join("vendor/kubectl-flux");
    std::fs::create_dir_all(&inner).unwrap();
    assert_eq!(commit::commit(&inner, None), "unknown");
    assert!(commit::watched(&inner).is_empty());
}

#[test]
fn the_environment_wins() {
    let dir = repo();
    assert_eq!(commit::commit(dir.path(), Some("0123abc\n".to_string())), "0123abc");
}
