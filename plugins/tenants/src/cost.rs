//! What one Flux object costs the controllers per hour.
//!
//! Cost model (documented, deliberately simple):
//! - a source (GitRepository, OCIRepository, Bucket, HelmRepository, HelmChart) fetches its
//!   artifact once per interval: fetch load = `status.artifact.size` x 3600 / interval bytes/h
//!   (source-controller reconciles every `spec.interval` and, for Git, clones or fetches the
//!   revision: fluxcd/source-controller `gitrepository_controller.go`); a GitRepository makes
//!   one Git call per reconcile;
//! - every reconcile writes status and events: 2 API calls; a Kustomization also applies its
//!   inventory (server-side apply, one call per object: kustomize-controller `ssa`), a HelmRelease
//!   its release's objects (helm upgrade, one call per object);
//! - suspended objects cost nothing.

use kubectl_flux_graph::flux;
use kubectl_flux_graph::health::{self, State};
use kubectl_flux_model::kinds::{HELM_GROUP, KUSTOMIZE_GROUP, SOURCE_GROUP};
use kubectl_flux_model::{Object, ObjectRef};
use std::time::Duration;

/// API calls every reconcile makes besides applying objects (status patch, event).
pub const BASE_API_CALLS: f64 = 2.0;

/// One Flux object's load.
#[derive(Debug, Clone)]
pub struct Load {
    /// The object.
    pub id: ObjectRef,
    /// Its tenant.
    pub tenant: String,
    /// `spec.interval`.
    pub interval: Option<Duration>,
    /// Whether it is a source (has an artifact).
    pub is_source: bool,
    /// `status.artifact.size`, when the controller reports it.
    pub artifact_bytes: Option<u64>,
    /// Bytes fetched per hour (sources with a known size).
    pub fetch_bytes_per_hour: Option<f64>,
    /// Git calls per hour.
    pub git_calls_per_hour: f64,
    /// Kubernetes API calls per hour.
    pub api_calls_per_hour: f64,
    /// Ready=False or Stalled.
    pub failing: bool,
    /// lastAttemptedRevision != lastAppliedRevision.
    pub stalled: bool,
    /// `spec.suspend`.
    pub suspended: bool,
}

/// Whether an object is a Flux source with an artifact.
pub fn is_source(id: &ObjectRef) -> bool {
    id.group == SOURCE_GROUP && id.kind != "ExternalArtifact"
}

/// Computes the load of one Flux object. `applied` is the number of objects it applies per
/// reconcile (inventory or Helm manifest size). Errors name the object and field.
pub fn of(obj: &Object, tenant: String, applied: usize) -> Result<Load, String> {
    let interval = flux::interval(obj).transpose()?;
    let suspended = flux::suspended(obj);
    let per_hour = match interval {
        Some(i) if !suspended && !i.is_zero() => 3600.0 / i.as_secs_f64(),
        _ => 0.0,
    };
    let source = is_source(&obj.id);
    let artifact_bytes =
        if source { obj.at("/status/artifact/size").and_then(kubectl_flux_model::Json::as_u64) } else { None };
    let fetch = if source { artifact_bytes.map(|b| b as f64 * per_hour) } else { None };
    let git = if obj.id.kind == "GitRepository" { per_hour } else { 0.0 };
    let applies = match obj.id.group.as_str() {
        KUSTOMIZE_GROUP | HELM_GROUP => applied as f64,
        _ => 0.0,
    };
    let state = health::of(obj).state;
    Ok(Load {
        id: obj.id.clone(),
        tenant,
        interval,
        is_source: source,
        artifact_bytes,
        fetch_bytes_per_hour: fetch,
        git_calls_per_hour: git,
        api_calls_per_hour: per_hour * (BASE_API_CALLS + applies),
        failing: state == State::Failed,
        stalled: flux::revisions(obj).stalled(),
        suspended,
    })
}
