//! Any text as a Go duration: parsed or refused, never a panic; what parses prints and parses
//! back to the same duration.
#![no_main]

use kubectl_flux_model::duration;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(d) = duration::parse(text) {
        let printed = duration::format_go(d);
        assert_eq!(duration::parse(&printed), Ok(d), "{text:?} -> {printed:?}");
    }
});
