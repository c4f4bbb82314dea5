//! flux-lineage on a generated 10,000-app snapshot: the planted incidents are found. A test
//! binary of its own, so this CPU- and memory-heavy run never shares the machine with a
//! devcluster starting Flux's controllers in the live tests.

use kubectl_flux_testkit::run;
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"))
}

#[test]
fn the_ten_thousand_app_scenario_finds_its_planted_incidents() {
    let tmp = tempfile::tempdir().unwrap();
    devcluster::scale::generate(10_000, 200, 1, tmp.path()).unwrap();
    let snapshot = tmp.path().join("snapshot.json").display().to_string();
    let r = run(bin(), &["--cycles", "-f", &snapshot, "-o", "json", "--jq", ".cycles[].objects | join(\" \")"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Kustomization/tenant-003/app-00150 Kustomization/tenant-003/app-00151 Kustomization/tenant-003/app-00152\n"
    );
    let r = run(bin(), &["--why", "sts/app-00250-cache", "-n", "tenant-005", "-f", &snapshot]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("<- StorageClass fast-ssd NotFound"), "{}", r.stdout);
}
