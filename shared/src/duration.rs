//! Go-style durations (`1m30s`, `10s`, `1h`), as Flux writes `spec.interval` and friends.

use std::time::Duration;

/// Parses a Go duration string (`time.ParseDuration` syntax) with the go-parse-duration crate.
/// Negative durations are refused: no Flux interval or plugin flag can be negative.
pub fn parse(text: &str) -> Result<Duration, String> {
    // go-parse-duration mixes byte and character positions and panics on text that is not
    // ASCII (found by fuzzing: "52μs\0\0"); Go's micro signs become "us", anything else that
    // is not ASCII cannot be a duration.
    let ascii = text.trim().replace(['µ', 'μ'], "u");
    if !ascii.is_ascii() {
        return Err(format!("invalid duration {text:?} (expected a Go duration such as 30s, 5m, 1h30m)"));
    }
    let nanos = go_parse_duration::parse_duration(&ascii)
        .map_err(|_| format!("invalid duration {text:?} (expected a Go duration such as 30s, 5m, 1h30m)"))?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("invalid duration {text:?}: must not be negative"))
}

/// Formats a duration exactly as Go's `time.Duration.String` does: `1h0m0s`, `5m0s`, `10s`,
/// `1m30.5s`, `250ms`, `1.5µs`, `800ns`, `0s`.
pub fn format_go(d: Duration) -> String {
    let nanos = d.as_nanos();
    match nanos {
        0 => return "0s".to_string(),
        n if n < 1_000 => return format!("{n}ns"),
        n if n < 1_000_000 => return format!("{}µs", decimal(n, 3)),
        n if n < 1_000_000_000 => return format!("{}ms", decimal(n, 6)),
        _ => {}
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, secs / 60 % 60);
    let s = decimal(u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()), 9);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// `value / 10^digits` with its fraction, trailing zeros dropped: (1500, 3) -> `1.5`.
fn decimal(value: u128, digits: u32) -> String {
    let unit = 10u128.pow(digits);
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:0width$}", width = digits as usize);
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// A clap value parser for duration flags.
pub fn parse_flag(text: &str) -> Result<Duration, String> {
    parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("300ms").unwrap(), Duration::from_millis(300));
        assert!(parse("banana").unwrap_err().contains("\"banana\""));
        assert!(parse("-5m").unwrap_err().contains("negative"));
        assert!(parse("").is_err());
        // Go's three spellings of microseconds; other non-ASCII text is refused, not a panic.
        assert_eq!(parse("5µs").unwrap(), Duration::from_micros(5));
        assert_eq!(parse("5μs").unwrap(), Duration::from_micros(5));
        assert_eq!(parse("5us").unwrap(), Duration::from_micros(5));
        assert!(parse("52μs\0\0").is_err());
        assert!(parse("1hé").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go(Duration::from_secs(300)), "5m0s");
        assert_eq!(format_go(Duration::from_secs(10)), "10s");
        assert_eq!(format_go(Duration::from_millis(250)), "250ms");
        assert_eq!(format_go(Duration::from_millis(90_500)), "1m30.5s");
        assert_eq!(format_go(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(format_go(Duration::from_nanos(800)), "800ns");
        // Found by fuzzing: the fraction of a large duration was dropped.
        assert_eq!(format_go(parse("256204h477m16.854775807s").unwrap()), "256211h57m16.854775807s");
    }
}
