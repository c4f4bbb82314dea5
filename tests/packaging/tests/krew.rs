//! krew, for real: the repository keeps checksum-free templates (krew-release-bot's form);
//! `scripts/release` renders them with the checksums of the archives it just built; krew's own
//! validator (`validate-krew-manifest`, which also installs each platform from its URI) accepts
//! every manifest; and the real krew client (v0.4.3, built from its Go module by devcluster)
//! installs every plugin from the archive, after which kubectl's plugin dispatch runs it, its
//! completion hook answers once the manifest's caveat is followed, and krew uninstalls it.

use kubectl_flux_packaging::*;
use kubectl_flux_testkit::root;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const GITHUB: &str = "https://github.com/kubectl-flux/kubectl-flux/releases/download";
const PLATFORMS: [(&str, &str); 6] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
    ("windows", "arm64"),
];

/// Every tracked file that is a krew or Flux plugin manifest (or template).
fn tracked_manifests() -> Vec<PathBuf> {
    let out = Command::new("git").args(["ls-files", "*.yaml", "*.yml"]).current_dir(root()).output().unwrap();
    assert!(out.status.success(), "git ls-files");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| root().join(l))
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            text.contains("krew.googlecontainertools.github.com/") || text.contains("cli.fluxcd.io/")
        })
        .collect()
}

#[test]
fn no_manifest_in_the_repository_carries_a_checksum() {
    let manifests = tracked_manifests();
    assert!(manifests.len() >= plugins().len(), "the templates are tracked: {manifests:?}");
    for path in manifests {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let key = line.trim_start().trim_start_matches("- ");
            assert!(
                !key.starts_with("sha256:") && !key.starts_with("checksum:"),
                "{}:{}: a checksum in the repository belongs to no archive built from it: {line}",
                path.display(),
                n + 1
            );
            let hex_run = line.split(|c: char| !c.is_ascii_hexdigit()).any(|w| w.len() >= 64);
            assert!(!hex_run, "{}:{}: a digest in the repository: {line}", path.display(), n + 1);
        }
    }
}

/// Every template names the six release platforms, each by the archive `scripts/release` writes
/// for it, at the GitHub release of the tag, with the files that archive holds.
#[test]
fn every_template_names_each_platforms_archive() {
    for name in plugins() {
        let path = root().join(format!("krew-manifests/flux-{name}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.contains(&format!("\n  name: flux-{name}\n")), "{}", path.display());
        assert!(text.contains("\n  version: {{ .TagName }}\n"), "{}", path.display());
        let blocks: Vec<&str> = text.split("\n  - selector:\n").skip(1).collect();
        assert_eq!(blocks.len(), PLATFORMS.len(), "{}: one platform block per release platform", path.display());
        for ((os, arch), block) in PLATFORMS.iter().zip(blocks) {
            let (ext, exe) = if *os == "windows" { ("zip", ".exe") } else { ("tar.gz", "") };
            let uri = format!("{GITHUB}/{{{{ .TagName }}}}/kubectl-flux_{name}_{{{{ .TagName }}}}_{os}_{arch}.{ext}");
            let mut expected = format!(
                "      matchLabels:\n        os: {os}\n        arch: {arch}\n    {{{{addURIAndSha \"{uri}\" .TagName }}}}\n    \
                 bin: kubectl-flux_{name}{exe}\n    files:\n    - from: ./kubectl-flux_{name}{exe}\n      to: .\n"
            );
            if *os != "windows" {
                expected.push_str(&format!("    - from: ./kubectl_complete-flux_{name}\n      to: .\n"));
            }
            expected.push_str("    - from: ./LICENSE\n      to: .\n");
            assert_eq!(block.trim_end(), expected.trim_end(), "{}: the {os}/{arch} platform", path.display());
        }
    }
}

/// The kubectl and krew a user has: `kubectl krew` is `kubectl-krew` on PATH.
struct Tools {
    bin: PathBuf,
    validator: PathBuf,
}

fn tools(dir: &Path) -> Tools {
    let started = std::time::Instant::now();
    let krew = devcluster::build::build_krew(true).expect("building krew from its Go module");
    eprintln!("krew and validate-krew-manifest ready in {:.1}s", started.elapsed().as_secs_f64());
    let bin = dir.join("tools");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(kubectl(), bin.join("kubectl")).unwrap();
    std::os::unix::fs::symlink(krew.join("krew"), bin.join("kubectl-krew")).unwrap();
    Tools { bin, validator: krew.join("validate-krew-manifest") }
}

#[test]
fn krew_validates_installs_runs_and_uninstalls_every_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start();
    let dist = tmp.path().join("dist");
    let printed = release(&dist, &server.url());
    server.serve(&dist);
    let tools = tools(tmp.path());

    for name in plugins() {
        let manifest_path = dist.join(format!("krew/flux-{name}.yaml"));
        assert!(
            printed.lines().any(|l| Path::new(l) == manifest_path),
            "scripts/release names {}",
            manifest_path.display()
        );
        let manifest = yaml(&manifest_path);
        let archive = dist.join(archive_name(&name));
        let sha = format!("{:x}", Sha256::digest(std::fs::read(&archive).unwrap()));

        // Rendered from the template: the tag, and this archive's URI and checksum on the one
        // platform built here.
        assert_eq!(manifest["spec"]["version"], VERSION);
        let platforms = manifest["spec"]["platforms"].as_array().unwrap();
        assert_eq!(platforms.len(), 1, "flux-{name}: only the host's archive was built");
        assert_eq!(platforms[0]["selector"]["matchLabels"], serde_json::json!({"os": "linux", "arch": "amd64"}));
        assert_eq!(platforms[0]["sha256"], sha, "flux-{name}: the manifest's sha256 is its archive's");
        assert_eq!(platforms[0]["uri"], format!("{}/{VERSION}/{}", server.url(), archive_name(&name)));

        // krew-index's validation, including its install of every platform from the URI (served
        // here) and its LICENSE check.
        let env = [("PATH", path_with(&[&tools.bin])), ("KREW_NO_UPGRADE_CHECK", "1".into())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let manifest_arg = format!("-manifest={}", manifest_path.display());
        let v = run(&tools.validator, &[&manifest_arg], &env, "");
        assert_eq!(v.code, 0, "validate-krew-manifest flux-{name}:\n{}{}", v.stdout, v.stderr);
        assert!(v.stderr.contains("all 1 spec.platforms installed fine"), "{}", v.stderr);
    }
    let fetched = server.requests();
    for name in plugins() {
        let path = format!("/{VERSION}/{}", archive_name(&name));
        assert!(fetched.contains(&path), "the validator downloaded {path}: {fetched:?}");
    }

    // A changed archive is refused: the checksum is the archive's, and krew checks it.
    let krew_root = tmp.path().join("krew-tampered");
    let tampered = tmp.path().join(archive_name("lineage"));
    let mut bytes = std::fs::read(dist.join(archive_name("lineage"))).unwrap();
    bytes.push(0);
    std::fs::write(&tampered, bytes).unwrap();
    let k = Krew::new(&tools, &krew_root);
    let r =
        k.kubectl(&["krew", "install", &manifest_flag(&dist, "lineage"), &format!("--archive={}", tampered.display())]);
    assert_ne!(r.code, 0, "a tampered archive installed:\n{}", r.stderr);
    assert!(r.stderr.contains("checksum does not match"), "{}", r.stderr);

    let krew_root = tmp.path().join("krew");
    let k = Krew::new(&tools, &krew_root);
    for q in questions() {
        let name = q.plugin;
        let archive = dist.join(archive_name(name));
        let r =
            k.kubectl(&["krew", "install", &manifest_flag(&dist, name), &format!("--archive={}", archive.display())]);
        assert_eq!(r.code, 0, "kubectl krew install flux-{name}:\n{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(&format!("Installed plugin: flux-{name}")), "{}", r.stderr);
        let store = krew_root.join(format!("store/flux-{name}/{VERSION}"));
        let hook = format!("kubectl_complete-flux_{name}");
        assert!(
            store.join(&hook).is_file(),
            "the completion hook is installed beside the binary in {}",
            store.display()
        );
        assert!(store.join(format!("kubectl-flux_{name}")).is_file());
        assert!(store.join("LICENSE").is_file());

        // kubectl's plugin dispatch: `kubectl flux-<name>` runs $KREW_ROOT/bin/kubectl-flux_<name>.
        let v = k.kubectl(&[&format!("flux-{name}"), "--version"]);
        assert_eq!(v.code, 0, "kubectl flux-{name} --version: {}", v.stderr);
        let version = v.stdout.trim();
        assert!(
            version.starts_with(&format!("kubectl-flux_{name} 0.1.0 (commit "))
                && version.ends_with(&format!(", {TARGET})")),
            "kubectl flux-{name} --version: {version}"
        );

        // One real question, through kubectl, and the same binary run directly.
        let command = format!("flux-{name}");
        let args: Vec<&str> = std::iter::once(command.as_str()).chain(q.args.iter().copied()).collect();
        let through_kubectl = k.kubectl_stdin(&args, q.stdin);
        assert_answers(&q, &format!("kubectl flux-{name}"), &through_kubectl);
        let direct = run(&store.join(format!("kubectl-flux_{name}")), q.args, &[], q.stdin);
        assert_eq!(through_kubectl, direct, "kubectl flux-{name} answers as the binary itself");

        // Completion: kubectl asks `kubectl_complete-flux_<name>` on PATH. krew links only the
        // binary (kubernetes-sigs/krew#812), so the manifest's caveat says how; before it,
        // kubectl finds no hook; after it, the plugin's flags come back.
        let before = k.kubectl(&["__complete", &format!("flux-{name}"), "--"]);
        assert!(
            !before.stdout.contains("--filename"),
            "a hook answered before the caveat was followed: {}",
            before.stdout
        );
        let manifest = yaml(&dist.join(format!("krew/flux-{name}.yaml")));
        let caveats = manifest["spec"]["caveats"].as_str().unwrap();
        let step = caveats.lines().map(str::trim).find(|l| l.starts_with("cp ")).expect("the caveat's command");
        let sh = k.run(Path::new("/bin/sh"), &["-c", step], "");
        assert_eq!(sh.code, 0, "{step}: {}", sh.stderr);
        assert!(krew_root.join("bin").join(&hook).is_file(), "{step} put the hook on PATH");
        let after = k.kubectl(&["__complete", &format!("flux-{name}"), "--"]);
        assert_eq!(after.code, 0, "{}", after.stderr);
        let words: Vec<&str> = after.stdout.lines().collect();
        assert!(
            words.contains(&"--filename") && words.contains(&"--context"),
            "kubectl __complete flux-{name} --: {words:?}"
        );
        assert_eq!(words.last(), Some(&":4"), "Cobra's directive: no file completion");

        let r = k.kubectl(&["krew", "uninstall", &format!("flux-{name}")]);
        assert_eq!(r.code, 0, "kubectl krew uninstall flux-{name}: {}", r.stderr);
        assert!(!krew_root.join(format!("bin/kubectl-flux_{name}")).exists());
        assert!(!store.exists(), "krew removed {}", store.display());
        let gone = k.kubectl(&[&format!("flux-{name}"), "--version"]);
        assert_ne!(gone.code, 0, "kubectl flux-{name} still runs after uninstall");
        std::fs::remove_file(krew_root.join("bin").join(&hook)).unwrap();
    }
}

fn manifest_flag(dist: &Path, name: &str) -> String {
    format!("--manifest={}", dist.join(format!("krew/flux-{name}.yaml")).display())
}

/// A user's shell with krew set up: `KREW_ROOT` of its own, `$KREW_ROOT/bin` on PATH.
struct Krew {
    env: Vec<(&'static str, String)>,
    kubectl: PathBuf,
}

impl Krew {
    fn new(tools: &Tools, krew_root: &Path) -> Krew {
        let home = krew_root.with_extension("home");
        std::fs::create_dir_all(&home).unwrap();
        // `krew uninstall` insists on a cloned plugin index (a directory with `.git`), which
        // `krew update` would clone from GitHub; installs from --manifest do not read it.
        std::fs::create_dir_all(krew_root.join("index/default/.git")).unwrap();
        let env = vec![
            ("KREW_ROOT", krew_root.display().to_string()),
            ("KREW_NO_UPGRADE_CHECK", "1".to_string()),
            ("HOME", home.display().to_string()),
            ("PATH", path_with(&[&krew_root.join("bin"), &tools.bin])),
        ];
        Krew { env, kubectl: tools.bin.join("kubectl") }
    }

    fn run(&self, program: &Path, args: &[&str], stdin: &str) -> kubectl_flux_testkit::Run {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(program, args, &env, stdin)
    }

    fn kubectl(&self, args: &[&str]) -> kubectl_flux_testkit::Run {
        self.run(&self.kubectl, args, "")
    }

    fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> kubectl_flux_testkit::Run {
        self.run(&self.kubectl, args, stdin)
    }
}

/// `--manifests-only` renders what a release workflow collected from every platform's runner:
/// each platform with its own archive's checksum, and the Flux catalog lists them all.
#[test]
fn manifests_only_renders_every_collected_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path();
    let stage = tmp.path().join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    // Stand-in archives with the release layout: what matters here is their names, entries
    // and checksums.
    std::fs::write(stage.join("LICENSE"), "license\n").unwrap();
    let mut digests = std::collections::BTreeMap::new();
    for name in plugins() {
        for (os, arch) in PLATFORMS {
            let bin = if os == "windows" { format!("kubectl-flux_{name}.exe") } else { format!("kubectl-flux_{name}") };
            std::fs::write(stage.join(&bin), format!("{name} {os} {arch}\n")).unwrap();
            let (file, status) = if os == "windows" {
                let file = format!("kubectl-flux_{name}_{VERSION}_{os}_{arch}.zip");
                let status = Command::new("zip")
                    .arg("-q")
                    .arg(dist.join(&file))
                    .args([&bin, "LICENSE"])
                    .current_dir(&stage)
                    .status();
                (file, status)
            } else {
                let file = format!("kubectl-flux_{name}_{VERSION}_{os}_{arch}.tar.gz");
                let status = Command::new("tar")
                    .arg("-czf")
                    .arg(dist.join(&file))
                    .args(["-C"])
                    .arg(&stage)
                    .args([format!("./{bin}"), "./LICENSE".into()])
                    .status();
                (file, status)
            };
            assert!(status.unwrap().success(), "{file}");
            std::fs::remove_file(stage.join(&bin)).unwrap();
            digests.insert(file.clone(), format!("{:x}", Sha256::digest(std::fs::read(dist.join(&file)).unwrap())));
        }
    }
    std::fs::remove_dir_all(&stage).unwrap();
    release_with(&["--manifests-only", VERSION, &dist.display().to_string()], GITHUB);

    let sums = std::fs::read_to_string(dist.join(format!("kubectl-flux_{VERSION}_checksums.txt"))).unwrap();
    let expected: String = digests.iter().map(|(f, d)| format!("{d}  {f}\n")).collect();
    assert_eq!(sums, expected, "the checksums file lists every archive");
    for name in plugins() {
        let krew = yaml(&dist.join(format!("krew/flux-{name}.yaml")));
        let flux = yaml(&dist.join(format!("{name}.yaml")));
        let krew_platforms = krew["spec"]["platforms"].as_array().unwrap();
        let flux_platforms = flux["versions"][0]["platforms"].as_array().unwrap();
        assert_eq!(krew_platforms.len(), PLATFORMS.len());
        assert_eq!(flux_platforms.len(), PLATFORMS.len());
        for (os, arch) in PLATFORMS {
            let ext = if os == "windows" { "zip" } else { "tar.gz" };
            let file = format!("kubectl-flux_{name}_{VERSION}_{os}_{arch}.{ext}");
            let k = krew_platforms
                .iter()
                .find(|p| p["selector"]["matchLabels"] == serde_json::json!({"os": os, "arch": arch}))
                .unwrap_or_else(|| panic!("flux-{name}: no krew platform {os}/{arch}"));
            assert_eq!(k["uri"], format!("{GITHUB}/{VERSION}/{file}"));
            assert_eq!(k["sha256"], digests[&file]);
            let f = flux_platforms
                .iter()
                .find(|p| p["os"] == os && p["arch"] == arch)
                .unwrap_or_else(|| panic!("{name}: no Flux platform {os}/{arch}"));
            assert_eq!(f["url"], format!("{GITHUB}/{VERSION}/{file}"));
            assert_eq!(f["checksum"], format!("sha256:{}", digests[&file]));
            let entry =
                if os == "windows" { format!("kubectl-flux_{name}.exe") } else { format!("./kubectl-flux_{name}") };
            assert_eq!(f["extractPath"], entry, "the archive's own entry name");
        }
    }

    // A collected set missing one platform's archive is an error, not a silently smaller release.
    std::fs::remove_file(dist.join(format!("kubectl-flux_lineage_{VERSION}_darwin_arm64.tar.gz"))).unwrap();
    let out = Command::new("bash")
        .arg(root().join("scripts/release"))
        .args(["--manifests-only", VERSION])
        .arg(dist)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("no archive kubectl-flux_lineage_{VERSION}_darwin_arm64.tar.gz")), "{stderr}");
}
