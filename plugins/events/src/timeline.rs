//! The timeline: Events and log lines as entries, filtered, deduplicated (same object, type,
//! reason and message up to its numbers: counts added, first and last seen kept, the latest
//! message shown), ordered by true time.

use crate::classify::{Class, classify};
use crate::logs;
use chrono::{DateTime, Utc};
use kubectl_flux_model::ObjectRef;
use kubectl_flux_model::event::Event;
use kubectl_flux_model::snapshot::FastMap;

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
            kubectl_flux_model::kinds::FLUX_KINDS.iter().find(|k| k.kind == kind).map(|k| k.group).unwrap_or("");
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

/// Writes what makes two messages the same failure: the text with every number replaced, so retries
/// that differ only in a duration ("failed after 18.1ms"), a temporary directory
/// (`/tmp/kustomization-1442691636`) or a count merge, and without the prefix Kubernetes'
/// event recorder adds when it aggregates similar events. Written at the end of `out`.
fn push_sameness(out: &mut String, message: &str) {
    let message = message.strip_prefix("(combined from similar events): ").unwrap_or(message);
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
}

/// What makes two entries one: object, type, reason and the message's sameness, in one
/// string (each part after its length, so no text of one part can pass for another): a million
/// log lines are looked up without building a key of seven strings for each.
fn dedup_key(e: &Entry) -> String {
    let mut key = String::with_capacity(96 + e.message.len());
    let mut part = |text: &str| {
        key.push_str(&text.len().to_string());
        key.push(':');
        key.push_str(text);
    };
    match &e.object {
        Some(o) => [o.group.as_str(), &o.kind, &o.namespace, &o.name].into_iter().for_each(&mut part),
        None => part("-"),
    }
    part(&e.kind);
    part(&e.reason);
    push_sameness(&mut key, &e.message);
    key
}

/// Merges entries that say the same thing about the same object.
#[derive(Default, Clone)]
pub struct Dedup {
    entries: Vec<Entry>,
    index: FastMap<String, usize>,
}

impl Dedup {
    /// Adds an entry, merging it into an earlier identical one.
    pub fn add(&mut self, e: Entry) {
        let key = dedup_key(&e);
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

    /// Adds every entry of another deduplication that `keep` keeps, in its order: the same
    /// entries as adding the other's own entries one by one.
    pub fn merge(&mut self, other: Dedup, keep: impl Fn(&Entry) -> bool) {
        for e in other.entries.into_iter().filter(|e| keep(e)) {
            self.add(e);
        }
    }

    /// Copies of the entries `keep` keeps, in the order of [`Dedup::into_sorted`].
    pub fn sorted(&self, keep: impl Fn(&Entry) -> bool) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self.entries.iter().filter(|e| keep(e)).cloned().collect();
        entries.sort_by_key(|a| a.last);
        entries
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
    use super::*;

    fn entry(object: &str, message: &str, last: Option<i64>) -> Entry {
        Entry {
            origin: "log",
            kind: "error".into(),
            object: Some(ObjectRef::new("", "Kustomization", "apps", object)),
            reason: "error".into(),
            message: message.into(),
            source: "kustomize-controller".into(),
            count: 1,
            first: last.and_then(|s| DateTime::from_timestamp(s, 0)),
            last: last.and_then(|s| DateTime::from_timestamp(s, 0)),
            class: Class::Other,
            cluster: None,
        }
    }

    #[test]
    fn merging_a_deduplication_adds_its_entries_as_one_by_one() {
        let earlier = [entry("a", "failed after 1s", Some(20)), entry("b", "x", None)];
        let later = [
            entry("a", "failed after 2s", Some(10)),
            entry("c", "y", Some(5)),
            entry("a", "failed after 3s", Some(30)),
            entry("a", "failed after 4s", Some(30)),
            entry("a", "failed after 5s", Some(25)),
            entry("b", "x", Some(1)),
            entry("c", "y", None),
        ];
        let mut one_by_one = Dedup::default();
        earlier.iter().chain(&later).for_each(|e| one_by_one.add(e.clone()));
        let (mut merged, mut other) = (Dedup::default(), Dedup::default());
        earlier.iter().for_each(|e| merged.add(e.clone()));
        later.iter().for_each(|e| other.add(e.clone()));
        merged.merge(other, |_| true);
        // Copies of the kept entries come in the order of the sorted whole.
        let old = |e: &Entry| e.last.is_some_and(|t| t.timestamp() <= 20);
        let kept: Vec<Entry> = one_by_one.clone().into_sorted().into_iter().filter(old).collect();
        assert_eq!(format!("{:?}", one_by_one.sorted(old)), format!("{kept:?}"));
        let show = |d: Dedup| format!("{:?}", d.into_sorted());
        assert_eq!(show(merged), show(one_by_one));
    }

    fn sameness(message: &str) -> String {
        let mut out = String::new();
        push_sameness(&mut out, message);
        out
    }

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
