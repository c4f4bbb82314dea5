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

/// Like [`run`], at the real current time (for clusters whose controllers write real times).
pub fn run_now(bin: &Path, args: &[&str]) -> Run {
    run_full(bin, args, &[("KUBECTL_FLUX_NOW", "")], None)
}

fn run_full(bin: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(root()).env("KUBECTL_FLUX_NOW", NOW).env_remove("NO_COLOR");
    if env.contains(&("KUBECTL_FLUX_NOW", "")) {
        cmd.env_remove("KUBECTL_FLUX_NOW");
    }
    for (k, v) in env.iter().filter(|(k, v)| !(*k == "KUBECTL_FLUX_NOW" && v.is_empty())) {
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

/// Requests counted by devcluster, keyed by (verb, resource, namespace).
pub type Requests = std::collections::BTreeMap<(String, String, String), u64>;

/// The API requests made so far in a devcluster, by (verb, resource, namespace).
pub fn requests(cluster: &devcluster::Cluster) -> Requests {
    devcluster::audit::requests(&cluster.dir)
        .expect("devcluster audit log")
        .into_iter()
        .map(|c| ((c.verb, c.resource, c.namespace), c.count))
        .collect()
}

/// The requests added between two counts.
pub fn request_delta(before: &Requests, after: &Requests) -> Requests {
    after
        .iter()
        .filter_map(|(k, &n)| {
            let d = n - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// Hostile inputs every plugin must refuse cleanly: exit 2 with a message naming the file,
/// never a panic, a hang or unbounded memory. Returns how many inputs were tried.
///
/// `args` are the plugin's own arguments (e.g. `["--cycles"]`); each input is added as `-f`.
pub fn assert_refuses_hostile_input(bin: &Path, args: &[&str]) -> usize {
    let dir = std::env::temp_dir().join(format!("kubectl-flux-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let write = |name: &str, body: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write input");
        p
    };
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..40 {
        let p = i - 1;
        bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let mut random = Vec::with_capacity(4096);
    let mut x: u32 = 0x2545_f491;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        random.push(x as u8);
    }
    let huge = dir.join("huge.json");
    let f = std::fs::File::create(&huge).expect("huge file");
    f.set_len((1 << 30) + 1).expect("sparse 1 GiB file");
    let mut inputs = vec![
        write("empty.yaml", b""),
        write("blank.yaml", b"\n\n   \n"),
        write("truncated.json", br#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "#),
        write("truncated.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a, b\n"),
        write("random.yaml", &random),
        write("latin1.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n"),
        write("deep.json", deep.as_bytes()),
        write("deep.yaml", format!("{}x{}", "[".repeat(10_000), "]".repeat(10_000)).as_bytes()),
        write("bomb.yaml", bomb.as_bytes()),
        write("scalar.yaml", b"just some text\n"),
        write("list-of-numbers.json", b"[1, 2, 3]"),
        write("no-metadata.yaml", b"apiVersion: v1\nkind: ConfigMap\n"),
        write("no-kind.json", br#"{"apiVersion": "v1", "metadata": {"name": "x"}}"#),
        write("items-not-a-list.yaml", b"apiVersion: v1\nkind: List\nitems: 42\n"),
        write("duplicate-keys.json", br#"{"apiVersion": "v1", "apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "x"}, "metadata": 5}"#),
        huge,
    ];
    inputs.sort();
    for input in &inputs {
        let file = input.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-f", &file]);
        let r = run_bounded(bin, &all, std::time::Duration::from_secs(30));
        assert_eq!(r.code, 2, "{file}: expected exit 2, got {}: {}", r.code, r.stderr);
        assert!(
            r.stderr.starts_with("error: ") && r.stderr.contains(&file),
            "{file}: message must name the file: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"), "{file}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{file}: nothing half-written on stdout");
    }
    let _ = std::fs::remove_dir_all(&dir);
    inputs.len()
}

/// Runs a command, killing it (and failing) if it runs longer than `limit`.
pub fn run_bounded(bin: &Path, args: &[&str], limit: std::time::Duration) -> Run {
    use std::process::Stdio;
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(root())
        .env("KUBECTL_FLUX_NOW", NOW)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run plugin");
    let start = std::time::Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            };
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{} {args:?} did not finish within {}s", bin.display(), limit.as_secs());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Secret values planted in the bundled snapshots (Secrets, Helm release values, tokens), each
/// with its base64, which no plugin may ever print.
pub fn planted_secrets() -> Vec<String> {
    const PLAIN: &[&str] = &[
        "ghp_FAKEfakeFAKEfake0123456789abcdefABCD",
        "ghp_ENTERPRISEfake000000000000000000000",
        "ghp_DISPATCHfake0000000000000000000000",
        "s3cr3t-FAKE",
        "ghp_FAKEtokenFAKEtokenFAKE000000",
        "ghp_FAKEteam-atokenFAKEFAKEFAKE000000",
        "ghp_FAKEteam-btokenFAKEFAKEFAKE000000",
        "https://hooks.slack.com/services/TFAKE/BFAKE/FAKEFAKEFAKE",
        "BEGIN OPENSSH PRIVATE KEY",
    ];
    let mut all: Vec<String> = PLAIN.iter().map(|s| s.to_string()).collect();
    for s in PLAIN {
        all.push(base64(s.as_bytes()));
    }
    all
}

/// Standard base64, for looking for encoded secrets in output.
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Runs a plugin on every bundled snapshot in every format (and `--jq .`, and with debug
/// logging asked for) and asserts no planted secret, plain or base64, reaches stdout or stderr.
pub fn assert_never_prints_secrets(bin: &Path, args: &[&str], formats: &[&str]) -> usize {
    let files: Vec<String> =
        ["demo", "rate-limit", "missing-storageclass", "corrupted-state"].iter().map(|n| example(n)).collect();
    let secrets = planted_secrets();
    let mut runs = 0;
    for format in formats.iter().copied().chain(["--jq"]) {
        let mut all: Vec<&str> = args.to_vec();
        for f in &files {
            all.extend(["-f", f.as_str()]);
        }
        if format == "--jq" {
            all.extend(["--jq", "."]);
        } else {
            all.extend(["-o", format]);
        }
        let r = run_with(bin, &all, &[("RUST_LOG", "trace"), ("RUST_BACKTRACE", "1")]);
        assert!(r.code == 0 || r.code == 3, "{all:?}: {}", r.stderr);
        for s in &secrets {
            assert!(
                !r.stdout.contains(s.as_str()) && !r.stderr.contains(s.as_str()),
                "{all:?} printed a secret ({} chars)",
                s.len()
            );
        }
        runs += 1;
    }
    runs
}

/// Starts a static devcluster and loads the given bundled scenarios into it (the guard stops the
/// cluster when dropped).
pub fn cluster_with(dir: &Path, scenarios: &[&str]) -> devcluster::Cluster {
    cluster_with_options(dir, scenarios, &devcluster::Options::default())
}

/// Like [`cluster_with`], with devcluster options (e.g. the fault proxy).
pub fn cluster_with_options(dir: &Path, scenarios: &[&str], options: &devcluster::Options) -> devcluster::Cluster {
    let cluster = devcluster::Cluster::up(&dir.join("cluster"), options).expect("devcluster up");
    let paths: Vec<PathBuf> = scenarios.iter().map(|s| PathBuf::from(example(s))).collect();
    let loaded = devcluster::load_files(&cluster.kubeconfig, &paths).expect("devcluster load");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    cluster
}

/// Asserts that each argument list gives the same exit code, stdout and stderr against the
/// cluster (`--kubeconfig`) as against the scenario files it was loaded from (`-f`).
pub fn assert_live_equals_offline(bin: &Path, cluster: &devcluster::Cluster, scenarios: &[&str], cases: &[&[&str]]) {
    let files: Vec<String> = scenarios.iter().map(|s| example(s)).collect();
    let kubeconfig = cluster.kubeconfig.display().to_string();
    for args in cases {
        let mut offline = args.to_vec();
        for f in &files {
            offline.extend(["-f", f.as_str()]);
        }
        let mut live = args.to_vec();
        live.extend(["--kubeconfig", kubeconfig.as_str()]);
        let (offline, live) = (run(bin, &offline), run(bin, &live));
        assert_eq!(
            (live.code, &live.stdout, &live.stderr),
            (offline.code, &offline.stdout, &offline.stderr),
            "{args:?}: live and offline answers differ"
        );
    }
}

/// Starts a devcluster running the real Flux controllers and its GitOps flow (all Ready when
/// this returns), with the fault proxy between the kubeconfig and the API server.
pub fn flux_cluster(dir: &Path) -> devcluster::Cluster {
    let options = devcluster::Options { flux: true, proxy: true, ..Default::default() };
    devcluster::Cluster::up(&dir.join("cluster"), &options).expect("devcluster up --flux --proxy")
}

/// Runs `check` every 500 ms until it returns `None`, for at most `timeout`; panics with the
/// last state it returned.
pub fn eventually(what: &str, timeout: std::time::Duration, mut check: impl FnMut() -> Option<String>) {
    let start = std::time::Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match check() {
            None => return,
            Some(state) => last = state,
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("{what} not reached after {}s; last state: {last}", timeout.as_secs());
}

/// Kubeconfig files for a fleet: one per cluster, its cluster, user and context renamed to the
/// given name, plus a context `unreachable` names pointing at a closed port; joined with `:` for
/// `KUBECONFIG` (kubectl and the plugins merge them).
pub fn fleet_kubeconfig(dir: &Path, clusters: &[(&str, &devcluster::Cluster)], unreachable: Option<&str>) -> String {
    let mut files = Vec::new();
    let mut write = |name: &str, text: String| {
        let renamed = text
            .replace("- name: devcluster", &format!("- name: {name}"))
            .replace("cluster: devcluster", &format!("cluster: {name}"))
            .replace("- name: admin", &format!("- name: {name}-admin"))
            .replace("user: admin", &format!("user: {name}-admin"))
            .replace("current-context: devcluster", &format!("current-context: {name}"));
        let path = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&path, renamed).expect("write kubeconfig");
        files.push(path.display().to_string());
    };
    for (name, cluster) in clusters {
        write(name, std::fs::read_to_string(&cluster.kubeconfig).expect("read kubeconfig"));
    }
    if let (Some(name), Some((_, first))) = (unreachable, clusters.first()) {
        // Port 1 on 127.0.0.1: connection refused at once.
        let text = std::fs::read_to_string(&first.kubeconfig).expect("read kubeconfig");
        let server = text.lines().find_map(|l| l.trim().strip_prefix("server: ")).expect("a server").to_string();
        write(name, text.replace(&server, "https://127.0.0.1:1"));
    }
    files.join(":")
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(super::base64(b"s3cr3t-FAKE"), "czNjcjN0LUZBS0U=");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"abc"), "YWJj");
    }
}
