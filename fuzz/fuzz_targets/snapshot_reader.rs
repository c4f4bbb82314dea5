//! Any bytes given to `-f`: an answer or a clear error, never a panic, a hang or unbounded memory.
#![no_main]

use kubectl_flux_model::Snapshot;
use kubectl_flux_source::offline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut snapshot = Snapshot::new();
    let _ = offline::read_bytes("fuzz", data, &mut snapshot);
});
