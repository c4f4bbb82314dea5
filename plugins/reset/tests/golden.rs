//! Golden outputs of `flux-reset plan` on the bundled corrupted-state snapshot, offline: every
//! API call a reset would make, in order. `UPDATE_GOLDEN=1 cargo test -p kubectl-flux-reset
//! --test golden` rewrites them.

use kubectl_flux_testkit::{assert_golden, example, root, run};
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"))
}

fn case(name: &str, args: &[&str], code: i32) {
    case_of("corrupted-state", name, args, code);
}

fn case_of(scenario: &str, name: &str, args: &[&str], code: i32) {
    let file = example(scenario);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-f", &file]);
    let r = run(bin(), &all);
    assert_eq!(r.code, code, "{name}: {}", r.stderr);
    assert_golden(&root().join("plugins/reset/tests/golden").join(scenario), name, &r);
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

/// What a ResourceSet or the FluxInstance generated is reset with its generator held: the plan
/// holds it before suspending anything and releases it after resuming, and says so per object.
/// The flux-operator's own kinds are never reset.
#[test]
fn plan_holds_what_the_flux_operator_generated() {
    let s = "flux-operator";
    case_of(s, "plan-apps", &["plan", "-n", "apps"], 0);
    case_of(s, "plan-apps.json", &["plan", "-n", "apps", "-o", "json"], 0);
    case_of(s, "plan-flux-system", &["plan", "-n", "flux-system"], 0);
    case_of(s, "kind-resourceset", &["plan", "-n", "apps", "--kind", "rset"], 2);
}
