//! When a Flux object last reconciled successfully, from what the cluster shows: the Ready
//! condition's transition to True, a source's artifact update, or the newest success Event.

use crate::flux;
use chrono::{DateTime, Utc};
use kubectl_flux_model::kinds::is_flux_group;
use kubectl_flux_model::{Object, Snapshot, time};

/// Reasons of Normal events that Flux controllers emit on success.
pub const SUCCESS_REASONS: &[&str] = &[
    "ReconciliationSucceeded",
    "Succeeded",
    "NewArtifact",
    "ArtifactUpToDate",
    "ChartPackageSucceeded",
    "ChartPullSucceeded",
    "InstallSucceeded",
    "UpgradeSucceeded",
];

/// The newest evidence of a successful reconcile of a Flux object, if any.
pub fn of(snapshot: &Snapshot, obj: &Object) -> Option<DateTime<Utc>> {
    if !is_flux_group(&obj.id.group) {
        return None;
    }
    let ready =
        flux::condition(obj, "Ready").filter(|c| c.status == "True").and_then(|c| time::parse(&c.last_transition));
    let artifact = obj.str_at("/status/artifact/lastUpdateTime").and_then(time::parse);
    let event = snapshot
        .events_for(&obj.id)
        .filter(|e| !e.is_warning() && SUCCESS_REASONS.contains(&e.reason.as_str()))
        .filter_map(|e| e.last)
        .max();
    [ready, artifact, event].into_iter().flatten().max()
}
