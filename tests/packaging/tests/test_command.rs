//! The README's test command (`scripts/test`) names every missing tool in its first second,
//! before anything builds, and otherwise runs every test of the workspace.

use kubectl_flux_testkit::root;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output};

/// A PATH holding only the named tools; `cargo` records its arguments instead of building.
fn bin_with(dir: &Path, tools: &[&str]) {
    for tool in ["bash", "id", "dirname"] {
        let real = which(tool);
        symlink(real, dir.join(tool)).unwrap();
    }
    let truth = which("true");
    for tool in tools {
        if *tool == "cargo" {
            let cargo = dir.join("cargo");
            std::fs::write(&cargo, "#!/bin/bash\necho \"$@\" > \"$CARGO_ARGS\"\n").unwrap();
            std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        } else {
            symlink(&truth, dir.join(tool)).unwrap();
        }
    }
}

fn which(tool: &str) -> String {
    let out = Command::new("bash").args(["-c", &format!("type -P {tool}")]).output().unwrap();
    assert!(out.status.success(), "{tool} must exist on this machine");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn run(tools: &[&str], args: &[&str]) -> (Output, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    bin_with(dir.path(), tools);
    let recorded = dir.path().join("cargo-args");
    let out = Command::new(which("bash"))
        .arg(root().join("scripts/test"))
        .args(args)
        .env_clear()
        .env("PATH", dir.path())
        .env("CARGO_ARGS", &recorded)
        .output()
        .unwrap();
    (out, std::fs::read_to_string(&recorded).ok())
}

#[test]
fn a_missing_tool_is_named_before_anything_builds() {
    // No graphviz, no Go, and no apt-get to install graphviz with.
    let (out, cargo) = run(&["jq", "git", "script", "python3", "npm", "zip", "unzip", "cargo"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "scripts/test: 'go' is missing: the live tests build a local Kubernetes and Flux from Go \
         modules; install Go 1.26 or newer (https://go.dev/dl)\n\
         scripts/test: 'dot' is missing: install the 'graphviz' package, e.g. apt-get \
         install graphviz\n"
    );
    assert_eq!(cargo, None, "cargo ran although a tool was missing");
}

#[test]
fn with_every_tool_it_runs_every_test_of_the_workspace() {
    let (out, cargo) =
        run(&["jq", "git", "script", "dot", "python3", "npm", "zip", "unzip", "go", "cargo"], &["-p", "x"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cargo.as_deref(), Some("test --workspace --locked --no-fail-fast -p x\n"));
}

#[test]
fn the_readme_and_ci_call_it() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks: Vec<&str> = readme.split("```sh\n").skip(1).take(2).collect();
    assert_eq!(blocks[1].split("\n```").next(), Some("scripts/test"));
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert_eq!(ci.lines().last(), Some("scripts/test"));
}
