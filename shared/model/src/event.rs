//! Kubernetes Events (core/v1 and events.k8s.io/v1) as the plugins read them. A snapshot keeps
//! its Events in this form, not as JSON trees: a cluster may hold hundreds of thousands, and a
//! tree costs several times the Event's text where this keeps only the fields read.

use crate::lenient::{Pick, Scalar};
use crate::object::{Object, ObjectRef, split_api_version};
use chrono::{DateTime, Utc};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;

/// The fields of an Event the plugins read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The Event's own identity.
    pub id: ObjectRef,
    /// What it is about: `involvedObject` (core/v1) or `regarding` (events.k8s.io/v1), the group
    /// taken from its `apiVersion`; a part it lacks is empty. `None` without either field.
    pub subject: Option<ObjectRef>,
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
        // Objects read as trees (YAML, a watch) are few: the copy costs nothing that matters.
        let raw = obj.raw.to_value();
        let fields = serde::Deserialize::deserialize(&raw).unwrap_or_else(|_: serde_json::Error| Fields::default());
        fields.into_event(obj.id.clone())
    }

    /// Reads an Event from its JSON text (an object the caller knows to be an Event with this
    /// identity) without building its tree.
    pub fn from_json(id: ObjectRef, text: &str) -> serde_json::Result<Self> {
        let fields: Fields = serde_json::from_str(text)?;
        Ok(fields.into_event(id))
    }

    /// Whether this is a Warning.
    pub fn is_warning(&self) -> bool {
        self.kind == "Warning"
    }

    /// The (kind, namespace, name) it is about, as its subject names them.
    pub fn about(&self) -> Option<(&str, &str, &str)> {
        self.subject.as_ref().map(|s| (s.kind.as_str(), s.namespace.as_str(), s.name.as_str()))
    }
}

/// Whether objects of this group and kind are Events.
pub fn is_event_kind(group: &str, kind: &str) -> bool {
    kind == "Event" && matches!(group, "" | "events.k8s.io")
}

/// The subject's keys, in the order [`Fields::into_event`] reads them.
const SUBJECT: Pick<4> = Pick(["apiVersion", "kind", "namespace", "name"]);

/// The fields [`Event`] is made from, as found in one pass over the Event (a key present with a
/// value of another type is `Some(Scalar::Other)`).
#[derive(Default)]
struct Fields<'a> {
    kind: Option<Scalar<'a>>,
    reason: Option<Scalar<'a>>,
    message: Option<Scalar<'a>>,
    note: Option<Scalar<'a>>,
    count: Option<Scalar<'a>>,
    deprecated_count: Option<Scalar<'a>>,
    first: Option<Scalar<'a>>,
    deprecated_first: Option<Scalar<'a>>,
    last: Option<Scalar<'a>>,
    deprecated_last: Option<Scalar<'a>>,
    event_time: Option<Scalar<'a>>,
    reporting_component: Option<Scalar<'a>>,
    reporting_controller: Option<Scalar<'a>>,
    /// `series.count`, `series.lastObservedTime`.
    series: [Option<Scalar<'a>>; 2],
    /// `source.component`.
    source: [Option<Scalar<'a>>; 1],
    involved_object: Option<[Option<Scalar<'a>>; 4]>,
    regarding: Option<[Option<Scalar<'a>>; 4]>,
}

impl Fields<'_> {
    fn into_event(self, id: ObjectRef) -> Event {
        let text = |v: Option<Scalar>| v.and_then(Scalar::text).map(Cow::into_owned);
        let time = |v: &Option<Scalar>| v.as_ref().and_then(Scalar::as_str).and_then(crate::time::parse);
        let [series_count, series_last] = self.series;
        let first = time(&self.first).or_else(|| time(&self.deprecated_first)).or_else(|| time(&self.event_time));
        let last = time(&series_last)
            .or_else(|| time(&self.last))
            .or_else(|| time(&self.deprecated_last))
            .or_else(|| time(&self.event_time))
            .or(first);
        // The first of these present decides, a value that is not a count counting once.
        let count = series_count.or(self.count).or(self.deprecated_count).and_then(|c| c.count()).unwrap_or(1);
        let message = text(self.message).or_else(|| text(self.note)).unwrap_or_default();
        let [component] = self.source;
        let source = text(component)
            .or_else(|| text(self.reporting_component))
            .or_else(|| text(self.reporting_controller))
            .unwrap_or_default();
        let subject = self.involved_object.or(self.regarding).map(|found| {
            let [api_version, kind, namespace, name] = found.map(|s| s.and_then(Scalar::text).unwrap_or_default());
            let (group, _) = split_api_version(&api_version);
            ObjectRef::new(group, &kind, &namespace, &name)
        });
        Event {
            id,
            subject,
            kind: text(self.kind).unwrap_or_default(),
            reason: text(self.reason).unwrap_or_default(),
            message,
            count,
            first,
            last: last.or(first),
            source,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an Event")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut f = Fields::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
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
                        "reportingComponent" => &mut f.reporting_component,
                        "reportingController" => &mut f.reporting_controller,
                        "series" => {
                            f.series = map.next_value_seed(Pick(["count", "lastObservedTime"]))?;
                            continue;
                        }
                        "source" => {
                            f.source = map.next_value_seed(Pick(["component"]))?;
                            continue;
                        }
                        "involvedObject" => {
                            f.involved_object = Some(map.next_value_seed(SUBJECT)?);
                            continue;
                        }
                        "regarding" => {
                            f.regarding = Some(map.next_value_seed(SUBJECT)?);
                            continue;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value::<Scalar<'de>>()?);
                }
                Ok(f)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

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

    #[test]
    fn the_subject_is_the_involved_object_or_what_it_regards() {
        let e = event(
            json!({"involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "apps"},
            "regarding": {"kind": "Pod", "namespace": "x", "name": "y"}}),
        );
        assert_eq!(e.subject, Some(ObjectRef::new("kustomize.toolkit.fluxcd.io", "Kustomization", "", "apps")));
        assert_eq!(e.about(), Some(("Kustomization", "", "apps")));
        let e = event(json!({"regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": "x", "name": 7}}));
        assert_eq!(e.subject, Some(ObjectRef::new("", "Pod", "x", "")));
        // Present but not a map: about nothing in particular, as the API server's field selector sees it.
        let e = event(json!({"involvedObject": null, "regarding": {"kind": "Pod", "name": "y"}}));
        assert_eq!(e.about(), Some(("", "", "")));
        assert_eq!(event(json!({})).subject, None);
        assert_eq!(event(json!({})).id, ObjectRef::new("", "Event", "apps", "e"));
    }

    #[test]
    fn text_and_tree_read_alike() {
        let texts = [
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e","namespace":"apps"},"type":"Warning","reason":"R","message":"a\nb","count":2,"series":{"count":"x"},"lastTimestamp":"2026-11-20T10:05:00Z","source":{"component":7},"reportingController":"c","involvedObject":{"kind":"GitRepository","name":"r","namespace":"apps","apiVersion":"source.toolkit.fluxcd.io/v1"}}"#,
            r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e"},"note":"n","reason":1,"reason":"last","deprecatedCount":-3,"eventTime":"2026-11-20T10:01:00.000000Z","series":[1],"regarding":"x"}"#,
            r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"count":4.0,"deprecatedCount":4,"firstTimestamp":"not a time","deprecatedFirstTimestamp":"2026-11-20T09:00:00Z"}"#,
        ];
        for text in texts {
            let object = Object::from_value(serde_json::from_str(text).unwrap()).unwrap();
            let from_tree = Event::from_object(&object);
            assert_eq!(Event::from_json(object.id.clone(), text).unwrap(), from_tree, "{text}");
        }
        let e = Event::from_json(ObjectRef::new("", "Event", "apps", "e"), texts[0]).unwrap();
        assert_eq!((e.message.as_str(), e.count, e.source.as_str()), ("a\nb", 1, "c"));
        let e = Event::from_json(ObjectRef::new("events.k8s.io", "Event", "", "e"), texts[1]).unwrap();
        assert_eq!((e.reason.as_str(), e.count, e.subject.is_some()), ("last", 1, true));
        let e = Event::from_json(ObjectRef::new("", "Event", "", "e"), texts[2]).unwrap();
        assert_eq!((e.count, e.first), (1, crate::time::parse("2026-11-20T09:00:00Z")));
    }
}
