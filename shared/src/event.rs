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
    /// `creationTimestamp`. One pass over the Event's fields (plugins read every Event of a
    /// cluster; a lookup per field would hash each name again).
    pub fn from_object(obj: &Object) -> Self {
        let mut f = Fields::default();
        if let Value::Object(map) = &obj.raw {
            for (key, value) in map {
                let slot = match key.as_str() {
                    "type" => &mut f.kind,
                    "reason" => &mut f.reason,
                    "message" => &mut f.message,
                    "note" => &mut f.note,
                    "count" => &mut f.count,
                    "deprecatedCount" => &mut f.deprecated_count,
                    "firstTimestamp" => &mut f.first,
                    "deprecatedFirstTimestamp" => &mut f.deprecated_first,
                    "lastTimestamp" => &mut f.last,
                    "deprecatedLastTimestamp" => &mut f.deprecated_last,
                    "eventTime" => &mut f.event_time,
                    "series" => &mut f.series,
                    "source" => &mut f.source,
                    "reportingComponent" => &mut f.reporting_component,
                    "reportingController" => &mut f.reporting_controller,
                    _ => continue,
                };
                *slot = Some(value);
            }
        }
        let series = |k: &str| f.series.and_then(|s| s.get(k));
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let time = |v: Option<&Value>| v.and_then(Value::as_str).and_then(crate::time::parse);
        let first = time(f.first).or_else(|| time(f.deprecated_first)).or_else(|| time(f.event_time));
        let last = time(series("lastObservedTime"))
            .or_else(|| time(f.last))
            .or_else(|| time(f.deprecated_last))
            .or_else(|| time(f.event_time))
            .or(first);
        let count = series("count").or(f.count).or(f.deprecated_count).and_then(Value::as_u64).unwrap_or(1);
        let message = text(f.message).or_else(|| text(f.note)).unwrap_or_default();
        let source = text(f.source.and_then(|s| s.get("component")))
            .or_else(|| text(f.reporting_component))
            .or_else(|| text(f.reporting_controller))
            .unwrap_or_default();
        Event {
            kind: text(f.kind).unwrap_or_default(),
            reason: text(f.reason).unwrap_or_default(),
            message,
            count,
            first,
            last: last.or(first),
            source,
        }
    }

    /// Whether this is a Warning.
    pub fn is_warning(&self) -> bool {
        self.kind == "Warning"
    }
}

/// The fields [`Event::from_object`] reads, found in one pass.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<&'a Value>,
    reason: Option<&'a Value>,
    message: Option<&'a Value>,
    note: Option<&'a Value>,
    count: Option<&'a Value>,
    deprecated_count: Option<&'a Value>,
    first: Option<&'a Value>,
    deprecated_first: Option<&'a Value>,
    last: Option<&'a Value>,
    deprecated_last: Option<&'a Value>,
    event_time: Option<&'a Value>,
    series: Option<&'a Value>,
    source: Option<&'a Value>,
    reporting_component: Option<&'a Value>,
    reporting_controller: Option<&'a Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(fields: Value) -> Event {
        let mut raw = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "apps"}});
        raw.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        Event::from_object(&Object::from_value(raw).unwrap())
    }

    #[test]
    fn core_events_take_their_true_time_and_count() {
        let e = event(json!({
            "type": "Warning", "reason": "BackOff", "message": "m", "count": 3,
            "firstTimestamp": "2026-11-20T10:00:00Z", "lastTimestamp": "2026-11-20T10:05:00Z",
            "series": {"count": 9, "lastObservedTime": "2026-11-20T10:09:00.000000Z"},
            "source": {"component": "kubelet"}, "reportingComponent": "other",
            "metadata": {"name": "e", "namespace": "apps", "creationTimestamp": "2026-11-20T11:00:00Z"}
        }));
        assert_eq!(
            (e.kind.as_str(), e.reason.as_str(), e.message.as_str(), e.source.as_str()),
            ("Warning", "BackOff", "m", "kubelet")
        );
        assert_eq!(e.count, 9);
        assert_eq!(e.first, crate::time::parse("2026-11-20T10:00:00Z"));
        assert_eq!(e.last, crate::time::parse("2026-11-20T10:09:00Z"));
        assert!(e.is_warning());
    }

    #[test]
    fn events_k8s_io_fields_and_fallbacks() {
        let e = event(json!({
            "type": "Normal", "reason": "Synced", "note": "n", "deprecatedCount": 4,
            "eventTime": "2026-11-20T10:01:00.000000Z", "deprecatedFirstTimestamp": "2026-11-20T09:00:00Z",
            "reportingController": "kustomize-controller"
        }));
        assert_eq!((e.message.as_str(), e.source.as_str(), e.count), ("n", "kustomize-controller", 4));
        assert_eq!(e.first, crate::time::parse("2026-11-20T09:00:00Z"));
        assert_eq!(e.last, crate::time::parse("2026-11-20T10:01:00Z"));
        // Nothing but a first time: last is the first; a null count counts once.
        let e = event(json!({"firstTimestamp": "2026-11-20T10:00:00Z", "count": null, "deprecatedCount": 5}));
        assert_eq!((e.last, e.count), (e.first, 1));
        assert!(e.first.is_some() && !e.is_warning());
        let e = event(json!({}));
        assert_eq!((e.first, e.last, e.count, e.message.as_str()), (None, None, 1, ""));
    }
}
