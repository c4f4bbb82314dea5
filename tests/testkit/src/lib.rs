//! Test helpers shared by the plugins' tests: run a plugin binary the way a user would (with
//! "now" pinned), and compare its whole result with a golden file.
//!
//! Golden files hold the exit code, stdout and stderr of one run. `UPDATE_GOLDEN=1 cargo test`
//! rewrites them; review the diff before committing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The "now" every golden run pins, half an hour after the bundled incidents.
pub const NOW: &str = "2026-11-20T10:30:00Z";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// A bundled example snapshot, by file stem (`missing-storageclass`).
pub fn example(name: &str) -> String {
    root().join("examples").join(format!("{name}.yaml")).display().to_string()
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The golden-file form: exit code, then stdout and stderr sections.
    pub fn render(&self) -> String {
        format!("exit: {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs a binary with arguments, "now" pinned, no colour variables inherited, in the workspace root.
pub fn run(bin: &Path, args: &[&str]) -> Run {
    run_with(bin, args, &[])
}

/// Like [`run`], with extra environment variables.
pub fn run_with(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_full(bin, args, env, None)
}

/// Like [`run`], feeding `stdin` to the process.
pub fn run_stdin(bin: &Path, args: &[&str], stdin: &[u8]) -> Run {
    run_full(bin, args, &[], Some(stdin))
}

fn run_full(bin: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(root()).env("KUBECTL_FLUX_NOW", NOW).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run plugin");
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for plugin");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Compares a run with `dir/name.golden`, rewriting it when `UPDATE_GOLDEN` is set.
/// Paths of the workspace are replaced by `<root>` so goldens do not depend on the checkout.
pub fn assert_golden(dir: &Path, name: &str, run: &Run) {
    let path = dir.join(format!("{name}.golden"));
    let actual = run.render().replace(&root().display().to_string(), "<root>");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(dir).expect("golden dir");
        std::fs::write(&path, &actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1 to create it", path.display()));
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(5)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "{} differs from the golden file ({} vs {} lines):\n{}\nrerun with UPDATE_GOLDEN=1 to accept",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}
