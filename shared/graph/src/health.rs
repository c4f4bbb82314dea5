//! Readiness of any object in one word plus a short reason, the way an SRE would say it
//! ("0/1 ready", "Pending", "NotFound", "HealthCheckFailed").

use crate::flux;
use kubectl_flux_model::json::Json;
use kubectl_flux_model::kinds::is_flux_group;
use kubectl_flux_model::object::Object;
use serde::Serialize;

pub use kubectl_flux_model::state::State;

/// State plus the words that explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The state.
    pub state: State,
    /// Short reason (`HealthCheckFailed`, `0/1 ready`, `Pending`, `NotFound`).
    pub reason: String,
    /// Longer message where the object gives one (Ready condition message, pod waiting message).
    pub message: String,
}

impl Health {
    fn new(state: State, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Health { state, reason: reason.into(), message: message.into() }
    }

    /// The health of an object that is referenced but does not exist.
    pub fn missing() -> Self {
        Health::new(State::Missing, "NotFound", "")
    }

    /// The health of an object whose kind was not read (offline snapshot without it, or a kind
    /// the user may not list).
    pub fn unknown_kind() -> Self {
        Health::new(State::Unknown, "NotInSnapshot", "")
    }
}

/// Whether a Flux object is Ready for its current generation (suspended or not): a stale
/// Ready=True, judged at an older generation, does not count.
pub fn is_ready(obj: &Object) -> bool {
    matches!(of(obj).state, State::Ready | State::Suspended)
}

/// Judges an object.
pub fn of(obj: &Object) -> Health {
    if obj.terminating() {
        return Health::new(State::Progressing, "Terminating", "");
    }
    if is_flux_group(&obj.id.group) {
        return flux_health(obj);
    }
    match (obj.id.group.as_str(), obj.id.kind.as_str()) {
        ("apps", "Deployment") | ("apps", "StatefulSet") | ("apps", "ReplicaSet") => replicas(obj),
        ("apps", "DaemonSet") => {
            let want = int(obj, "/status/desiredNumberScheduled");
            let ready = int(obj, "/status/numberReady");
            ratio(ready, want)
        }
        ("", "Pod") => pod(obj),
        ("", "PersistentVolumeClaim") | ("", "PersistentVolume") => volume(obj),
        ("", "Namespace") => match obj.str_at("/status/phase") {
            Some("Terminating") => Health::new(State::Progressing, "Terminating", ""),
            _ => Health::new(State::Ready, "Active", ""),
        },
        ("batch", "Job") => job(obj),
        ("", "Node") => match flux::condition(obj, "Ready") {
            Some(c) if c.status == "True" => Health::new(State::Ready, "Ready", ""),
            Some(c) => Health::new(State::Failed, "NotReady", c.message),
            None => Health::new(State::Unknown, "NoStatus", ""),
        },
        _ => Health::new(State::Ready, "Exists", ""),
    }
}

fn flux_health(obj: &Object) -> Health {
    let ready = flux::condition(obj, "Ready");
    let stalled = flux::condition(obj, "Stalled").filter(|c| c.status == "True");
    let generation = obj.at("/metadata/generation").and_then(Json::as_i64);
    // The Ready condition's own observedGeneration first: it says which spec was judged.
    let observed = ready
        .as_ref()
        .and_then(|r| r.observed_generation)
        .or_else(|| obj.at("/status/observedGeneration").and_then(Json::as_i64));
    let health = match (ready, stalled) {
        (_, Some(s)) => Health::new(State::Failed, s.reason, s.message),
        (Some(r), None) if r.status == "True" => {
            if generation.is_some() && observed.is_some() && observed < generation {
                Health::new(State::Progressing, "NewGeneration", "spec changed, not yet reconciled")
            } else {
                Health::new(State::Ready, r.reason, r.message)
            }
        }
        (Some(r), None) if r.status == "False" => Health::new(State::Failed, r.reason, r.message),
        (Some(r), None) => Health::new(State::Progressing, r.reason, r.message),
        (None, None) => Health::new(State::Unknown, "NoStatus", "not reconciled yet"),
    };
    if flux::suspended(obj) && health.state == State::Ready {
        return Health::new(State::Suspended, "Suspended", health.message);
    }
    health
}

fn int(obj: &Object, pointer: &str) -> i64 {
    obj.at(pointer).and_then(Json::as_i64).unwrap_or(0)
}

fn ratio(ready: i64, want: i64) -> Health {
    let text = format!("{ready}/{want} ready");
    if ready >= want { Health::new(State::Ready, text, "") } else { Health::new(State::Failed, text, "") }
}

fn replicas(obj: &Object) -> Health {
    let want = obj.at("/spec/replicas").and_then(Json::as_i64).unwrap_or(1);
    let ready = int(obj, "/status/readyReplicas");
    let mut health = ratio(ready, want);
    if health.state == State::Failed {
        if let Some(c) = flux::condition(obj, "Progressing") {
            if c.reason == "ProgressDeadlineExceeded" {
                health.message = c.message;
            } else if c.status == "True" && ready > 0 {
                health.state = State::Progressing;
            }
        }
        if let Some(c) = flux::condition(obj, "ReplicaFailure").filter(|c| c.status == "True") {
            health.message = c.message;
        }
    }
    health
}

fn pod(obj: &Object) -> Health {
    let phase = obj.str_at("/status/phase").unwrap_or("Unknown");
    let statuses = obj.at("/status/containerStatuses").and_then(Json::as_array);
    for c in statuses.into_iter().flatten() {
        if let Some(w) = c.pointer("/state/waiting") {
            let reason = w.get("reason").and_then(Json::as_str).unwrap_or("Waiting");
            let message = w.get("message").and_then(Json::as_str).unwrap_or("");
            let last = c.pointer("/lastState/terminated/reason").and_then(Json::as_str);
            let message = match (message, last) {
                ("", Some(l)) => format!("last terminated: {l}"),
                (m, _) => m.to_string(),
            };
            let state = if reason == "ContainerCreating" || reason == "PodInitializing" {
                State::Progressing
            } else {
                State::Failed
            };
            return Health::new(state, reason, message);
        }
    }
    match phase {
        "Running" => match flux::condition(obj, "Ready") {
            Some(c) if c.status == "True" => Health::new(State::Ready, "Running", ""),
            _ => Health::new(State::Failed, "Running, not ready", ""),
        },
        "Succeeded" => Health::new(State::Ready, "Completed", ""),
        "Pending" => match flux::condition(obj, "PodScheduled").filter(|c| c.status == "False") {
            Some(c) => Health::new(State::Failed, format!("Pending ({})", c.reason), c.message),
            None => Health::new(State::Progressing, "Pending", ""),
        },
        other => Health::new(State::Failed, other.to_string(), obj.str_at("/status/message").unwrap_or("").to_string()),
    }
}

fn volume(obj: &Object) -> Health {
    match obj.str_at("/status/phase") {
        Some(p @ ("Bound" | "Available")) => Health::new(State::Ready, p, ""),
        Some(p) => Health::new(State::Failed, p, ""),
        None => Health::new(State::Unknown, "NoStatus", ""),
    }
}

fn job(obj: &Object) -> Health {
    for c in flux::conditions(obj) {
        if c.status == "True" && c.kind == "Complete" {
            return Health::new(State::Ready, "Complete", "");
        }
        if c.status == "True" && c.kind == "Failed" {
            return Health::new(State::Failed, c.reason, c.message);
        }
    }
    Health::new(State::Progressing, "Running", "")
}
