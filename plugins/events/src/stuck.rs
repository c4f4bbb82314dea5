//! Stuck detection: Flux objects that are not Ready and whose last successful reconcile is
//! older than a multiple of their interval, and reconciles that took longer than 300 s (the performance guide's
//! contention threshold, FLUX-FACTS "Thresholds").

use chrono::{DateTime, Utc};
use kubectl_flux_graph::{flux, lastsuccess};
use kubectl_flux_model::kinds::is_flux_group;
use kubectl_flux_model::{ObjectRef, Snapshot, time};
use std::collections::HashMap;
use std::time::Duration;

/// Reconciles longer than this mean resource contention.
pub const SLOW_RECONCILE: Duration = Duration::from_secs(300);

/// One stuck object and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Stuck {
    /// The object.
    pub object: ObjectRef,
    /// Why, in words.
    pub reason: String,
    /// Last success, when known.
    pub last_success: Option<DateTime<Utc>>,
    /// The cluster (fleet mode only).
    pub cluster: Option<String>,
}

/// Objects not reconciled successfully for `factor` intervals, and slow reconciles seen in logs.
pub fn find(snapshot: &Snapshot, now: DateTime<Utc>, factor: f64, slow: &HashMap<ObjectRef, Duration>) -> Vec<Stuck> {
    let go = kubectl_flux_model::duration::format_go;
    let mut out = Vec::new();
    for obj in snapshot.objects().iter().filter(|o| is_flux_group(&o.id.group)) {
        // A Ready object is not stuck: Flux does not record each successful reconcile, so an
        // old Ready transition only means nothing changed.
        if flux::suspended(obj) || kubectl_flux_graph::health::of(obj).state == kubectl_flux_graph::health::State::Ready
        {
            continue;
        }
        let Some(Ok(interval)) = flux::interval(obj) else { continue };
        let limit = chrono::Duration::milliseconds((interval.as_millis() as f64 * factor) as i64);
        let last = lastsuccess::of(snapshot, obj);
        let reason = match last {
            Some(t) if now - t > limit => Some(format!(
                "no successful reconcile for {} ({:.0}x its interval of {})",
                time::human_age((now - t).num_seconds()),
                (now - t).num_milliseconds() as f64 / interval.as_millis().max(1) as f64,
                go(interval)
            )),
            Some(_) => None,
            None => flux::condition(obj, "Ready").filter(|c| c.status == "False").and_then(|c| {
                let since = time::parse(&c.last_transition)?;
                (now - since > limit).then(|| {
                    format!(
                        "never seen succeeding; failing for {} ({})",
                        time::human_age((now - since).num_seconds()),
                        c.reason
                    )
                })
            }),
        };
        if let Some(reason) = reason {
            out.push(Stuck { object: obj.id.clone(), reason, last_success: last, cluster: None });
        }
    }
    for (object, d) in slow {
        if *d > SLOW_RECONCILE {
            out.push(Stuck {
                object: object.clone(),
                reason: format!("a reconcile took {} (over 300s: resource contention)", go(*d)),
                last_success: None,
                cluster: None,
            });
        }
    }
    out.sort_by(|a, b| a.object.cmp(&b.object).then(a.reason.cmp(&b.reason)));
    out
}
