//! The floor of the offline benchmarks (`scripts/bench`): read a snapshot file and parse it with
//! serde_json, doing nothing else. No plugin can answer faster than it can read its input.
//!
//! `parse_floor value FILE` builds one `serde_json::Value` of the whole file (what `jq` and
//! `json.load` do); `parse_floor syntax FILE` only checks the syntax (`serde::de::IgnoredAny`).
//! It allocates with mimalloc, as the plugins do, so that the ratios compare parsing, not
//! allocators.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (mode, path) = match args.as_slice() {
        [_, mode, path] if mode == "value" || mode == "syntax" => (mode.as_str(), path),
        _ => {
            eprintln!("usage: parse_floor value|syntax FILE");
            return std::process::ExitCode::from(2);
        }
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let parsed = if mode == "value" {
        // Not freed: the process ends here, and freeing is not parsing.
        serde_json::from_slice::<serde_json::Value>(&bytes).map(|v| std::mem::ManuallyDrop::new(v).is_object())
    } else {
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map(|_| true)
    };
    match parsed {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
