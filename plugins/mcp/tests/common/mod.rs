//! Drives the server with the official Python MCP SDK and runs the plugins' own binaries to
//! compare with.

#![allow(dead_code)]

use kubectl_flux_testkit::{NOW, Run, root, run_with};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The official Python MCP SDK, from PyPI.
pub const SDK: &str = "mcp==2.3.0";

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_mcp"))
}

/// A plugin's own binary, built beside this one by `cargo test --workspace` (scripts/test).
pub fn plugin(name: &str) -> PathBuf {
    let path = bin().parent().unwrap().join(format!("kubectl-flux_{name}"));
    assert!(
        path.exists(),
        "{} is not built: the MCP tests compare with the plugins' own binaries; run scripts/test (cargo test --workspace)",
        path.display()
    );
    path
}

/// A virtualenv with the SDK, made once per machine outside the checkout (pip from PyPI).
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
            .join("kubectl-flux")
            .join(format!("python-{}", SDK.replace("==", "-")));
        let (python, done) = (cache.join("bin/python"), cache.join(".installed"));
        if done.exists() {
            return python;
        }
        // Test binaries run one after another, and this once per binary: no other run races.
        let _ = std::fs::remove_dir_all(&cache);
        let ok = |mut c: Command| c.status().map(|s| s.success()).unwrap_or(false);
        let mut venv = Command::new("python3");
        venv.args(["-m", "venv"]).arg(&cache);
        assert!(ok(venv), "python3 -m venv failed: the MCP tests need Python 3.10+ with venv");
        let mut pip = Command::new(cache.join("bin/pip"));
        pip.args(["install", "--quiet", "--disable-pip-version-check", SDK]);
        assert!(ok(pip), "pip install {SDK} failed (PyPI must be reachable)");
        std::fs::write(&done, SDK).unwrap();
        python
    })
}

/// Runs the SDK client: `mode` is `stdio` with the server's argv, or `http` with its URL.
/// Returns its JSON report (see sdk_client.py).
pub fn drive(mode: &str, target: &[String], calls: &Value, env: &[(&str, &str)]) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let calls_path = tmp.path().join("calls.json");
    std::fs::write(&calls_path, serde_json::to_vec(calls).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk_client.py");
    let mut cmd = Command::new(python());
    cmd.arg(&script).arg(mode).arg(&calls_path).args(target).current_dir(root());
    cmd.env("KUBECTL_FLUX_NOW", NOW).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK client failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The server over stdio with these flags.
pub fn stdio(flags: &[&str]) -> Vec<String> {
    std::iter::once(bin().display().to_string()).chain(flags.iter().map(|s| s.to_string())).collect()
}

/// A plugin run the way a user runs it, "now" pinned as the server's is.
pub fn cli(plugin_name: &str, args: &[&str]) -> Run {
    run_with(&plugin(plugin_name), args, &[])
}

/// Asserts that a tool's result is the plugin's own answer: its structured content equals the
/// plugin's `-o json` document and its first text block the plugin's default output with its
/// notes.
pub fn assert_same_as_cli(result: &Value, plugin_name: &str, args: &[&str]) {
    assert_eq!(result["isError"], false, "{result:#}");
    let json = cli(plugin_name, &[args, &["-o", "json"]].concat());
    assert!(json.code == 0 || json.code == 3, "{plugin_name} {args:?}: {}", json.stderr);
    let document: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(result["structured"], document, "{plugin_name} {args:?}: structured content differs from -o json");
    // The text is what a user reads on the terminal: stdout, then the notes the CLI puts on stderr.
    let text = cli(plugin_name, &[args, &["--color", "never"]].concat());
    let notes: String = text.stderr.lines().filter(|l| l.starts_with("note: ")).map(|l| format!("{l}\n")).collect();
    assert_eq!(result["text"][0], text.stdout + &notes, "{plugin_name} {args:?}: text differs from the default output");
    // For clients without structured content: the same document, serialized.
    let serialized: Value = serde_json::from_str(result["text"][1].as_str().unwrap()).unwrap();
    assert_eq!(serialized, document);
}

/// The result of the call at `index`.
pub fn result(report: &Value, index: usize) -> &Value {
    &report["results"][index]
}

/// A server on a free port of 127.0.0.1, stopped when dropped.
pub struct Served {
    child: Child,
    /// Where it serves (`http://127.0.0.1:PORT/mcp`).
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server over streamable HTTP with these flags.
pub fn serve(flags: &[&str], env: &[(&str, &str)]) -> Served {
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", "127.0.0.1:0"]).args(flags).env("KUBECTL_FLUX_NOW", kubectl_flux_testkit::NOW);
    cmd.env_remove("KUBECTL_FLUX_MCP_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Its first line names the address it bound.
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut line).unwrap();
    // The rest of stderr is read on, so a line the server writes there never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let url = line.trim().strip_prefix("kubectl-flux mcp: serving ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"), "{url}");
    Served { child, url }
}
