//! The fuzz corpus (fuzz/corpus) and any crash the fuzzer ever saved (fuzz/artifacts), replayed on
//! stable through the same calls the fuzz targets make: every input is answered or refused,
//! none panics. `scripts/fuzz` grows the corpus; a crash fixed stays here as a regression.

use kubectl_flux_model::{Snapshot, duration};
use kubectl_flux_output::jq;
use kubectl_flux_source::offline;
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files: Vec<PathBuf> = ["corpus", "artifacts"]
        .iter()
        .flat_map(|d| std::fs::read_dir(fuzz.join(d).join(target)).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn snapshot_reader_corpus() {
    let files = inputs("snapshot_reader");
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let mut snapshot = Snapshot::new();
        let _ = offline::read_bytes("fuzz", &std::fs::read(&f).unwrap(), &mut snapshot);
    }
}

#[test]
fn duration_corpus() {
    let files = inputs("duration");
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let Ok(text) = String::from_utf8(std::fs::read(&f).unwrap()) else { continue };
        if let Ok(d) = duration::parse(&text) {
            let printed = duration::format_go(d);
            assert_eq!(duration::parse(&printed), Ok(d), "{}: {text:?} -> {printed:?}", f.display());
        }
    }
}

#[test]
fn jq_corpus() {
    let files = inputs("jq");
    assert!(files.len() >= 5, "{files:?}");
    for f in files {
        let Ok(text) = String::from_utf8(std::fs::read(&f).unwrap()) else { continue };
        let (expr, doc) = text.split_once('\n').unwrap_or((&text, "{\"items\":[{\"a\":1},{\"a\":\"x\"}]}"));
        // As the fuzz target: `halt` ends the process (as in jq).
        if expr.contains("halt") {
            continue;
        }
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(doc) else { continue };
        let _ = jq::run(&mut Vec::new(), expr, &doc);
    }
}
