//! A typed view of Kubernetes Events (core/v1 and events.k8s.io/v1).

use crate::object::Object;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The fields of an Event the plugins read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub kind: String,
    /// Reason (`HealthCheckFailed`).
    pub reason: String,
    /// Message (`note` in events.k8s.io/v1).
    pub message: String,
    /// How many times it happened (`count`, or `series.count`).
    pub count: u64,
    /// First seen.
    pub first: Option<DateTime<Utc>>,
    /// Last seen: the true time of the newest occurrence.
    pub last: Option<DateTime<Utc>>,
    /// The component that reported it.
    pub source: String,
}

impl Event {
    /// Reads an Event object. The time is the true occurrence time: `series.lastObservedTime`,
    /// `lastTimestamp`, `eventTime`, `deprecatedLastTimestamp`, then `firstTimestamp`; never
    /// `creationTimestamp`.
    pub fn from_object(obj: &Object) -> Self {
        let s = |p: &str| obj.str_at(p).unwrap_or("").to_string();
        let t = |p: &str| obj.str_at(p).and_then(crate::time::parse);
        let first = t("/firstTimestamp").or_else(|| t("/deprecatedFirstTimestamp")).or_else(|| t("/eventTime"));
        let last = t("/series/lastObservedTime")
            .or_else(|| t("/lastTimestamp"))
            .or_else(|| t("/deprecatedLastTimestamp"))
            .or_else(|| t("/eventTime"))
            .or(first);
        let count = obj
            .at("/series/count")
            .or_else(|| obj.at("/count"))
            .or_else(|| obj.at("/deprecatedCount"))
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let message = obj.str_at("/message").or_else(|| obj.str_at("/note")).unwrap_or("").to_string();
        let source = obj
            .str_at("/source/component")
            .or_else(|| obj.str_at("/reportingComponent"))
            .or_else(|| obj.str_at("/reportingController"))
            .unwrap_or("")
            .to_string();
        Event { kind: s("/type"), reason: s("/reason"), message, count, first, last: last.or(first), source }
    }

    /// Whether this is a Warning.
    pub fn is_warning(&self) -> bool {
        self.kind == "Warning"
    }
}
