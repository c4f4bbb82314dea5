//! Golden outputs of `flux-reset plan` on the bundled corrupted-state snapshot, offline: every
//! API call a reset would make, in order. `UPDATE_GOLDEN=1 cargo test -p kubectl-flux-reset
//! --test golden` rewrites them.

use kubectl_flux_testkit::{assert_golden, example, root, run};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"))
}

fn case(name: &str, args: &[&str], code: i32) {
    let file = example("corrupted-state");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-f", &file]);
    let r = run(bin(), &all);
    assert_eq!(r.code, code, "{name}: {}", r.stderr);
    assert_golden(&root().join("plugins/reset/tests/golden/corrupted-state"), name, &r);
}

#[test]
fn plan_prints_every_call_of_a_cluster_wide_reset() {
    case("plan-all", &["plan", "--all"], 0);
    // `plan` is the default subcommand.
    case("plan-all", &["--all"], 0);
    case("plan-all.json", &["plan", "--all", "-o", "json"], 0);
}

#[test]
fn plan_follows_the_scope() {
    case("plan-shop", &["plan", "-n", "shop", "--dir", "/var/backups/reset-1"], 0);
    case("plan-kustomizations", &["plan", "-n", "shop,flux-system", "--kind", "ks", "--timeout", "2m"], 0);
    case("plan-selector-none", &["plan", "--all", "-l", "team=nobody"], 0);
}
