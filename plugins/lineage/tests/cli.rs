//! Command-line behaviour shared by every plugin, exercised through flux-lineage: exit codes,
//! malformed input, standard input, directories, colour rules, `--jq`, completion.

use kubectl_flux_testkit::{Run, root, run, run_stdin, run_with};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"))
}

fn fixture() -> String {
    root().join("plugins/lineage/tests/fixtures/small.yaml").display().to_string()
}

fn lineage(args: &[&str]) -> Run {
    run(bin(), args)
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let f = fixture();
    let r = lineage(&["ks/userapp", "-n", "flux-system", "-f", &f, "-o", "banana"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: flux-lineage: --output \"banana\" is not supported here; use one of: tree, table, wide, json, yaml, name, tsv, dot, mermaid\n"
    );
    let r = lineage(&["userapp", "-f", &f]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("give the object as KIND/NAME"), "{}", r.stderr);
    let r = lineage(&["banana/x", "-f", &f]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown kind \"banana\""), "{}", r.stderr);
    let r = lineage(&["--no-such-flag"]);
    assert_eq!(r.code, 2);
    let r = lineage(&["ks/userapp", "-f", &f, "-o", "dot", "--jq", "."]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--jq filters JSON"), "{}", r.stderr);
    let r = lineage(&["ks/userapp", "-n", "flux-system", "-f", &f, "-l", "a=b"]);
    assert_eq!(r.code, 2);
}

#[test]
fn a_missing_object_exits_1_and_names_it() {
    let r = lineage(&["ks/nope", "-n", "flux-system", "-f", &fixture()]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "error: flux-lineage: Kustomization flux-system/nope not found\n");
    assert_eq!(r.stdout, "");
}

#[test]
fn an_unreadable_file_exits_1() {
    let r = lineage(&["ks/userapp", "-f", "/nonexistent/snapshot.yaml"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: flux-lineage: cannot read /nonexistent/snapshot.yaml"), "{}", r.stderr);
}

fn write(dir: &Path, name: &str, body: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn malformed_input_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "truncated.json",
            b"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [",
            "line 1, column 47: invalid JSON: EOF while parsing a list",
        ),
        ("bad.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n", "invalid YAML"),
        (
            "nometa.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Pod\n",
            "line 5: Pod has no metadata",
        ),
        ("empty.yaml", b"", "empty file: no objects"),
        ("binary.yaml", b"\x00\xff\xfe garbage", "line 1: not UTF-8 text"),
        ("scalar.yaml", b"42\n", "expected a Kubernetes object or List, found a number"),
    ];
    for (name, body, message) in cases {
        let path = write(dir.path(), name, body);
        let r = lineage(&["--cycles", "-f", &path]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stderr.starts_with(&format!("error: flux-lineage: {path}: ")), "{name}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{name}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
    }
}

#[test]
fn alias_bombs_are_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let path = write(dir.path(), "bomb.yaml", bomb.as_bytes());
    let r = lineage(&["--cycles", "-f", &path]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("invalid YAML"), "{}", r.stderr);
}

#[test]
fn stdin_and_directories_are_snapshots_too() {
    let body = std::fs::read(fixture()).unwrap();
    let from_stdin = run_stdin(bin(), &["--why", "ks/userapp", "-n", "flux-system", "-f", "-"], &body);
    let from_file = lineage(&["--why", "ks/userapp", "-n", "flux-system", "-f", &fixture()]);
    assert_eq!(from_stdin.code, 0, "{}", from_stdin.stderr);
    assert_eq!(from_stdin.stdout, from_file.stdout);

    // A directory: snapshot files split over several files in subdirectories, JSON and YAML
    // mixed, a README that is not a snapshot passed over.
    let dir = tempfile::tempdir().unwrap();
    let text = String::from_utf8(std::fs::read(fixture()).unwrap()).unwrap();
    let docs: Vec<&str> = text.split("\n---\n").collect();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for (i, doc) in docs.iter().enumerate() {
        let sub = if i % 2 == 0 { "" } else { "sub/" };
        write(dir.path(), &format!("{sub}{i}.yaml"), doc.as_bytes());
    }
    write(dir.path(), "README.md", b"# not a snapshot\n");
    let list = lineage(&["ks/userapp", "-n", "flux-system", "-f", &fixture(), "-o", "json", "--jq", ".nodes | length"]);
    let from_dir = lineage(&[
        "ks/userapp",
        "-n",
        "flux-system",
        "-f",
        &dir.path().display().to_string(),
        "-o",
        "json",
        "--jq",
        ".nodes | length",
    ]);
    assert_eq!(list.stdout, "5\n");
    assert_eq!(from_dir.stdout, list.stdout);
}

#[test]
fn colour_follows_flag_terminal_and_no_color() {
    let f = fixture();
    let args = ["ks/userapp", "-n", "flux-system", "-f", f.as_str()];
    let plain = lineage(&args);
    assert!(!plain.stdout.contains('\x1b'), "auto mode in a pipe must not colour");
    let mut always = args.to_vec();
    always.extend(["--color", "always"]);
    assert!(lineage(&always).stdout.contains("\x1b["));
    let never = run_with(bin(), &always, &[("NO_COLOR", "1")]);
    assert!(never.stdout.contains("\x1b["), "--color always wins over NO_COLOR");

    // On a terminal (script(1) gives the plugin a pty), auto colours unless NO_COLOR is set.
    if which("script") {
        let cmdline = format!("{} {}", bin().display(), args.join(" "));
        let tty = |no_color: bool| {
            let mut c = std::process::Command::new("script");
            c.args(["-qec", &cmdline, "/dev/null"]).env("KUBECTL_FLUX_NOW", kubectl_flux_testkit::NOW);
            if no_color {
                c.env("NO_COLOR", "1");
            } else {
                c.env_remove("NO_COLOR");
            }
            String::from_utf8(c.output().unwrap().stdout).unwrap()
        };
        assert!(tty(false).contains("\x1b["), "auto mode on a terminal colours");
        assert!(!tty(true).contains("\x1b["), "NO_COLOR turns colour off on a terminal");
    }
}

fn which(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn jq_filters_the_json_answer() {
    let r = lineage(&[
        "ks/userapp",
        "-n",
        "flux-system",
        "-f",
        &fixture(),
        "--jq",
        r#".nodes[] | select(.state == "Missing") | .ref"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "StorageClass/fast-ssd\n");
    let r = lineage(&["ks/userapp", "-n", "flux-system", "-f", &fixture(), "--jq", ".nodes["]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--jq: cannot parse"), "{}", r.stderr);
}

#[test]
fn fail_on_gates_exit_3() {
    let f = fixture();
    let base = ["ks/userapp", "-n", "flux-system", "-f", f.as_str()];
    assert_eq!(lineage(&base).code, 0);
    let with = |level: &str| {
        let mut a = base.to_vec();
        a.extend(["--fail-on", level]);
        lineage(&a).code
    };
    assert_eq!(with("missing"), 3);
    assert_eq!(with("failed"), 3);
    assert_eq!(with("cycle"), 0);
    let r = lineage(&["--cycles", "--fail-on", "cycle", "-f", &f]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "No cycles: every waits-for chain ends.\n"));
}

#[test]
fn a_closed_pipe_is_success() {
    let cmd = format!("{} ks/userapp -n flux-system -f {} -o yaml | head -1", bin().display(), fixture());
    let out = std::process::Command::new("bash").args(["-o", "pipefail", "-c", &cmd]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "apiVersion: kubectl-flux.io/v1alpha1\n");
}

#[test]
fn kubectl_plugin_completion_protocol() {
    let r = lineage(&["__complete", "hr"]);
    assert_eq!(r.stdout, "hr/\n:6\n");
    let r = lineage(&["__complete", "helm"]);
    assert_eq!(r.stdout, "helmcharts/\nhelmreleases/\nhelmrepo/\nhelmrepositories/\n:6\n");
    let r = lineage(&["__complete", "--cyc"]);
    assert_eq!(r.stdout, "--cycles\n:4\n");
    let r = lineage(&["__complete", "--color", ""]);
    assert_eq!(r.stdout, "auto\nalways\nnever\n:4\n");
    let r = lineage(&["--completion", "bash"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("kubectl-flux_lineage"), "{}", &r.stdout[..200.min(r.stdout.len())]);
}

/// `--version` names the version, the commit it was built from (`unknown` without git) and the
/// target, whatever name the program runs under.
#[test]
fn version_names_commit_and_target() {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let r = lineage(&["--version"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let prefix = format!("kubectl-flux_lineage {} (commit {head}, ", env!("CARGO_PKG_VERSION"));
    assert!(r.stdout.starts_with(&prefix), "{:?} does not start with {prefix:?}", r.stdout);
    let target = r.stdout[prefix.len()..].strip_suffix(")\n").unwrap_or_else(|| panic!("{:?}", r.stdout));
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "{target} is not this machine's target"
    );
    let as_flux = as_flux_plugin();
    assert_eq!(run(&as_flux.path().join("flux-lineage"), &["--version"]), r);
}

/// The same binary as a Flux CLI plugin (`flux lineage` runs `$FLUXCD_PLUGINS/flux-lineage`).
fn as_flux_plugin() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(bin(), dir.path().join("flux-lineage")).unwrap();
    dir
}

/// Run as `flux-lineage`, usage, help and examples name the command the user typed, `flux
/// lineage`; as `kubectl-flux_lineage`, `kubectl flux-lineage`. Answers are the same.
#[test]
fn help_names_the_command_typed() {
    let dir = as_flux_plugin();
    let flux = dir.path().join("flux-lineage");
    let r = run(&flux, &["--help"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\nUsage: flux lineage [OPTIONS] [KIND/NAME] [NAME]\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\n  flux lineage --why kustomization/userapp -n flux-system\n"), "{}", r.stdout);
    assert!(r.stdout.contains("(`flux lineage ks userapp`)"), "{}", r.stdout);
    assert!(!r.stdout.contains("kubectl flux-lineage"), "{}", r.stdout);
    let kubectl = lineage(&["--help"]);
    assert_eq!(kubectl.stdout.replace("kubectl flux-lineage", "flux lineage"), r.stdout);
    assert!(kubectl.stdout.contains("\nUsage: kubectl flux-lineage [OPTIONS] [KIND/NAME] [NAME]\n"));

    let r = run(&flux, &["--no-such-flag"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("\nUsage: flux lineage [OPTIONS] [KIND/NAME] [NAME]\n"), "{}", r.stderr);

    let f = fixture();
    let args = ["--why", "ks/userapp", "-n", "flux-system", "-f", &f];
    assert_eq!(run(&flux, &args), lineage(&args));
    assert_eq!(run(&flux, &["__complete", "--cyc"]), lineage(&["__complete", "--cyc"]));
}
