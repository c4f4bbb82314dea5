//! The timeline: Events and log lines as entries, filtered, deduplicated (same object, type,
//! reason and message: counts added, first and last seen kept), ordered by true time.

use crate::classify::{Class, classify};
use crate::logs;
use chrono::{DateTime, Utc};
use kubectl_flux_shared::event::Event;
use kubectl_flux_shared::{Object, ObjectRef};
use std::collections::HashMap;

/// One deduplicated entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `event` or `log`.
    pub origin: &'static str,
    /// Normal/Warning for events; info/error/debug/text for logs.
    pub kind: String,
    /// The object, when known.
    pub object: Option<ObjectRef>,
    /// Event reason; for log lines, the level.
    pub reason: String,
    /// Message.
    pub message: String,
    /// Reporting component or controller.
    pub source: String,
    /// Occurrences.
    pub count: u64,
    /// First seen.
    pub first: Option<DateTime<Utc>>,
    /// Last seen.
    pub last: Option<DateTime<Utc>>,
    /// Class of the message.
    pub class: Class,
}

impl Entry {
    /// Whether this is a Warning event or an error log line.
    pub fn is_warning(&self) -> bool {
        self.kind == "Warning" || self.kind == "error"
    }
}

/// An Event object as an entry.
pub fn from_event(obj: &Object) -> Entry {
    let e = Event::from_object(obj);
    let subject = obj.at("/involvedObject").or_else(|| obj.at("/regarding"));
    let s = |k: &str| subject.and_then(|v| v.get(k)).and_then(|v| v.as_str()).unwrap_or("");
    let (group, _) = kubectl_flux_shared::object::split_api_version(s("apiVersion"));
    let object = (!s("name").is_empty()).then(|| ObjectRef::new(group, s("kind"), s("namespace"), s("name")));
    Entry {
        origin: "event",
        class: classify(&e.reason, &e.message),
        kind: e.kind,
        object,
        reason: e.reason,
        message: e.message,
        source: e.source,
        count: e.count.max(1),
        first: e.first.or(e.last),
        last: e.last,
    }
}

/// A log line as an entry. Log lines name the object by kind; the group is the Flux group of
/// that kind when there is one.
pub fn from_log(line: logs::Line) -> Entry {
    let object = line.object.map(|(kind, ns, name)| {
        let group =
            kubectl_flux_shared::kinds::FLUX_KINDS.iter().find(|k| k.kind == kind).map(|k| k.group).unwrap_or("");
        ObjectRef::new(group, &kind, &ns, &name)
    });
    Entry {
        origin: "log",
        class: classify("", &line.message),
        kind: line.level.clone(),
        object,
        reason: line.level,
        message: line.message,
        source: line.controller,
        count: 1,
        first: line.time,
        last: line.time,
    }
}

/// Merges entries that say the same thing about the same object.
#[derive(Default)]
pub struct Dedup {
    entries: Vec<Entry>,
    index: HashMap<(Option<ObjectRef>, String, String, String), usize>,
}

impl Dedup {
    /// Adds an entry, merging it into an earlier identical one.
    pub fn add(&mut self, e: Entry) {
        let key = (e.object.clone(), e.kind.clone(), e.reason.clone(), e.message.clone());
        match self.index.get(&key) {
            Some(&i) => {
                let old = &mut self.entries[i];
                old.count += e.count;
                old.first = match (old.first, e.first) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                old.last = old.last.max(e.last);
            }
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(e);
            }
        }
    }

    /// The entries, oldest first (by last seen; undated entries first, in reading order).
    pub fn into_sorted(self) -> Vec<Entry> {
        let mut entries = self.entries;
        entries.sort_by_key(|a| a.last);
        entries
    }
}
