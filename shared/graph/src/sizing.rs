//! Sizing advice from the scale table of Flux's performance troubleshooting guide
//! (FLUX-FACTS.md, "Controller sizing table"): what each controller needs at a number of apps.

use serde::Serialize;
use std::time::Duration;

/// One row of the guide's scale table.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Band {
    /// The band's name, e.g. `50-200 apps`.
    pub scale: &'static str,
    /// Controllers to run.
    pub controllers: &'static str,
    /// Memory per controller.
    pub memory_per_controller: &'static str,
    /// CPU per controller.
    pub cpu_per_controller: &'static str,
    /// Recommended sync interval.
    #[serde(serialize_with = "ser_go")]
    pub interval: Duration,
    /// Repositories per controller at most.
    pub max_repos: &'static str,
    /// Whether sharding is needed.
    pub sharded: bool,
}

impl Band {
    /// Memory per controller, bytes (the guide's MB and GB are decimal).
    pub fn memory_bytes(&self) -> f64 {
        let (number, unit) = self.memory_per_controller.split_at(self.memory_per_controller.len() - 2);
        let scale = if unit == "GB" { 1e9 } else { 1e6 };
        number.parse::<f64>().unwrap_or(0.0) * scale
    }

    /// CPU per controller, millicores.
    pub fn cpu_millis(&self) -> f64 {
        self.cpu_per_controller.trim_end_matches('m').parse().unwrap_or(0.0)
    }

    /// Shards beside the four default controllers: none below 200 apps, then two (6
    /// controllers), then four (8 or more).
    pub fn shards(&self) -> usize {
        let total: usize = self
            .controllers
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(4);
        total.saturating_sub(4)
    }
}

fn ser_go<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&kubectl_flux_model::duration::format_go(*d))
}

const BANDS: [(usize, Band); 4] = [
    (
        50,
        Band {
            scale: "< 50 apps",
            controllers: "default (4)",
            memory_per_controller: "100MB",
            cpu_per_controller: "100m",
            interval: Duration::from_secs(60),
            max_repos: "10",
            sharded: false,
        },
    ),
    (
        200,
        Band {
            scale: "50-200 apps",
            controllers: "default (4)",
            memory_per_controller: "500MB",
            cpu_per_controller: "200m",
            interval: Duration::from_secs(120),
            max_repos: "20",
            sharded: false,
        },
    ),
    (
        500,
        Band {
            scale: "200-500 apps",
            controllers: "sharded (6)",
            memory_per_controller: "1GB",
            cpu_per_controller: "300m",
            interval: Duration::from_secs(300),
            max_repos: "40",
            sharded: true,
        },
    ),
    (
        usize::MAX,
        Band {
            scale: "500+ apps",
            controllers: "sharded (8+)",
            memory_per_controller: "2GB",
            cpu_per_controller: "500m",
            interval: Duration::from_secs(900),
            max_repos: "80+",
            sharded: true,
        },
    ),
];

/// The band for a number of applications (Kustomizations + HelmReleases).
pub fn band(apps: usize) -> Band {
    BANDS.iter().find(|(limit, _)| apps < *limit).map(|(_, b)| *b).unwrap_or(BANDS[3].1)
}

/// Share of objects Ready=False above which the guide calls the problem systemic.
pub const SYSTEMIC_FAILING_SHARE: f64 = 0.10;
/// Applications per repository beyond which Git performance degrades.
pub const APPS_PER_REPO: usize = 20;
/// Artifact size above which reconciliation slows (10 MB).
pub const SLOW_MANIFESTS: u64 = 10 * 1000 * 1000;
/// Artifact size above which the guide says to move to OCI artifacts (100 MB).
pub const MOVE_TO_OCI: u64 = 100 * 1000 * 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_guide() {
        assert_eq!(band(0).scale, "< 50 apps");
        assert_eq!(band(49).scale, "< 50 apps");
        assert_eq!(band(50).scale, "50-200 apps");
        assert_eq!(band(200).scale, "200-500 apps");
        assert_eq!(band(10_000).controllers, "sharded (8+)");
    }
}

#[cfg(test)]
mod figures {
    use super::*;

    #[test]
    fn bands_give_their_figures_as_numbers() {
        let b = band(600);
        assert_eq!((b.memory_bytes(), b.cpu_millis(), b.shards()), (2e9, 500.0, 4));
        let b = band(10);
        assert_eq!((b.memory_bytes(), b.cpu_millis(), b.shards()), (1e8, 100.0, 0));
        assert_eq!(band(300).shards(), 2);
    }
}
