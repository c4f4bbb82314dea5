//! The in-memory snapshot every answer is computed from, whether read live or from files.

use crate::object::{Object, ObjectRef};
use serde_json::Value;
use std::collections::BTreeSet;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the plugins' `main`: the process ends right after the answer, so a snapshot is left to
/// the operating system instead of being freed object by object (a 300,000-object snapshot is
/// millions of small allocations, hundreds of milliseconds to free for nothing).
static LEFT_TO_EXIT: AtomicBool = AtomicBool::new(false);

/// Snapshots dropped from now on are not freed: call only when the process is about to end after
/// the work (the plugins' `main` does).
pub fn leave_to_exit() {
    LEFT_TO_EXIT.store(true, Ordering::Relaxed);
}

/// A hash map keyed by identities: foldhash rather than SipHash, since building an answer
/// hashes every object's identity several times (a third of a 10,000-app graph's build time
/// went to SipHash).
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Objects read from one cluster or one set of files, indexed by identity.
///
/// Live and offline sources both build one of these, so every analysis sees the same data and
/// gives the same answer either way.
#[derive(Debug, Default)]
pub struct Snapshot {
    objects: Vec<Object>,
    index: FastMap<ObjectRef, usize>,
    events: FastMap<(String, String, String), Vec<usize>>,
    by_kind: FastMap<(String, String), Vec<usize>>,
    /// Kinds (group, kind) whose objects were read completely, so a missing object of such a kind
    /// really is missing (NotFound) rather than not looked at.
    pub listed_kinds: BTreeSet<(String, String)>,
    /// What the snapshot lacks and why (a missing CRD, a kind the user may not list), said once
    /// in every answer.
    pub notes: Vec<String>,
    /// The namespace the kubeconfig context defaults to (live reads only).
    pub default_namespace: Option<String>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an object; a later copy of the same object replaces an earlier one.
    pub fn insert(&mut self, object: Object) {
        if let Some(&i) = self.index.get(&object.id) {
            self.objects[i] = object;
            return;
        }
        let i = self.objects.len();
        let is_event = object.id.kind == "Event" && matches!(object.id.group.as_str(), "" | "events.k8s.io");
        if is_event && let Some(key) = event_subject(&object.raw) {
            self.events.entry(key).or_default().push(i);
        }
        // The kind is recorded as listed with its first object (one copy of its name per kind,
        // not per object).
        match self.by_kind.entry((object.id.group.clone(), object.id.kind.clone())) {
            Entry::Occupied(mut list) => list.get_mut().push(i),
            Entry::Vacant(list) => {
                self.listed_kinds.insert(list.key().clone());
                list.insert(vec![i]);
            }
        }
        self.index.insert(object.id.clone(), i);
        self.objects.push(object);
    }

    /// Records that a kind was listed completely, even if it had no objects.
    pub fn mark_listed(&mut self, group: &str, kind: &str) {
        self.listed_kinds.insert((group.to_string(), kind.to_string()));
    }

    /// Whether objects of this kind were read, so absence means NotFound.
    pub fn is_listed(&self, group: &str, kind: &str) -> bool {
        self.listed_kinds.contains(&(group.to_string(), kind.to_string()))
    }

    /// Looks an object up by identity.
    pub fn get(&self, id: &ObjectRef) -> Option<&Object> {
        self.index.get(id).map(|&i| &self.objects[i])
    }

    /// Every object, in the order read.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// Objects of one kind, in the order read.
    pub fn of_kind<'a>(&'a self, group: &'a str, kind: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
        self.by_kind.get(&(group.to_string(), kind.to_string())).into_iter().flatten().map(|&i| &self.objects[i])
    }

    /// Events (core/v1 and events.k8s.io/v1) about an object, matched by kind, namespace and
    /// name (not uid, so events of a deleted and recreated object still count).
    pub fn events_for(&self, id: &ObjectRef) -> impl Iterator<Item = &Object> {
        self.events
            .get(&(id.kind.clone(), id.namespace.clone(), id.name.clone()))
            .into_iter()
            .flatten()
            .map(|&i| &self.objects[i])
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are no objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if LEFT_TO_EXIT.load(Ordering::Relaxed) {
            std::mem::forget(std::mem::take(&mut self.objects));
            std::mem::forget(std::mem::take(&mut self.index));
            std::mem::forget(std::mem::take(&mut self.events));
            std::mem::forget(std::mem::take(&mut self.by_kind));
        }
    }
}

/// The (kind, namespace, name) an Event is about: `involvedObject` for core/v1, `regarding` for
/// events.k8s.io/v1.
fn event_subject(event: &Value) -> Option<(String, String, String)> {
    let subject = event.get("involvedObject").or_else(|| event.get("regarding"))?;
    let s = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Some((s("kind"), s("namespace"), s("name")))
}
