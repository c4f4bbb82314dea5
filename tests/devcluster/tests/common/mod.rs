//! Helpers shared by devcluster's test files: the built kubectl, the `devcluster` command,
//! request counts, polling.
#![allow(dead_code)] // each test file uses its own part

use devcluster::build;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DEVCLUSTER: &str = env!("CARGO_BIN_EXE_devcluster");

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn kubectl_bin() -> PathBuf {
    build::build(false).expect("devcluster build").join("kubectl")
}

/// Runs the built kubectl against `kubeconfig` with its own discovery cache directory.
pub fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> (i32, String, String) {
    kubectl_stdin(kubeconfig, cache, args, None)
}

pub fn kubectl_stdin(kubeconfig: &Path, cache: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(kubectl_bin())
        .args(args)
        .arg(format!("--cache-dir={}", cache.display()))
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl");
    let input = child.stdin.take();
    if let (Some(mut pipe), Some(text)) = (input, stdin) {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn devcluster(args: &[&str]) -> Output {
    Command::new(DEVCLUSTER).args(args).output().expect("running devcluster")
}

pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.split_whitespace().nth(2) != Some("Z"))
}

pub fn pids(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// Polls `check` every 250ms until it holds, for at most `timeout`.
pub fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<String>) {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match check() {
            None => return,
            Some(state) => last = state,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} not reached after {}s; last state: {last}", timeout.as_secs());
}

/// A cluster started with the `devcluster up` command; `devcluster down` runs on drop, so a
/// failing test leaves no process behind.
pub struct CliCluster {
    pub dir: PathBuf,
}

impl CliCluster {
    pub fn up(dir: PathBuf, extra: &[&str]) -> CliCluster {
        let mut args = vec!["up", "--dir", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = devcluster(&args);
        let guard = CliCluster { dir };
        assert!(out.status.success(), "devcluster up: {}", String::from_utf8_lossy(&out.stderr));
        guard
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }
}

impl Drop for CliCluster {
    fn drop(&mut self) {
        if self.dir.join("pids").exists() {
            let _ = devcluster(&["down", "--dir", self.dir.to_str().unwrap()]);
        }
    }
}

pub type Counts = BTreeMap<(String, String, String), u64>;

pub fn requests_json(dir: &Path) -> Counts {
    let out = devcluster(&["requests", "--dir", dir.to_str().unwrap(), "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    list.iter()
        .map(|c| ((s(&c["verb"]), s(&c["resource"]), s(&c["namespace"])), c["count"].as_u64().unwrap()))
        .collect()
}

pub fn delta(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .filter_map(|(k, n)| {
            let d = n - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

pub fn key(verb: &str, resource: &str, namespace: &str) -> (String, String, String) {
    (verb.into(), resource.into(), namespace.into())
}
