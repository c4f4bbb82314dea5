//! Go-style durations (`1m30s`, `10s`, `1h`), as Flux writes `spec.interval` and friends.

use std::time::Duration;

/// Parses a Go duration string (`time.ParseDuration` syntax) with the go-parse-duration crate.
/// Negative durations are refused: no Flux interval or plugin flag can be negative.
pub fn parse(text: &str) -> Result<Duration, String> {
    let nanos = go_parse_duration::parse_duration(text.trim())
        .map_err(|_| format!("invalid duration {text:?} (expected a Go duration such as 30s, 5m, 1h30m)"))?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("invalid duration {text:?}: must not be negative"))
}

/// Formats a duration the way Go's `time.Duration.String` does for whole seconds (`1h0m0s`,
/// `5m0s`, `10s`), falling back to milliseconds below a second.
pub fn format_go(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return match d.as_millis() {
            0 => "0s".to_string(),
            ms => format!("{ms}ms"),
        };
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
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
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go(Duration::from_secs(300)), "5m0s");
        assert_eq!(format_go(Duration::from_secs(10)), "10s");
        assert_eq!(format_go(Duration::from_millis(250)), "250ms");
    }
}
