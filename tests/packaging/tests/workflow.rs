//! The GitHub Actions workflows (`.github/workflows/`, the release workflow among them) pass
//! actionlint, built from its pinned Go module by devcluster (versions.toml `[actionlint]`,
//! tests/devcluster/go-actionlint; seconds when cached, about half a minute of CPU the first
//! time). And the lint is real: a copy of the release workflow with mistakes fails it.
//!
//! actionlint's external linters (shellcheck and pyflakes on `run:` scripts) are switched off:
//! whether they run would depend on what the machine has on PATH, not on the repository. With
//! shellcheck installed, `actionlint .github/workflows/*.yml` by hand checks the scripts too.

use kubectl_flux_testkit::root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The actionlint binary of the pinned version, built if missing.
fn actionlint() -> PathBuf {
    devcluster::build::build_actionlint(true).expect("building actionlint from its Go module (is Go installed?)")
}

/// Every workflow file, sorted.
fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

/// actionlint on `files`, run in `dir` (where it looks for the repository's config).
fn lint(dir: &Path, files: &[PathBuf]) -> Output {
    Command::new(actionlint())
        .args(["-no-color", "-oneline", "-shellcheck=", "-pyflakes="])
        .args(files)
        .current_dir(dir)
        .output()
        .expect("run actionlint")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn every_workflow_passes_actionlint() {
    let files = workflows();
    assert!(files.iter().any(|f| f.ends_with("release.yml")), "no .github/workflows/release.yml among {files:?}");
    let out = lint(&root(), &files);
    assert_eq!(out.status.code(), Some(0), "actionlint {files:?}:\n{}", text(&out));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "actionlint printed:\n{}", text(&out));
}

#[test]
fn actionlint_fails_a_release_workflow_with_mistakes() {
    let release = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(".github/workflows");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("release.yml");

    // The copy as it is passes where it now lies: what fails below is the mistakes.
    std::fs::write(&file, &release).unwrap();
    let out = lint(tmp.path(), std::slice::from_ref(&file));
    assert_eq!(out.status.code(), Some(0), "the intact copy:\n{}", text(&out));

    // A job that needs one that does not exist, and a runner label GitHub does not have.
    let broken = release.replacen("needs: build", "needs: buidl", 1).replacen("windows-11-arm", "windows-11-armm", 1);
    assert_ne!(broken, release, "the mistakes are made in the copy");
    std::fs::write(&file, &broken).unwrap();
    let out = lint(tmp.path(), std::slice::from_ref(&file));
    let said = text(&out);
    // 1: problems found (2 and 3 would be actionlint failing to run).
    assert_eq!(out.status.code(), Some(1), "the broken copy:\n{said}");
    assert!(said.contains("release.yml"), "{said}");
    assert!(said.contains("\"buidl\"") && said.contains("[job-needs]"), "{said}");
    assert!(said.contains("\"windows-11-armm\" is unknown") && said.contains("[runner-label]"), "{said}");
}
