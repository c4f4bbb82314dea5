//! The command line of flux-mcp itself: its refusals before serving, `--version`, and its name
//! as a Flux CLI plugin.

mod common;

use common::bin;
use kubectl_flux_testkit::{example, run, run_with};

#[test]
fn bad_starts_are_refused_before_serving() {
    let r = run_with(bin(), &["--listen", "0.0.0.0:0"], &[("KUBECTL_FLUX_MCP_TOKEN", "")]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: flux-mcp: --listen 0.0.0.0:0: serving beyond loopback needs a bearer token ($KUBECTL_FLUX_MCP_TOKEN or --token-file)\n"
    );
    let r = run(bin(), &["-f", "no/such/incident.yaml"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (2, "error: flux-mcp: -f no/such/incident.yaml: no such file or directory\n")
    );
    let empty = tempfile::NamedTempFile::new().unwrap();
    let path = empty.path().display().to_string();
    let r = run(bin(), &["--listen", "127.0.0.1:0", "--token-file", &path]);
    assert_eq!((r.code, r.stderr.as_str()), (2, "error: flux-mcp: --token-file: the file is empty\n"));
    // A snapshot that exists is fine: the server starts and ends with its (empty) stdin.
    let r = run(bin(), &["-f", &example("demo")]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
}

#[test]
fn version_and_flux_plugin_name() {
    let r = run(bin(), &["--version"]);
    let prefix = format!("kubectl-flux_mcp {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(r.code == 0 && r.stdout.starts_with(&prefix), "{r:?}");
    // `flux mcp` runs $FLUXCD_PLUGINS/flux-mcp: the help names what the user typed.
    let dir = tempfile::tempdir().unwrap();
    let flux = dir.path().join("flux-mcp");
    std::os::unix::fs::symlink(bin(), &flux).unwrap();
    let help = run(&flux, &["--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(help.stdout.contains("\nUsage: flux mcp [OPTIONS]\n"), "{}", help.stdout);
    assert!(help.stdout.contains("\n  flux mcp --listen 127.0.0.1:8808\n"), "{}", help.stdout);
    assert!(!help.stdout.contains("kubectl flux-mcp"), "{}", help.stdout);
    assert_eq!(run(&flux, &["--version"]), r);
}
