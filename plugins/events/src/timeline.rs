//! The timeline: Events and log lines as entries, filtered, deduplicated (same object, type,
//! reason and message up to its numbers: counts added, first and last seen kept, the latest
//! message shown), ordered by true time.

use crate::classify::{Class, classify};
use crate::logs;
use chrono::{DateTime, Utc};
use kubectl_flux_shared::ObjectRef;
use kubectl_flux_shared::event::Event;
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
    /// The cluster it happened in (fleet mode only).
    pub cluster: Option<String>,
}

impl Entry {
    /// Whether this is a Warning event or an error log line.
    pub fn is_warning(&self) -> bool {
        self.kind == "Warning" || self.kind == "error"
    }
}

/// An Event as an entry.
pub fn from_event(e: &Event) -> Entry {
    let object = e.subject.as_ref().filter(|s| !s.name.is_empty()).cloned();
    Entry {
        origin: "event",
        class: classify(&e.reason, &e.message),
        kind: e.kind.clone(),
        object,
        reason: e.reason.clone(),
        message: e.message.clone(),
        source: e.source.clone(),
        count: e.count.max(1),
        first: e.first.or(e.last),
        last: e.last,
        cluster: None,
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
        cluster: None,
    }
}

/// What makes two messages the same failure: the text with every number replaced, so retries
/// that differ only in a duration ("failed after 18.1ms"), a temporary directory
/// (`/tmp/kustomization-1442691636`) or a count merge, and without the prefix Kubernetes'
/// event recorder adds when it aggregates similar events.
fn sameness(message: &str) -> String {
    let message = message.strip_prefix("(combined from similar events): ").unwrap_or(message);
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    for c in message.chars() {
        let digit = c.is_ascii_digit() || (in_number && c == '.');
        if digit && !in_number {
            out.push('#');
        } else if !digit {
            out.push(c);
        }
        in_number = digit;
    }
    out
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
        let key = (e.object.clone(), e.kind.clone(), e.reason.clone(), sameness(&e.message));
        match self.index.get(&key) {
            Some(&i) => {
                let old = &mut self.entries[i];
                old.count += e.count;
                if e.last >= old.last {
                    old.message = e.message;
                }
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

#[cfg(test)]
mod tests {
    use super::sameness;

    #[test]
    fn retries_differing_only_in_numbers_are_the_same_failure() {
        let a = "Reconciliation failed after 18.154582ms, next try in 10s: kustomization path not found: stat /tmp/kustomization-1442691636/no-such-path";
        let b = "Reconciliation failed after 9ms, next try in 10s: kustomization path not found: stat /tmp/kustomization-77/no-such-path";
        assert_eq!(sameness(a), sameness(b));
        assert_eq!(sameness(&format!("(combined from similar events): {a}")), sameness(a));
        assert_ne!(sameness("dependency 'ns/a' is not ready"), sameness("dependency 'ns/b' is not ready"));
        assert_eq!(sameness("app-00150 v1.2.3"), "app-# v#");
    }
}
