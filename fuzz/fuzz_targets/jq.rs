//! Any `--jq` expression (first line) over any JSON document (the rest): an output or a clear
//! error, never a panic. Expressions that may legitimately run forever (recursion, `repeat`,
//! `range`, `while`, `until`, `limit`) are left out, as jq itself would loop on them too, and
//! so is `halt`, which ends the process as it does in jq.
#![no_main]

use kubectl_flux_output::jq;
use libfuzzer_sys::fuzz_target;

const UNBOUNDED: &[&str] = &["def", "repeat", "recurse", "range", "while", "until", "limit", "..", "input", "$__loc__", "halt"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (expr, doc) = text.split_once('\n').unwrap_or((text, "{\"items\":[{\"a\":1},{\"a\":\"x\"}]}"));
    if expr.len() > 80 || UNBOUNDED.iter().any(|w| expr.contains(w)) {
        return;
    }
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(doc) else { return };
    let mut out = Vec::new();
    let _ = jq::run(&mut out, expr, &doc);
});
