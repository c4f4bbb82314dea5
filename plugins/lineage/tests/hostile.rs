//! Hostile snapshot files are refused with exit 2 and a message naming the file: no panic, no
//! hang, no unbounded memory (the shared reader's limits, exercised through this plugin).

#[test]
fn hostile_snapshots_are_refused_cleanly() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"));
    let tried = kubectl_flux_testkit::assert_refuses_hostile_input(bin, &["--cycles"]);
    assert_eq!(tried, 16);
}

#[test]
fn secrets_never_reach_the_output() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-flux_lineage"));
    assert!(
        kubectl_flux_testkit::assert_never_prints_secrets(
            bin,
            &["--cycles"],
            &["tree", "table", "wide", "json", "yaml", "tsv"]
        ) >= 6
    );
}
