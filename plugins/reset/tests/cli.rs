//! flux-reset's command line: the scope must be said, writes need a terminal or --yes (exit 2
//! before anything is read), -f only plans, and the backup is a valid `-f` input elsewhere.

use kubectl_flux_testkit::{Run, example, run};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"))
}

fn reset(args: &[&str]) -> Run {
    run(bin(), args)
}

#[test]
fn the_scope_must_be_said() {
    let f = example("corrupted-state");
    let cases: &[(&[&str], &str)] = &[
        (
            &["plan"],
            "error: flux-reset: say what to reset: -n NAMESPACE[,NAMESPACE...] or --all for the whole cluster\n",
        ),
        (&["plan", "-A"], "error: flux-reset: -A would reset every Flux object of the cluster: say so with --all\n"),
        (&["plan", "-n", "shop", "--all"], "error: flux-reset: use either -n NAMESPACE or --all, not both\n"),
        (&["plan", "--all", "--kind", "deploy"], "error: flux-reset: --kind \"deploy\" is not a Flux kind\n"),
        (
            &["plan", "--all", "--kind", "externalartifact"],
            "error: flux-reset: ExternalArtifacts cannot be reset: they have no spec.suspend and their generator rewrites them\n",
        ),
        (
            &["plan", "--all", "-o", "wide"],
            "error: flux-reset: --output \"wide\" is not supported here; use one of: table, json, yaml\n",
        ),
    ];
    for (args, stderr) in cases {
        let mut all = args.to_vec();
        all.extend(["-f", &f]);
        let r = reset(&all);
        assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (2, "", *stderr), "{args:?}");
    }
}

#[test]
fn writes_without_a_terminal_need_yes() {
    // stdin is not a terminal here: refused before any connection is attempted (the kubeconfig
    // does not even exist).
    let backup = example("corrupted-state");
    for (args, what) in [
        (&["run", "--all"][..], "reset"),
        (&["resume", "--dir", "/nonexistent"][..], "resume a reset"),
        (&["restore", "--from", backup.as_str()][..], "restore"),
    ] {
        let mut all = args.to_vec();
        all.extend(["--kubeconfig", "/nonexistent/kubeconfig"]);
        let r = reset(&all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr,
            format!(
                "error: flux-reset: refusing to {what} without confirmation: standard input is not a terminal; pass --yes to confirm non-interactively\n"
            )
        );
        assert_eq!(r.stdout, "");
    }
}

#[test]
fn only_plan_reads_snapshots() {
    let f = example("corrupted-state");
    for sub in ["run", "resume", "verify"] {
        let r = reset(&[sub, "--all", "--yes", "-f", &f]);
        assert_eq!(r.code, 2, "{sub}");
        assert!(r.stderr.contains("only `plan` works offline"), "{}", r.stderr);
    }
}

#[test]
fn resume_and_verify_need_a_reset_directory() {
    let r = reset(&["resume", "--yes"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (2, "error: flux-reset: resume needs --dir DIR, the directory of the reset to continue\n")
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let r = reset(&["resume", "--yes", "--dir", &d]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with(&format!("error: flux-reset: {d}/journal.jsonl: No such file")), "{}", r.stderr);
    let r = reset(&["verify"]);
    assert_eq!(r.code, 2);
}

#[test]
fn completion_and_help() {
    let r = reset(&["--completion", "bash"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("kubectl flux-reset") || r.stdout.contains("kubectl-flux_reset"));
    let r = reset(&["__complete", "--fin"]);
    assert_eq!(r.stdout, "--finalizer-wait\n:4\n");
    let r = reset(&["--help"]);
    assert!(r.stdout.contains("Exit codes: 0 reset complete and verified"), "{}", r.stdout);
    // The crash hook is the tests' own: users never read about it.
    assert!(!r.stdout.contains("KUBECTL_FLUX_RESET_CRASH_AFTER"), "{}", r.stdout);
}

/// Run as a Flux CLI plugin (`flux reset` runs `$FLUXCD_PLUGINS/flux-reset`), the usage of
/// every subcommand and the examples name `flux reset`.
#[test]
fn as_a_flux_plugin_help_names_flux_reset() {
    let dir = tempfile::tempdir().unwrap();
    let flux = dir.path().join("flux-reset");
    std::os::unix::fs::symlink(bin(), &flux).unwrap();
    let r = run(&flux, &["--help"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\nUsage: flux reset [OPTIONS] [COMMAND]\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\n  flux reset plan --all -f flux-state-backup.yaml\n"), "{}", r.stdout);
    assert!(!r.stdout.contains("kubectl flux-reset"), "{}", r.stdout);
    let r = run(&flux, &["plan", "--help"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\nUsage: flux reset plan [OPTIONS]\n"), "{}", r.stdout);
    assert!(!r.stdout.contains("kubectl flux-reset"), "{}", r.stdout);
    let r = run(&flux, &["resume"]);
    assert_eq!(r, reset(&["resume"]));
}

/// A corrupt backup is exit 2 naming the file, before any prompt or connection (the kubeconfig
/// does not exist, and stdin is no terminal: either would be the error otherwise).
#[test]
fn a_corrupt_backup_is_named_before_anything_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("backup.json");
    std::fs::write(&corrupt, br#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "kustomize.toolkit"#)
        .unwrap();
    let file = corrupt.display().to_string();
    for args in [
        &["restore", "--from", file.as_str()][..],
        &["restore", "--yes", "--from", file.as_str()],
        &["verify", "--from", file.as_str()],
    ] {
        let mut all = args.to_vec();
        all.extend(["--kubeconfig", "/nonexistent/kubeconfig"]);
        let r = reset(&all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with(&format!("error: flux-reset: {file}: ")), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("confirmation") && !r.stderr.contains("kubeconfig"), "{}", r.stderr);
    }
}
