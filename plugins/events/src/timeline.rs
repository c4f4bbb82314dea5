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

/// The object an Event's entry names: its subject, unless that has no name.
pub fn subject(e: &Event) -> Option<&ObjectRef> {
    e.subject.as_ref().filter(|s| !s.name.is_empty())
}

/// An Event as an entry.
pub fn from_event(e: &Event) -> Entry {
    let object = subject(e).cloned();
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
    // By bytes, copying the text between numbers at once: an ASCII byte is never part of
    // another character in UTF-8, so every cut falls between characters.
    let (mut kept_from, mut in_number) = (0, false);
    for (i, b) in message.bytes().enumerate() {
        let digit = b.is_ascii_digit() || (in_number && b == b'.');
        if digit && !in_number {
            out.push_str(&message[kept_from..i]);
            out.push('#');
        } else if !digit && in_number {
            kept_from = i;
        }
        in_number = digit;
    }
    if !in_number {
        out.push_str(&message[kept_from..]);
    }
}

/// What makes two entries one: object, type, reason and the message's sameness, in one
/// string (each part after its length, so no text of one part can pass for another): a million
/// log lines are looked up without building a key of seven strings for each.
fn dedup_key(object: Option<&ObjectRef>, kind: &str, reason: &str, message: &str) -> String {
    use std::fmt::Write;
    let mut key = String::with_capacity(96 + message.len());
    let mut part = |text: &str| {
        let _ = write!(key, "{}:{text}", text.len());
    };
    match object {
        Some(o) => [o.group.as_str(), &o.kind, &o.namespace, &o.name].into_iter().for_each(&mut part),
        None => part("-"),
    }
    part(kind);
    part(reason);
    push_sameness(&mut key, message);
    key
}

impl Entry {
    /// Takes in a later occurrence of the same thing: counts added, first and last seen kept,
    /// the message of the latest (`message` is asked for only then).
    fn absorb(
        &mut self,
        count: u64,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
        message: impl FnOnce() -> String,
    ) {
        self.count += count;
        if last >= self.last {
            self.message = message();
        }
        self.first = match (self.first, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(last);
    }
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
        let key = dedup_key(e.object.as_ref(), &e.kind, &e.reason, &e.message);
        match self.index.get(&key) {
            Some(&i) => self.entries[i].absorb(e.count, e.first, e.last, || e.message),
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(e);
            }
        }
    }

    /// Adds an Event as adding its entry ([`from_event`]) would. The entry is built, and its
    /// message classified, only when it is not merged into an earlier one (a merged entry keeps
    /// the class of its first occurrence): most of a cluster's Events are retries.
    pub fn add_event(&mut self, e: &Event) {
        let key = dedup_key(subject(e), &e.kind, &e.reason, &e.message);
        match self.index.get(&key) {
            Some(&i) => self.entries[i].absorb(e.count.max(1), e.first.or(e.last), e.last, || e.message.clone()),
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(from_event(e));
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

    #[test]
    fn an_event_added_as_itself_is_added_as_its_entry() {
        let event = |name: &str, message: &str, count: u64, last: i64| Event {
            id: ObjectRef::new("", "Event", "apps", name),
            subject: Some(ObjectRef::new("source.toolkit.fluxcd.io", "GitRepository", "apps", "repo")),
            kind: "Warning".into(),
            reason: "GitOperationFailed".into(),
            message: message.into(),
            count,
            first: None,
            last: DateTime::from_timestamp(last, 0),
            source: "source-controller".into(),
        };
        // Numbers aside the same failure: one entry, whose class is its first occurrence's.
        let events = [
            event("a", "unexpected status code: 429", 3, 20),
            event("b", "unexpected status code: 500", 0, 30),
            event("c", "unexpected status code: 502", 2, 10),
            event("d", "authentication required", 1, 5),
        ];
        let (mut as_entries, mut as_events) = (Dedup::default(), Dedup::default());
        events.iter().for_each(|e| as_entries.add(from_event(e)));
        events.iter().for_each(|e| as_events.add_event(e));
        let entries = as_events.into_sorted();
        assert_eq!(format!("{entries:?}"), format!("{:?}", as_entries.into_sorted()));
        let shown: Vec<_> = entries.iter().map(|e| (e.class, e.count, e.message.as_str())).collect();
        assert_eq!(
            shown,
            [(Class::Auth, 1, "authentication required"), (Class::RateLimit, 6, "unexpected status code: 500")]
        );
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
        assert_eq!(sameness("2 pods, 3.5s: ok ✓ 4"), "# pods, #s: ok ✓ #");
        assert_eq!(sameness("é"), "é");
    }
}
