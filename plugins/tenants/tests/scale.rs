//! flux-tenants on a generated 10,000-app snapshot: the planted incidents are found. A test
//! binary of its own, so this CPU- and memory-heavy run never shares the machine with a
//! devcluster starting Flux's controllers in the live tests.

use kubectl_flux_testkit::run;
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_tenants"))
}

#[test]
fn the_ten_thousand_app_scenario_ranks_its_planted_guilty_tenant_first() {
    let tmp = tempfile::tempdir().unwrap();
    devcluster::scale::generate(10_000, 200, 1, tmp.path()).unwrap();
    let snapshot = tmp.path().join("snapshot.json").display().to_string();
    let r = run(bin(), &["-f", &snapshot, "-o", "tsv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 200);
    assert!(r.stdout.starts_with("tenant-007\t65\t10\t"), "{}", &r.stdout[..200]);
}
