//! Tests of the release packaging (`scripts/release`), the krew manifests and the Flux CLI plugin
//! catalog it writes; the tests live in `tests/`. This library holds what they share: running
//! the release script, a tiny HTTP server for its archives and catalogs, running programs the
//! way a user's shell would, and one real offline question per plugin.

use kubectl_flux_testkit::{NOW, Run, root};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// The version every test releases.
pub const VERSION: &str = "v0.1.0";

/// The host's release target, the only one built here.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Every plugin's name (`lineage`, `tenants`, ...), sorted: the directories of `plugins/`.
pub fn plugins() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The cargo target directory of the release builds: `$CARGO_TARGET_DIR-release` (a directory
/// of its own: `cargo test` holds the lock of the test build's), else `target/release-packaging`.
pub fn release_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| PathBuf::from(format!("{}-release", d.to_string_lossy())))
        .unwrap_or_else(|| root().join("target/release-packaging"))
}

/// Runs `scripts/release VERSION <out>` for the host target with `RELEASE_BASE_URL` set to
/// `base_url`, panicking with its output when it fails; returns what it printed.
pub fn release(out: &Path, base_url: &str) -> String {
    release_with(&[VERSION, &out.display().to_string()], base_url)
}

/// Runs `scripts/release` with `args`, asserting success; returns its stdout.
pub fn release_with(args: &[&str], base_url: &str) -> String {
    let out = Command::new("bash")
        .arg(root().join("scripts/release"))
        .args(args)
        .env("CARGO_TARGET_DIR", release_target_dir())
        .env("RELEASE_BASE_URL", base_url)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/release");
    assert!(out.status.success(), "scripts/release {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The name of a release archive of `plugin` for linux/amd64.
pub fn archive_name(plugin: &str) -> String {
    format!("kubectl-flux_{plugin}_{VERSION}_linux_amd64.tar.gz")
}

/// Parses a YAML file into JSON values, naming the file on failure.
pub fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An HTTP/1.1 server on 127.0.0.1 serving the files of one directory by their name: a request
/// for `/<anything>/<file>` answers `<dir>/<file>` (so `RELEASE_BASE_URL/VERSION/<archive>` and
/// `<catalog>/<name>.yaml` both resolve), anything else 404. It records every path asked for.
/// It listens from [`Server::start`] on, so its address can go into the release before the
/// directory is filled; it stops with the test process.
pub struct Server {
    port: u16,
    dir: Arc<Mutex<Option<PathBuf>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Listens on a free port of 127.0.0.1; serves nothing until [`Server::serve`].
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let dir: Arc<Mutex<Option<PathBuf>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (d, r) = (dir.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (d, r) = (d.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = answer(stream, &d, &r);
                });
            }
        });
        Server { port, dir, requests }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serves the files of `dir` from now on.
    pub fn serve(&self, dir: &Path) {
        *self.dir.lock().unwrap() = Some(dir.to_path_buf());
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(stream: TcpStream, dir: &Mutex<Option<PathBuf>>, requests: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    requests.lock().unwrap().push(path.clone());
    let file = path.split('?').next().unwrap_or("").rsplit('/').next().unwrap_or("").to_string();
    let body = match dir.lock().unwrap().clone() {
        Some(d) if !file.is_empty() && !file.starts_with('.') => std::fs::read(d.join(&file)).ok(),
        _ => None,
    };
    let mut stream = stream;
    match body {
        Some(body) => {
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
            stream.write_all(&body)?;
        }
        None => write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?,
    }
    stream.flush()
}

/// Runs `program` in the workspace root with "now" pinned (as the plugins' golden tests do),
/// extra environment variables, and `stdin` (none when empty).
pub fn run(program: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(root()).env("KUBECTL_FLUX_NOW", NOW).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.as_bytes()).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `dir` followed by the test process's PATH.
pub fn path_with(dirs: &[&Path]) -> String {
    let mut paths: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap().to_string_lossy().into_owned()
}

/// devcluster's kubectl (v1.36, built from the Kubernetes module; cached).
pub fn kubectl() -> PathBuf {
    devcluster::build::build(false).expect("devcluster build").join("kubectl")
}

/// Extracts `archive` (a `.tar.gz`) into `dir`.
pub fn untar(archive: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(dir).status().unwrap();
    assert!(status.success(), "tar -xzf {}", archive.display());
}

/// One real question to a plugin, answered offline from the bundled snapshots in `examples/`.
pub struct Question {
    /// The plugin (`lineage`).
    pub plugin: &'static str,
    /// Its arguments (paths relative to the workspace root, where [`run`] runs).
    pub args: &'static [&'static str],
    /// Standard input (flux-mcp is asked over stdio).
    pub stdin: &'static str,
    /// Lines the answer's stdout must hold: the part that tells it answered.
    pub expect: &'static [&'static str],
}

/// An MCP client's first message and its end of input: flux-mcp answers the initialize and
/// exits.
const MCP_INITIALIZE: &str = concat!(
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","#,
    r#""capabilities":{},"clientInfo":{"name":"packaging-test","version":"0"}}}"#,
    "\n"
);

/// One question per plugin, each the first example of its README section.
pub fn questions() -> Vec<Question> {
    vec![
        Question {
            plugin: "controllers",
            args: &[
                "--sample",
                "10m",
                "-f",
                "examples/controllers-overload.yaml",
                "--metrics-file",
                "examples/scrapes/controllers-overload/before",
                "--metrics-file",
                "examples/scrapes/controllers-overload/after",
            ],
            stdin: "",
            expect: &["CONTROLLER ", "not-ready,queue,reconcile-time,workers,sharding"],
        },
        Question {
            plugin: "events",
            args: &[
                "-f",
                "examples/missing-storageclass.yaml",
                "--for",
                "ks/userapp",
                "-n",
                "flux-system",
                "--logs-file",
                "examples/logs/kustomize-controller.log",
            ],
            stdin: "",
            expect: &["LAST SEEN ", "Kustomization flux-system/userapp   Progressing"],
        },
        Question {
            plugin: "lineage",
            args: &["--why", "kustomization/userapp", "-n", "flux-system", "-f", "examples/missing-storageclass.yaml"],
            stdin: "",
            expect: &["Root cause:", "StorageClass fast-ssd NotFound"],
        },
        Question { plugin: "mcp", args: &[], stdin: MCP_INITIALIZE, expect: &[r#""serverInfo""#, r#""kubectl-flux""#] },
        Question {
            plugin: "ratelimit",
            args: &["-f", "examples/rate-limit.yaml"],
            stdin: "",
            expect: &["CREDENTIAL ", "sha256:83e8e15db325 (5 Secrets)"],
        },
        Question {
            plugin: "reset",
            args: &["plan", "-n", "shop", "-f", "examples/corrupted-state.yaml"],
            stdin: "",
            expect: &["Reset plan for context offline: 1 Flux objects in namespace shop.", "HelmRelease shop/redis"],
        },
        Question {
            plugin: "tenants",
            args: &["-f", "examples/guilty-tenant.yaml"],
            stdin: "",
            expect: &["TENANT ", "team-x "],
        },
    ]
}

/// Asserts that `run` succeeded and its stdout holds every expected line of `q`.
pub fn assert_answers(q: &Question, how: &str, run: &Run) {
    assert_eq!(run.code, 0, "{how}: exit {}\nstdout:\n{}\nstderr:\n{}", run.code, run.stdout, run.stderr);
    for line in q.expect {
        assert!(
            run.stdout.contains(line),
            "{how}: {line:?} missing from stdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
}
