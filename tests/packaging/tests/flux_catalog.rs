//! The Flux CLI plugin catalog `scripts/release` writes, installed from with the real `flux` CLI
//! (v2.9, built from fluxcd/flux2 by devcluster): a catalog served on 127.0.0.1 as
//! `FLUXCD_PLUGIN_CATALOG`, `flux plugin install <name>` into a temporary `FLUXCD_PLUGINS`, then
//! `flux <name> ...` answers exactly as `kubectl flux-<name> ...` does, its help names `flux
//! <name>`, and `flux <name> <TAB>` completes through the plugin.

use kubectl_flux_packaging::*;
use kubectl_flux_testkit::Run;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Plugins whose name is a built-in command of the Flux CLI, which therefore never runs them.
const SHADOWED: &[&str] = &["events"];

/// A shell with the Flux CLI, the catalog and a plugin directory of its own, and kubectl with
/// the same release's `kubectl-flux_<name>` binaries on PATH.
struct Shell {
    flux: PathBuf,
    kubectl: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Shell {
    fn run(&self, program: &Path, args: &[&str], stdin: &str) -> Run {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(program, args, &env, stdin)
    }

    fn flux(&self, args: &[&str]) -> Run {
        self.run(&self.flux, args, "")
    }
}

#[test]
fn flux_installs_every_plugin_from_the_catalog_and_runs_it_as_kubectl_does() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start();
    let dist = tmp.path().join("dist");
    let printed = release(&dist, &server.url());
    server.serve(&dist);

    // The catalog: flux2's pkg/plugin Catalog, one entry per plugin.
    let catalog = yaml(&dist.join("catalog.yaml"));
    assert!(printed.lines().any(|l| Path::new(l) == dist.join("catalog.yaml")));
    assert_eq!(catalog["apiVersion"], "cli.fluxcd.io/v1beta1");
    assert_eq!(catalog["kind"], "PluginCatalog");
    let names: Vec<&str> = catalog["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, plugins());

    let kubectl_bin = tmp.path().join("kubectl-plugins");
    let plugin_dir = tmp.path().join("flux-plugins");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    for name in plugins() {
        untar(&dist.join(archive_name(&name)), &kubectl_bin);
    }
    let flux = devcluster::build::build_flux(false).expect("devcluster's flux CLI").join("flux");
    let shell = Shell {
        flux,
        kubectl: kubectl(),
        env: vec![
            ("FLUXCD_PLUGIN_CATALOG", format!("{}/{VERSION}/", server.url())),
            ("FLUXCD_PLUGINS", plugin_dir.display().to_string()),
            ("HOME", home.display().to_string()),
            ("PATH", path_with(&[&kubectl_bin])),
        ],
    };

    // `flux plugin search` reads catalog.yaml.
    let search = shell.flux(&["plugin", "search"]);
    assert_eq!(search.code, 0, "flux plugin search: {}", search.stderr);
    for name in plugins() {
        assert!(
            search.stdout.lines().any(|l| l.split_whitespace().next() == Some(name.as_str())),
            "{name}: {}",
            search.stdout
        );
    }

    for q in questions() {
        let name = q.plugin;
        let manifest = yaml(&dist.join(format!("{name}.yaml")));
        assert_eq!(manifest["apiVersion"], "cli.fluxcd.io/v1beta1");
        assert_eq!(manifest["kind"], "Plugin");
        assert_eq!(manifest["bin"], format!("flux-{name}"));
        let archive = dist.join(archive_name(name));
        let sha = format!("{:x}", Sha256::digest(std::fs::read(&archive).unwrap()));
        assert_eq!(manifest["versions"][0]["version"], VERSION.trim_start_matches('v'));
        assert_eq!(manifest["versions"][0]["platforms"][0]["checksum"], format!("sha256:{sha}"));

        let r = shell.flux(&["plugin", "install", name]);
        assert_eq!(r.code, 0, "flux plugin install {name}:\n{}{}", r.stdout, r.stderr);
        let installed = plugin_dir.join(format!("flux-{name}"));
        assert_eq!(
            std::fs::read(&installed).unwrap_or_else(|e| panic!("{}: {e}", installed.display())),
            std::fs::read(kubectl_bin.join(format!("kubectl-flux_{name}"))).unwrap(),
            "flux-{name} is the archive's binary"
        );
        let list = shell.flux(&["plugin", "list"]);
        let listed = list.stdout.lines().any(|l| l.split_whitespace().next() == Some(name));
        if SHADOWED.contains(&name) {
            // `flux events` is the Flux CLI's own command: flux2 skips a plugin named like a
            // built-in (internal/plugin/discovery.go), so flux-events installs but never runs
            // as `flux events`.
            assert!(!listed, "flux now runs the {name} plugin: update SHADOWED and the README\n{}", list.stdout);
            let r = shell.flux(&["plugin", "uninstall", name]);
            assert_eq!(r.code, 0, "flux plugin uninstall {name}: {}", r.stderr);
            continue;
        }
        assert!(listed, "flux plugin list: {}{}", list.stdout, list.stderr);

        // `flux <name> --version` runs $FLUXCD_PLUGINS/flux-<name>: the build it names is the
        // same whatever name it runs under.
        let command = format!("flux-{name}");
        let v = shell.flux(&[name, "--version"]);
        assert_eq!(v.code, 0, "flux {name} --version: {}", v.stderr);
        assert!(
            v.stdout.starts_with(&format!("kubectl-flux_{name} 0.1.0 (commit "))
                && v.stdout.trim_end().ends_with(&format!(", {TARGET})")),
            "flux {name} --version: {}",
            v.stdout
        );
        assert_eq!(v, shell.run(&shell.kubectl, &[&command, "--version"], ""), "flux {name} --version");

        // The same question through both CLIs: the same answer.
        let flux_args: Vec<&str> = std::iter::once(name).chain(q.args.iter().copied()).collect();
        let through_flux = shell.run(&shell.flux, &flux_args, q.stdin);
        assert_answers(&q, &format!("flux {name}"), &through_flux);
        let kubectl_args: Vec<&str> = std::iter::once(command.as_str()).chain(q.args.iter().copied()).collect();
        let through_kubectl = shell.run(&shell.kubectl, &kubectl_args, q.stdin);
        assert_eq!(through_flux, through_kubectl, "flux {name} answers as kubectl flux-{name}");

        // Help and usage name the command typed.
        let help = shell.flux(&[name, "--help"]);
        assert_eq!(help.code, 0, "flux {name} --help: {}", help.stderr);
        assert!(help.stdout.contains(&format!("Usage: flux {name}")), "flux {name} --help:\n{}", help.stdout);
        assert!(
            !help.stdout.contains(&format!("kubectl flux-{name}")) && !help.stdout.contains("kubectl-flux_"),
            "flux {name} --help names kubectl's command:\n{}",
            help.stdout
        );
        let kubectl_help = shell.run(&shell.kubectl, &[&command, "--help"], "");
        assert_eq!(
            help.stdout,
            kubectl_help.stdout.replace(&format!("kubectl flux-{name}"), &format!("flux {name}")),
            "flux {name} --help is kubectl flux-{name} --help under the name typed"
        );
        let wrong = shell.flux(&[name, "--no-such-flag"]);
        assert_eq!(wrong.code, 2, "flux {name} --no-such-flag: {}", wrong.stderr);
        assert!(wrong.stderr.contains(&format!("Usage: flux {name}")), "flux {name} usage error:\n{}", wrong.stderr);

        // `flux <name> <TAB>`: the Flux CLI forwards completion to the plugin (flux2
        // internal/plugin/completion.go runs `<plugin> __complete ARGS... WORD`).
        let complete = shell.flux(&["__complete", name, "--"]);
        assert_eq!(complete.code, 0, "flux __complete {name} --: {}", complete.stderr);
        let words: Vec<&str> = complete.stdout.lines().collect();
        assert!(words.contains(&"--filename") && words.contains(&"--context"), "flux __complete {name} --: {words:?}");
        assert_eq!(words.last(), Some(&":4"), "the plugin's directive: no file completion");

        let r = shell.flux(&["plugin", "uninstall", name]);
        assert_eq!(r.code, 0, "flux plugin uninstall {name}: {}", r.stderr);
        assert!(!installed.exists(), "flux plugin uninstall removed {}", installed.display());
    }

    let fetched = server.requests();
    for name in plugins() {
        for path in [format!("/{VERSION}/{name}.yaml"), format!("/{VERSION}/{}", archive_name(&name))] {
            assert!(fetched.contains(&path), "flux fetched {path} from the catalog: {fetched:?}");
        }
    }
    assert!(fetched.contains(&format!("/{VERSION}/catalog.yaml")), "{fetched:?}");
}
