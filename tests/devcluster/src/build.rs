//! `devcluster build`: the pinned Go components, built once into a cache outside the checkout.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Go programs devcluster runs, each a `cmd/<name>` package of the wrapper module.
pub const COMPONENTS: &[&str] =
    &["etcd", "kube-apiserver", "kubectl", "kube-controller-manager", "kube-scheduler", "kwok"];

/// The Go toolchain: `$GO`, else `go` on PATH, else the standard /usr/local/go/bin/go.
pub fn go() -> PathBuf {
    if let Some(go) = std::env::var_os("GO") {
        return PathBuf::from(go);
    }
    let on_path = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("go").is_file()));
    if on_path { PathBuf::from("go") } else { PathBuf::from("/usr/local/go/bin/go") }
}

/// The wrapper Go module.
pub fn go_module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

/// `$XDG_CACHE_HOME/kubectl-flux/devcluster` (else `~/.cache/...`), or `DEVCLUSTER_CACHE`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEVCLUSTER_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache"));
    base.join("kubectl-flux/devcluster")
}

/// Where the binaries of the current pins live: keyed by a hash of go.mod, go.sum and the
/// wrapper sources, so changing a pin builds anew and old builds stay usable.
pub fn bin_dir() -> Result<PathBuf> {
    let dir = go_module_dir();
    let mut hash = Sha256::new();
    for f in ["go.mod", "go.sum"] {
        hash.update(std::fs::read(dir.join(f)).with_context(|| format!("reading {}", dir.join(f).display()))?);
    }
    for c in COMPONENTS {
        hash.update(std::fs::read(dir.join("cmd").join(c).join("main.go")).unwrap_or_default());
    }
    // The Kubernetes-side pins only: a Flux pin change does not rebuild Kubernetes.
    let v = crate::versions::load()?;
    hash.update(format!("{:?}{:?}{:?}", v.kubernetes, v.etcd, v.kwok));
    hash.update(ldflags()?);
    let key = format!("{:x}", hash.finalize());
    Ok(cache_dir().join("bin").join(&key[..16]))
}

/// Linker flags stamping the pinned Kubernetes version into the binaries (what `make` in
/// kubernetes does), so `kubectl version` and `/version` report v1.36.x instead of
/// `v0.0.0-master`, which clients refuse to parse.
pub fn ldflags() -> Result<String> {
    let v = crate::versions::load()?;
    let version = &v.kubernetes.version;
    let mut parts = version.trim_start_matches('v').split('.');
    let (major, minor) = (parts.next().unwrap_or("1"), parts.next().unwrap_or("0"));
    let mut flags = String::from("-s -w");
    for pkg in ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"] {
        for (var, value) in [
            ("gitVersion", version.as_str()),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("gitCommit", ""),
        ] {
            flags.push_str(&format!(" -X {pkg}.{var}={value}"));
        }
    }
    Ok(flags)
}

/// How to build one component: the directory to run `go build` in, its linker flags and the
/// package.
struct Recipe {
    dir: PathBuf,
    ldflags: String,
    package: String,
    /// `GOTOOLCHAIN`, for a module that needs a newer Go than the machine's.
    toolchain: Option<String>,
}

/// Builds every missing component (idempotent; seconds when warm). Returns the bin directory.
pub fn build(verbose: bool) -> Result<PathBuf> {
    // Tests start clusters from several threads; one builds, the others wait for it.
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    build_missing(bin_dir()?, COMPONENTS, verbose, |c| {
        Ok(Recipe { dir: go_module_dir(), ldflags: ldflags()?, package: format!("./cmd/{c}"), toolchain: None })
    })
}

/// Builds the components missing from `bin` with `recipe`, one process at a time (test
/// binaries run side by side: one builds, the others wait on a lock file and reuse).
fn build_missing(
    bin: PathBuf,
    components: &[&str],
    verbose: bool,
    recipe: impl Fn(&str) -> Result<Recipe>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(&bin)?;
    if components.iter().all(|c| bin.join(c).exists()) {
        return Ok(bin);
    }
    let lock = std::fs::File::create(bin.join(".build.lock"))?;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .with_context(|| format!("locking {}", bin.join(".build.lock").display()))?;
    for c in components {
        let target = bin.join(c);
        if target.exists() {
            continue;
        }
        if verbose {
            eprintln!("devcluster: building {c} (first build takes minutes)");
        }
        let started = std::time::Instant::now();
        let tmp = bin.join(format!(".{c}.{}.tmp", std::process::id()));
        let Recipe { dir, ldflags, package, toolchain } = recipe(c)?;
        // nice: the first build takes many minutes of both cores; stay behind interactive work.
        let mut command = Command::new("nice");
        command
            .args(["-n", "15"])
            .arg(go())
            .args(["build", "-trimpath", "-ldflags", &ldflags, "-o"])
            .arg(&tmp)
            .arg(&package)
            .current_dir(&dir);
        if let Some(toolchain) = toolchain {
            command.env("GOTOOLCHAIN", toolchain);
        }
        let out = command.output().context("running `go build` (is Go installed?)")?;
        if !out.status.success() {
            bail!("go build {package} (in {}) failed:\n{}", dir.display(), String::from_utf8_lossy(&out.stderr));
        }
        std::fs::rename(&tmp, &target)?;
        if verbose {
            eprintln!("devcluster: built {c} in {:.0}s", started.elapsed().as_secs_f64());
        }
    }
    Ok(bin)
}

/// Flux's controllers, the `flux` CLI and the benchmark peer kube-lineage. Each controller and
/// kube-lineage is built from its own wrapper module `go-flux/<name>` (their `replace`
/// directives conflict, so they cannot share one module graph): `go build <tool package>`.
pub const FLUX_COMPONENTS: &[&str] = &[
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "flux",
    "kube-lineage",
];

/// The wrapper modules of [`FLUX_COMPONENTS`].
pub fn flux_modules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go-flux")
}

/// Where the Flux binaries of the current pins live, keyed like [`bin_dir`] by their wrapper
/// modules and the Flux pins.
pub fn flux_bin_dir() -> Result<PathBuf> {
    let mut hash = Sha256::new();
    for c in FLUX_COMPONENTS.iter().filter(|c| **c != "flux") {
        for f in ["go.mod", "go.sum"] {
            let path = flux_modules_dir().join(c).join(f);
            hash.update(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
        }
    }
    hash.update(format!("{:?}", crate::versions::load()?.flux));
    let key = format!("{:x}", hash.finalize());
    Ok(cache_dir().join("bin").join(format!("flux-{}", &key[..16])))
}

/// Builds every missing Flux component (idempotent; seconds when warm). Returns the directory.
pub fn build_flux(verbose: bool) -> Result<PathBuf> {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    build_missing(flux_bin_dir()?, FLUX_COMPONENTS, verbose, |c| {
        if c == "flux" {
            let (dir, version) = flux_cli_source()?;
            let ldflags = format!("-s -w -X main.VERSION={}", version.trim_start_matches('v'));
            return Ok(Recipe { dir, ldflags, package: "./cmd/flux".to_string(), toolchain: None });
        }
        let dir = flux_modules_dir().join(c);
        let package = only_tool(&dir)?;
        Ok(Recipe { dir, ldflags: "-s -w".to_string(), package, toolchain: None })
    })
}

/// The flux CLI's source, ready to build: a copy of the `github.com/fluxcd/flux2/v2` module
/// (its `cmd/flux` uses the module's internal packages, so it must be built inside it) with
/// the `cmd/flux/manifests/*.yaml` that flux2's Makefile generates with kustomize from remote
/// release assets. Those are only `flux install`'s embedded manifests, which devcluster does
/// not use; one placeholder file satisfies the `go:embed` pattern, so `flux install` fails and
/// every other command works.
fn flux_cli_source() -> Result<(PathBuf, String)> {
    let version = crate::versions::load()?.flux.get("release").cloned().context("versions.toml: flux.release")?;
    let dir = cache_dir().join("src").join(format!("flux2@{version}"));
    if dir.join("cmd/flux/manifests").exists() {
        return Ok((dir, version));
    }
    let module = module_dir("github.com/fluxcd/flux2/v2", &version)?;
    let tmp = cache_dir().join("src").join(format!(".flux2@{version}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.parent().unwrap_or(Path::new("/")))?;
    // The module cache is read-only; the copy must be writable to add the manifests.
    let status = Command::new("cp").arg("-r").arg(&module).arg(&tmp).status()?;
    let status2 = Command::new("chmod").args(["-R", "u+w"]).arg(&tmp).status()?;
    if !status.success() || !status2.success() {
        bail!("copying {} to {}", module.display(), tmp.display());
    }
    std::fs::create_dir_all(tmp.join("cmd/flux/manifests"))?;
    std::fs::write(
        tmp.join("cmd/flux/manifests/devcluster-placeholder.yaml"),
        "# devcluster builds the flux CLI without flux install's embedded manifests.\n",
    )?;
    std::fs::rename(&tmp, &dir)?;
    Ok((dir, version))
}

/// The directory of a Go module in the module cache, downloading it if needed.
pub fn module_dir(module: &str, version: &str) -> Result<PathBuf> {
    module_dir_with(module, version, None)
}

/// [`module_dir`] of a module that needs the Go release `toolchain` (`GOTOOLCHAIN`): the
/// machine's Go downloads its zip but refuses to extract it.
pub fn module_dir_with(module: &str, version: &str, toolchain: Option<&str>) -> Result<PathBuf> {
    let mut command = Command::new(go());
    command.args(["mod", "download", "-json", &format!("{module}@{version}")]).current_dir(go_module_dir());
    if let Some(toolchain) = toolchain {
        command.env("GOTOOLCHAIN", toolchain);
    }
    let out = command.output().context("running `go mod download`")?;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("go mod download {module}@{version}: {}", String::from_utf8_lossy(&out.stderr)))?;
    match doc.get("Dir").and_then(|d| d.as_str()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => bail!(
            "go mod download {module}@{version}: {}",
            doc.get("Error").and_then(|e| e.as_str()).unwrap_or("no directory")
        ),
    }
}

/// The wrapper module of metrics-server (`go build <its tool package>`).
pub fn metrics_server_module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go-metrics-server")
}

/// Where metrics-server of the current pin lives.
pub fn metrics_server_bin_dir() -> Result<PathBuf> {
    wrapper_bin_dir("metrics-server", &metrics_server_module_dir(), &crate::versions::load()?.metrics_server)
}

/// Builds metrics-server if missing (only `up --metrics-server` needs it). Returns its directory.
pub fn build_metrics_server(verbose: bool) -> Result<PathBuf> {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    build_missing(metrics_server_bin_dir()?, &["metrics-server"], verbose, |_| tool_recipe(metrics_server_module_dir()))
}

/// Where the binaries of a wrapper module live: `bin/<name>-<key>`, the key made of its go.mod,
/// go.sum and pin, so a new pin builds anew.
fn wrapper_bin_dir(name: &str, dir: &Path, pin: &crate::versions::Pin) -> Result<PathBuf> {
    let mut hash = Sha256::new();
    for f in ["go.mod", "go.sum"] {
        let path = dir.join(f);
        hash.update(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    hash.update(format!("{pin:?}"));
    let key = format!("{:x}", hash.finalize());
    Ok(cache_dir().join("bin").join(format!("{name}-{}", &key[..16])))
}

/// How to build the one `tool` a wrapper module's go.mod names: `go build <package>` in it.
fn tool_recipe(dir: PathBuf) -> Result<Recipe> {
    let package = only_tool(&dir)?;
    Ok(Recipe { dir, ldflags: "-s -w".to_string(), package, toolchain: None })
}

/// The packages a wrapper module's go.mod names with `tool` directives, one per line or in a
/// `tool ( ... )` block.
pub fn tool_packages(go_mod: &str) -> Vec<String> {
    let mut tools = Vec::new();
    let mut in_block = false;
    for line in go_mod.lines().map(|l| l.split("//").next().unwrap_or("").trim()) {
        if in_block {
            if line == ")" {
                in_block = false;
            } else if !line.is_empty() {
                tools.push(line.to_string());
            }
        } else if line == "tool (" {
            in_block = true;
        } else if let Some(package) = line.strip_prefix("tool ") {
            tools.push(package.trim().to_string());
        }
    }
    tools
}

/// The one tool package of the wrapper module in `dir`.
fn only_tool(dir: &Path) -> Result<String> {
    let path = dir.join("go.mod");
    let go_mod = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    match tool_packages(&go_mod).as_slice() {
        [package] => Ok(package.clone()),
        tools => bail!("{} names {} tools, expected one", path.display(), tools.len()),
    }
}

/// The wrapper module of actionlint, the GitHub Actions workflow linter (`go build <its tool
/// package>`).
pub fn actionlint_module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go-actionlint")
}

/// Where actionlint of the current pin lives.
pub fn actionlint_bin_dir() -> Result<PathBuf> {
    wrapper_bin_dir("actionlint", &actionlint_module_dir(), &crate::versions::load()?.actionlint)
}

/// Builds actionlint if missing (the packaging tests lint `.github/workflows/` with it; no
/// cluster needs it). Returns the path of the binary.
pub fn build_actionlint(verbose: bool) -> Result<PathBuf> {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let bin = build_missing(actionlint_bin_dir()?, &["actionlint"], verbose, |_| tool_recipe(actionlint_module_dir()))?;
    Ok(bin.join("actionlint"))
}

/// The programs built from the krew wrapper module: the krew client (run as `kubectl krew`
/// once linked as `kubectl-krew` on PATH) and krew-index's `validate-krew-manifest`.
pub const KREW_COMPONENTS: &[&str] = &["krew", "validate-krew-manifest"];

/// The wrapper module of krew (`go build <tool package>` for each of [`KREW_COMPONENTS`]).
pub fn krew_module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go-krew")
}

/// Where krew of the current pin lives.
pub fn krew_bin_dir() -> Result<PathBuf> {
    wrapper_bin_dir("krew", &krew_module_dir(), &crate::versions::load()?.krew)
}

/// Builds krew and its manifest validator if missing (only the packaging tests need them).
/// Returns their directory.
pub fn build_krew(verbose: bool) -> Result<PathBuf> {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    build_missing(krew_bin_dir()?, KREW_COMPONENTS, verbose, |c| {
        let dir = krew_module_dir();
        let path = dir.join("go.mod");
        let go_mod = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let package = tool_packages(&go_mod)
            .into_iter()
            .find(|p| p.rsplit('/').next() == Some(c))
            .with_context(|| format!("{} names no tool .../{c}", path.display()))?;
        Ok(Recipe { dir, ldflags: "-s -w".to_string(), package, toolchain: None })
    })
}

/// The programs built from the flux-operator wrapper module, each its module's `cmd/<name>`:
/// the operator, its CLI (`flux-operator` in its releases) and its MCP server
/// (`flux-operator-mcp`).
pub const OPERATOR_COMPONENTS: &[&str] = &["cli", "mcp", "operator"];

/// The wrapper module of the flux-operator.
pub fn operator_module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go-operator")
}

/// Where the flux-operator of the current pin lives.
pub fn operator_bin_dir() -> Result<PathBuf> {
    wrapper_bin_dir("flux-operator", &operator_module_dir(), &crate::versions::load()?.flux_operator)
}

/// The flux-operator's source, from the module cache, as its build needs it: its web UI
/// (`web/dist`, embedded with `go:embed`) is built by its release pipeline and not in the
/// module, so a one-page placeholder stands in (devcluster never serves the UI:
/// `--web-server-port=0`). A copy beside the bin directory, and a build module whose go.mod is
/// the wrapper's with the module replaced by that copy (`go build -overlay` may not replace
/// files in the module cache).
fn operator_build_dir(bin: &Path) -> Result<PathBuf> {
    let dir = bin.join("build");
    if dir.join("go.mod").exists() {
        return Ok(dir);
    }
    let pin = crate::versions::load()?.flux_operator;
    let module = pin.module.as_deref().context("versions.toml [flux-operator] has no module")?;
    let source = module_dir_with(module, &pin.version, pin.toolchain.as_deref())?;
    let tmp = bin.join(format!(".build.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    copy_tree(&source, &tmp.join("flux-operator"))?;
    std::fs::create_dir_all(tmp.join("flux-operator/web/dist"))?;
    std::fs::write(
        tmp.join("flux-operator/web/dist/index.html"),
        "<!doctype html><title>flux-operator</title><p>devcluster builds the operator without its web UI.\n",
    )?;
    let wrapper = operator_module_dir();
    let go_mod = std::fs::read_to_string(wrapper.join("go.mod"))?;
    std::fs::write(tmp.join("go.mod"), format!("{go_mod}\nreplace {module} => ./flux-operator\n"))?;
    std::fs::copy(wrapper.join("go.sum"), tmp.join("go.sum"))?;
    std::fs::rename(&tmp, &dir)?;
    Ok(dir)
}

/// Copies a directory tree, files writable (the module cache's are read-only).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            let mut permissions = std::fs::metadata(&target)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&target, permissions)?;
        }
    }
    Ok(())
}

/// Builds the flux-operator, its CLI and its MCP server if missing (`up --flux-operator` and the
/// benchmarks need them), with the Go release its module needs. Returns their directory.
pub fn build_operator(verbose: bool) -> Result<PathBuf> {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let bin = operator_bin_dir()?;
    std::fs::create_dir_all(&bin)?;
    let pin = crate::versions::load()?.flux_operator;
    let module = pin.module.clone().context("versions.toml [flux-operator] has no module")?;
    let dir = operator_build_dir(&bin)?;
    build_missing(bin, OPERATOR_COMPONENTS, verbose, |c| {
        Ok(Recipe {
            dir: dir.clone(),
            ldflags: format!("-s -w -X main.VERSION={}", pin.version.trim_start_matches('v')),
            package: format!("{module}/cmd/{c}"),
            toolchain: pin.toolchain.clone(),
        })
    })
}
