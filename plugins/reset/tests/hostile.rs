//! Hostile snapshot files are refused with exit 2 and a message naming the file (the shared
//! reader's limits, through `plan -f`), and no secret of the bundled snapshots is ever printed.

#[test]
fn hostile_snapshots_are_refused_cleanly() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"));
    let tried = kubectl_flux_testkit::assert_refuses_hostile_input(bin, &["plan", "--all"]);
    assert_eq!(tried, 16);
}

#[test]
fn secrets_never_reach_the_output() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"));
    assert!(
        kubectl_flux_testkit::assert_never_prints_secrets(bin, &["plan", "--all"], &["table", "json", "yaml"]) >= 3
    );
}
