//! What lineage shows of each node: health, suspension, revisions, last success, newest warning.

use chrono::{DateTime, Utc};
use kubectl_flux_graph::flux;
use kubectl_flux_graph::graph::Node;
use kubectl_flux_graph::health::State;
use kubectl_flux_model::event::Event;
use kubectl_flux_model::kinds::is_flux_group;
use kubectl_flux_model::{ObjectRef, Snapshot};
use serde_json::{Value, json};

/// Everything printed about one node.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// Identity.
    pub id: ObjectRef,
    /// Exists in the snapshot.
    pub exists: bool,
    /// Health state.
    pub state: State,
    /// Short reason.
    pub reason: String,
    /// Longer message.
    pub message: String,
    /// Flux `spec.suspend`.
    pub suspended: bool,
    /// Applied and attempted revisions (Flux objects).
    pub revisions: flux::Revisions,
    /// Newest evidence of a successful reconcile (Flux objects).
    pub last_success: Option<DateTime<Utc>>,
    /// Newest Warning event.
    pub warning: Option<Event>,
}

impl NodeInfo {
    /// Gathers the details of a graph node.
    pub fn of(snapshot: &Snapshot, node: &Node) -> Self {
        let obj = snapshot.get(&node.id);
        let events: Vec<Event> = snapshot.events_for(&node.id).cloned().collect();
        let warning = events.iter().filter(|e| e.is_warning()).max_by_key(|e| e.last).cloned();
        let mut info = NodeInfo {
            id: node.id.clone(),
            exists: node.exists,
            state: node.health.state,
            reason: node.health.reason.clone(),
            message: node.health.message.clone(),
            suspended: false,
            revisions: flux::Revisions::default(),
            last_success: None,
            warning,
        };
        if let Some(obj) = obj.filter(|o| is_flux_group(&o.id.group)) {
            info.suspended = flux::suspended(obj);
            info.revisions = flux::revisions(obj);
            info.last_success = kubectl_flux_graph::lastsuccess::of(snapshot, obj);
        }
        info
    }

    /// One-line summary for root-cause chains: `Kustomization flux-system/userapp not ready
    /// (HealthCheckFailed)`, `StorageClass fast-ssd NotFound`.
    pub fn summary(&self) -> String {
        let what = match self.state {
            State::Missing => "NotFound".to_string(),
            State::Unknown if !self.exists => "not in snapshot".to_string(),
            _ if is_flux_group(&self.id.group) => match self.state {
                State::Ready => "ready".to_string(),
                State::Suspended => "suspended".to_string(),
                State::Progressing => format!("reconciling ({})", self.reason),
                _ => format!("not ready ({})", self.reason),
            },
            _ => self.reason.clone(),
        };
        format!("{} {}", self.id, what)
    }

    /// The node as a JSON object (stable schema, RFC 3339 times).
    pub fn to_json(&self) -> Value {
        json!({
            "ref": node_ref(&self.id),
            "group": self.id.group,
            "kind": self.id.kind,
            "namespace": self.id.namespace,
            "name": self.id.name,
            "exists": self.exists,
            "state": self.state,
            "reason": self.reason,
            "message": self.message,
            "suspended": self.suspended,
            "revision": {"applied": self.revisions.applied, "attempted": self.revisions.attempted},
            "lastSuccess": self.last_success.map(rfc3339),
            "warning": self.warning.as_ref().map(|w| json!({
                "reason": w.reason,
                "message": w.message,
                "count": w.count,
                "lastSeen": w.last.map(rfc3339),
            })),
        })
    }
}

/// RFC 3339 with seconds, `Z` for UTC.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The reference string of a node in json/yaml: `Kind/namespace/name` or `Kind/name`.
pub fn node_ref(id: &ObjectRef) -> String {
    if id.namespace.is_empty() {
        format!("{}/{}", id.kind, id.name)
    } else {
        format!("{}/{}/{}", id.kind, id.namespace, id.name)
    }
}
