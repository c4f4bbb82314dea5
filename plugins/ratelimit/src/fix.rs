//! The cheapest fix per credential: the smallest interval changes that bring it under the
//! target, as `spec.interval` patches, or a switch to a GitHub App or OCI artifacts.

use crate::budget::{Auth, Budget, Spender};
use kubectl_flux_model::ObjectRef;
use kubectl_flux_model::duration::format_go;
use std::time::Duration;

/// Intervals people choose, shortest first: fixes round up to one of these.
const NICE: &[u64] = &[60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 14400, 43200, 86400];

/// One interval change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// The object.
    pub object: ObjectRef,
    /// Its interval now.
    pub from: Duration,
    /// The interval proposed.
    pub to: Duration,
    /// The cluster's kubeconfig context (fleet mode only).
    pub cluster: Option<String>,
}

impl Patch {
    /// The kubectl command that applies it.
    pub fn command(&self) -> String {
        let context = self.cluster.as_ref().map(|c| format!(" --context {c}")).unwrap_or_default();
        format!(
            "kubectl{context} patch {} {} -n {} --type merge -p '{{\"spec\":{{\"interval\":\"{}\"}}}}'",
            self.object.kind.to_ascii_lowercase(),
            self.object.name,
            self.object.namespace,
            format_go(self.to)
        )
    }
}

/// A fix for one budget.
#[derive(Debug, Clone)]
pub struct Fix {
    /// Interval patches, largest spenders first.
    pub patches: Vec<Patch>,
    /// Requests per hour once patched.
    pub per_hour_after: f64,
    /// Other ways out, in words.
    pub alternatives: Vec<String>,
}

/// The smallest uniform stretch of intervals that brings the budget under `target` of its
/// limit: sources are lengthened, most frequent first, to the next interval people use, until the
/// projection fits. `None` when the budget is already under target or unlimited.
pub fn plan(b: &Budget, target: f64) -> Option<Fix> {
    let limit = b.limit? as f64;
    let goal = limit * target;
    if b.per_hour <= goal {
        return None;
    }
    // (spender, interval, requests per hour, cost)
    let mut spenders: Vec<(&Spender, Duration, f64, u64)> =
        b.spenders.iter().filter_map(|s| Some((s, s.interval?, s.per_hour, s.cost))).collect();
    let fixed: f64 = b.spenders.iter().filter(|s| s.interval.is_none()).map(|s| s.per_hour).sum();
    let mut patches = Vec::new();
    let mut total = b.per_hour;
    // Raise the shortest intervals first, one nice step at a time, until the budget fits.
    while total > goal {
        let Some(shortest) = spenders.iter().map(|s| s.1).min() else { break };
        let Some(&next) = NICE.iter().find(|&&n| n > shortest.as_secs()) else { break };
        let next = Duration::from_secs(next);
        for s in spenders.iter_mut().filter(|s| s.1 == shortest) {
            s.1 = next;
            s.2 = 3600.0 / next.as_secs_f64() * s.3 as f64;
        }
        total = fixed + spenders.iter().map(|s| s.2).sum::<f64>();
    }
    for (spender, to, _, _) in &spenders {
        let from = spender.interval.unwrap_or(*to);
        if *to != from {
            patches.push(Patch { object: spender.object.clone(), from, to: *to, cluster: spender.cluster.clone() });
        }
    }
    patches.sort_by(|a, b| (a.from, &a.object, &a.cluster).cmp(&(b.from, &b.object, &b.cluster)));
    let mut alternatives = Vec::new();
    if b.key.auth != Auth::App && b.per_hour <= 12_500.0 * target {
        alternatives.push(format!(
            "or authenticate as a GitHub App: an installation allows 5,000-12,500 requests/h by organisation size (15,000 on Enterprise Cloud); {:.0}/h fits a large one",
            b.per_hour
        ));
    }
    alternatives.push(
        "or publish the manifests as OCI artifacts (OCIRepository): they cost no GitHub API requests".to_string(),
    );
    Some(Fix { patches, per_hour_after: total, alternatives })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Key;

    fn budget(n: usize, interval: u64) -> Budget {
        let spenders: Vec<Spender> = (0..n)
            .map(|i| Spender {
                object: ObjectRef::new("source.toolkit.fluxcd.io", "GitRepository", "ns", &format!("r{i:02}")),
                interval: Some(Duration::from_secs(interval)),
                per_hour: 3600.0 / interval as f64 * 5.0,
                cost: 5,
                cluster: None,
            })
            .collect();
        Budget {
            key: Key { host: "github.com".into(), auth: Auth::Token, id: "sha256:x".into() },
            secrets: vec![],
            token: None,
            per_hour: spenders.iter().map(|s| s.per_hour).sum(),
            spenders,
            limit: Some(5000),
            rate_limited: vec![],
            rate_limit_events: 0,
        }
    }

    #[test]
    fn stretches_the_shortest_intervals_to_fit_the_target() {
        // 56 repositories every minute at 5 requests = 16,800/h; 80% of 5,000 = 4,000/h.
        let fix = plan(&budget(56, 60), 0.8).unwrap();
        assert_eq!(fix.patches.len(), 56);
        assert!(fix.patches.iter().all(|p| p.to == Duration::from_secs(300)), "{:?}", fix.patches[0]);
        assert_eq!(fix.per_hour_after, 3360.0);
        assert!(fix.patches[0].command().ends_with("--type merge -p '{\"spec\":{\"interval\":\"5m0s\"}}'"));
        assert!(plan(&budget(10, 600), 0.8).is_none(), "300/h needs no fix");
    }
}
