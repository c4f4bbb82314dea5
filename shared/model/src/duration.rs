//! Go-style durations (`1m30s`, `10s`, `1h`), as Flux writes `spec.interval` and friends.

use std::time::Duration;

/// Parses a Go duration string exactly as Go's `time.ParseDuration` does (`[0-9]*(\.[0-9]*)?unit`
/// repeated; units ns, us, µs, μs, ms, s, m, h; at most 2^63-1 ns). Negative durations are
/// refused: no Flux interval or plugin flag can be negative.
///
/// Written here rather than taken from the go-parse-duration crate: fuzzing found that crate
/// panicking on non-ASCII text ("52μs" and more) and looping forever on
/// "2h.0h.04000000000000000000777347773", a hang on a user's typo.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?} (expected a Go duration such as 30s, 5m, 1h30m)");
    let mut s = text.trim().as_bytes();
    match s.first() {
        Some(b'-') => return Err(format!("invalid duration {text:?}: must not be negative")),
        Some(b'+') => s = &s[1..],
        _ => {}
    }
    if s == b"0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Whole part: digits, refusing overflow.
        let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut whole: u128 = 0;
        for &c in &s[..digits] {
            whole = whole * 10 + u128::from(c - b'0');
            if whole >= LIMIT {
                return Err(format!("invalid duration {text:?}: too large"));
            }
        }
        s = &s[digits..];
        // Fraction: digits after a dot; those beyond what can matter are read and dropped.
        let (mut fraction, mut scale, mut fraction_digits) = (0u128, 1u128, 0usize);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            fraction_digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
            for &c in &s[..fraction_digits] {
                if scale < 1_000_000_000_000_000_000 {
                    fraction = fraction * 10 + u128::from(c - b'0');
                    scale *= 10;
                }
            }
            s = &s[fraction_digits..];
        }
        if digits == 0 && fraction_digits == 0 {
            return Err(invalid());
        }
        // Unit: everything up to the next digit or dot.
        let unit_len = s.iter().take_while(|c| !(**c == b'.' || c.is_ascii_digit())).count();
        let unit: u128 = match &s[..unit_len] {
            b"ns" => 1,
            // us, µs (U+00B5 micro sign), μs (U+03BC Greek mu)
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            [] => return Err(format!("invalid duration {text:?}: missing unit")),
            _ => return Err(format!("invalid duration {text:?}: unknown unit")),
        };
        s = &s[unit_len..];
        let value = whole * unit + fraction * unit / scale;
        total += value;
        if total >= LIMIT {
            return Err(format!("invalid duration {text:?}: too large"));
        }
    }
    Ok(Duration::from_nanos(total as u64))
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
        // Go's own edge cases.
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1.s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse("+5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("1h2m3.004005006s").unwrap(), Duration::from_nanos(3_723_004_005_006));
        assert_eq!(parse("2562047h47m16.854775807s").unwrap(), Duration::from_nanos(i64::MAX as u64));
        assert!(parse("2562047h47m16.854775808s").unwrap_err().contains("too large"));
        assert!(parse("1").unwrap_err().contains("missing unit"));
        assert!(parse("1x").unwrap_err().contains("unknown unit"));
        assert!(parse(".s").is_err() && parse("s").is_err() && parse("1h-1m").is_err());
        // Found by fuzzing: the crate used before looped forever on this one.
        assert!(parse("2h.0h.04000000000000000000777347773").is_err());
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
