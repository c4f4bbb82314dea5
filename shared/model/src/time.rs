//! The clock and how times are shown: relative ages in tables, RFC 3339 in json/yaml.

use chrono::{DateTime, Utc};

/// Environment variable that pins "now" (RFC 3339), so golden outputs and reproductions of an
/// incident snapshot show the same ages on every run.
pub const NOW_ENV: &str = "KUBECTL_FLUX_NOW";

/// The current time, or the time pinned by `KUBECTL_FLUX_NOW`.
pub fn now() -> Result<DateTime<Utc>, String> {
    match std::env::var(NOW_ENV) {
        Ok(text) => parse(&text).ok_or_else(|| format!("{NOW_ENV}={text:?} is not an RFC 3339 time")),
        Err(_) => Ok(Utc::now()),
    }
}

/// Parses an RFC 3339 timestamp as Kubernetes writes them (`2026-11-20T09:00:00Z`, with or
/// without fractional seconds).
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// A relative age as kubectl prints it (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`):
/// `45s`, `5m12s`, `3h10m`, `2d4h`, `400d`, `3y20d`.
pub fn human_age(seconds: i64) -> String {
    if seconds < 0 {
        return "<invalid>".to_string();
    }
    let (s, m, h) = (seconds, seconds / 60, seconds / 3600);
    if s < 60 * 2 {
        format!("{s}s")
    } else if m < 10 {
        match s % 60 {
            0 => format!("{m}m"),
            rem => format!("{m}m{rem}s"),
        }
    } else if m < 60 * 3 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            rem => format!("{h}h{rem}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{}d", h / 24),
            rem => format!("{}d{rem}h", h / 24),
        }
    } else if h < 24 * 365 * 2 {
        format!("{}d", h / 24)
    } else if h < 24 * 365 * 8 {
        let days = h / 24 % 365;
        match days {
            0 => format!("{}y", h / 24 / 365),
            d => format!("{}y{d}d", h / 24 / 365),
        }
    } else {
        format!("{}y", h / 24 / 365)
    }
}

/// Age of a timestamp relative to `now`, for tables.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    human_age((now - then).num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_match_kubectl() {
        assert_eq!(human_age(45), "45s");
        assert_eq!(human_age(119), "119s");
        assert_eq!(human_age(312), "5m12s");
        assert_eq!(human_age(600), "10m");
        assert_eq!(human_age(3 * 3600 + 600), "3h10m");
        assert_eq!(human_age(10 * 3600), "10h");
        assert_eq!(human_age(52 * 3600), "2d4h");
        assert_eq!(human_age(400 * 86400), "400d");
        assert_eq!(human_age(-1), "<invalid>");
    }
}
