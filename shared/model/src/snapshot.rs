//! The in-memory snapshot every answer is computed from, whether read live or from files.

use crate::event::{Event, is_event_kind};
use crate::id_index::IdIndex;
use crate::object::{Object, ObjectRef};
use compact_str::CompactString;
use std::collections::BTreeSet;
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

/// How a dropped snapshot's objects are freed: a 300,000-object snapshot is millions of small
/// allocations, hundreds of milliseconds to free. [`FREE_NOW`] unless the process says otherwise.
static FREEING: AtomicU8 = AtomicU8::new(FREE_NOW);
const FREE_NOW: u8 = 0;
const LEFT_TO_EXIT: u8 = 1;
const IN_BACKGROUND: u8 = 2;

/// Snapshots dropped from now on are not freed: call only when the process is about to end after
/// the work (the plugins' `main` does), so they are left to the operating system.
pub fn leave_to_exit() {
    FREEING.store(LEFT_TO_EXIT, Ordering::Relaxed);
}

/// Snapshots dropped from now on are freed on a thread of their own: a long-running process (the
/// MCP server) answers without waiting for the last answer's objects to be freed.
pub fn free_in_background() {
    FREEING.store(IN_BACKGROUND, Ordering::Relaxed);
}

/// What a dropped snapshot leaves to free: everything but its small sets.
type Remains = (Vec<Object>, IdIndex, ByKind, Vec<Arc<Event>>, IdIndex, About);
type ByKind = FastMap<(CompactString, CompactString), (Vec<usize>, bool)>;
/// Events by a hash of the (kind, namespace, name) they are about ([`about_hash`]): no copy of
/// the names, for 200,000 Events. A lookup skips the Events that only share the hash.
type About = FastMap<u64, Vec<usize>>;

/// Sends `remains` to the freeing thread (started on first use); frees them here if it is gone.
fn free_later(remains: Remains) {
    static FREER: OnceLock<Mutex<mpsc::Sender<Remains>>> = OnceLock::new();
    let sender = FREER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Remains>();
        let _ = std::thread::Builder::new().name("free-snapshots".into()).spawn(move || rx.into_iter().for_each(drop));
        Mutex::new(tx)
    });
    if let Ok(sender) = sender.lock()
        && let Err(mpsc::SendError(remains)) = sender.send(remains)
    {
        drop(remains);
    }
}

/// A hash map keyed by identities: foldhash rather than SipHash, since building an answer
/// hashes every object's identity several times (a third of a 10,000-app graph's build time
/// went to SipHash).
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Objects read from one cluster or one set of files, indexed by identity.
///
/// Live and offline sources both build one of these, so every analysis sees the same data and
/// gives the same answer either way. Events are kept apart, as [`Event`]s rather than objects:
/// they are most of a cluster's objects and the plugins read a few fields of each.
#[derive(Debug, Default)]
pub struct Snapshot {
    objects: Vec<Object>,
    index: IdIndex,
    /// Objects by (group, kind), and whether the kind was marked listed by one of them.
    by_kind: ByKind,
    /// Shared: a watch cache hands the same Events to every snapshot read from it.
    events: Vec<Arc<Event>>,
    event_index: IdIndex,
    /// Events by what they are about.
    about: About,
    /// Kinds (group, kind) whose objects were read completely, so a missing object of such a kind
    /// really is missing (NotFound) rather than not looked at.
    pub listed_kinds: BTreeSet<(String, String)>,
    /// Kinds (group, kind, namespace) whose objects in one namespace were read completely.
    listed_in: BTreeSet<(String, String, String)>,
    /// Kinds (group, kind) the cluster answered it does not serve (their CRD is not installed).
    not_served: BTreeSet<(String, String)>,
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

    /// Adds an object (an Event as an [`Event`]); a later copy of the same object replaces an
    /// earlier one. Its kind counts as listed: a file's objects are all the files say of it.
    pub fn insert(&mut self, object: Object) {
        self.add(object, true)
    }

    /// Adds an object read by a list that did not return its whole kind (one namespace, a
    /// label selector): its kind is not marked listed, so an absent object of that kind
    /// elsewhere is not taken for a missing one.
    pub fn insert_unlisted(&mut self, object: Object) {
        self.add(object, false)
    }

    fn add(&mut self, object: Object, listed: bool) {
        if is_event_kind(&object.id.group, &object.id.kind) {
            return self.insert_event(Event::from_object(&object));
        }
        if let Some(i) = self.index.get(&object.id, |i| &self.objects[i].id) {
            self.objects[i] = object;
            return;
        }
        let i = self.objects.len();
        // The kind is recorded as listed with its first listed object (one copy of its name per
        // kind, not per object).
        let (objects, marked) = match self.by_kind.entry((object.id.group.clone(), object.id.kind.clone())) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert((Vec::new(), false)),
        };
        objects.push(i);
        if listed && !*marked {
            *marked = true;
            self.listed_kinds.insert((object.id.group.to_string(), object.id.kind.to_string()));
        }
        self.index.insert(&object.id, i, |i| &self.objects[i].id);
        self.objects.push(object);
    }

    /// Adds an Event (or one shared with a store); a later copy of the same Event replaces an
    /// earlier one.
    pub fn insert_event(&mut self, event: impl Into<Arc<Event>>) {
        let event = event.into();
        let Some(i) = self.event_index.get(&event.id, |i| &self.events[i].id) else {
            return self.push_event(event);
        };
        if self.events[i].about() != event.about() {
            if let Some(list) = about_key(&self.events[i]).and_then(|k| self.about.get_mut(&k)) {
                list.retain(|&j| j != i);
            }
            if let Some(k) = about_key(&event) {
                self.about.entry(k).or_default().push(i);
            }
        }
        self.events[i] = event;
    }

    /// Adds one list's Events, as [`Snapshot::insert_event`] would. A list returns each object
    /// once (its pages are one consistent read: the API server answers an expired continue
    /// token with 410 Gone, never with a page of another version), so when the snapshot holds
    /// no Event yet, none has to be looked up.
    pub fn extend_events(&mut self, events: Vec<Arc<Event>>) {
        let fresh = self.events.is_empty();
        self.reserve_events(events.len());
        for event in events {
            match fresh {
                true => self.push_event(event),
                false => self.insert_event(event),
            }
        }
    }

    /// Adds an Event not in the snapshot yet.
    fn push_event(&mut self, event: Arc<Event>) {
        let i = self.events.len();
        if let Some(k) = about_key(&event) {
            self.about.entry(k).or_default().push(i);
        }
        // The kind is recorded as listed with its first Event (of each group).
        if self.events.last().is_none_or(|last| last.id.group != event.id.group) {
            self.listed_kinds.insert((event.id.group.to_string(), event.id.kind.to_string()));
        }
        self.event_index.insert(&event.id, i, |i| &self.events[i].id);
        self.events.push(event);
    }

    /// Makes room for this many more Events (a large list's, counted before they are added).
    pub fn reserve_events(&mut self, additional: usize) {
        self.events.reserve_exact(additional);
        let events = &self.events;
        self.event_index.reserve(additional, |i| &events[i].id);
    }

    /// Records that a kind was listed completely, even if it had no objects.
    pub fn mark_listed(&mut self, group: &str, kind: &str) {
        self.listed_kinds.insert((group.to_string(), kind.to_string()));
    }

    /// Whether objects of this kind were read, so absence means NotFound.
    pub fn is_listed(&self, group: &str, kind: &str) -> bool {
        self.listed_kinds.contains(&(group.to_string(), kind.to_string()))
    }

    /// Records that the cluster does not serve a kind (a list of it answered 404).
    pub fn mark_not_served(&mut self, group: &str, kind: &str) {
        self.not_served.insert((group.to_string(), kind.to_string()));
    }

    /// Whether the cluster said it does not serve this kind: no object of it can exist.
    pub fn is_not_served(&self, group: &str, kind: &str) -> bool {
        self.not_served.contains(&(group.to_string(), kind.to_string()))
    }

    /// Records that a kind's objects in one namespace were listed completely.
    pub fn mark_listed_in(&mut self, group: &str, kind: &str, namespace: &str) {
        self.listed_in.insert((group.to_string(), kind.to_string(), namespace.to_string()));
    }

    /// Whether objects of this kind were read where `namespace` lies (in every namespace, or in
    /// this one), so absence there means NotFound.
    pub fn is_listed_at(&self, group: &str, kind: &str, namespace: &str) -> bool {
        self.is_listed(group, kind)
            || !self.listed_in.is_empty()
                && self.listed_in.contains(&(group.to_string(), kind.to_string(), namespace.to_string()))
    }

    /// Looks an object up by identity.
    pub fn get(&self, id: &ObjectRef) -> Option<&Object> {
        self.index.get(id, |i| &self.objects[i].id).map(|i| &self.objects[i])
    }

    /// Every object but the Events, in the order read.
    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    /// Every Event, in the order read.
    pub fn events(&self) -> &[Arc<Event>] {
        &self.events
    }

    /// Objects of one kind (not Events), in the order read.
    pub fn of_kind<'a>(&'a self, group: &'a str, kind: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
        self.by_kind.get(&(group.into(), kind.into())).into_iter().flat_map(|(list, _)| list).map(|&i| &self.objects[i])
    }

    /// Events (core/v1 and events.k8s.io/v1) about an object, matched by kind, namespace and
    /// name (not uid, so events of a deleted and recreated object still count).
    pub fn events_for(&self, id: &ObjectRef) -> impl Iterator<Item = &Event> {
        let about = (id.kind.as_str(), id.namespace.as_str(), id.name.as_str());
        self.about
            .get(&about_hash(about))
            .into_iter()
            .flatten()
            .map(|&i| &*self.events[i])
            .filter(move |e| e.about() == Some(about))
    }

    /// Number of objects, Events included.
    pub fn len(&self) -> usize {
        self.objects.len() + self.events.len()
    }

    /// Whether there are no objects and no Events.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.events.is_empty()
    }
}

/// The key of [`Snapshot::events_for`]'s index: what an Event is about, hashed.
fn about_key(event: &Event) -> Option<u64> {
    event.about().map(about_hash)
}

/// A hash of what an Event is about, the same in every snapshot and run.
fn about_hash(about: (&str, &str, &str)) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6b75_6265_666c_7578).hash_one(about)
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        match FREEING.load(Ordering::Relaxed) {
            LEFT_TO_EXIT => {
                std::mem::forget(std::mem::take(&mut self.objects));
                std::mem::forget(std::mem::take(&mut self.index));
                std::mem::forget(std::mem::take(&mut self.by_kind));
                std::mem::forget(std::mem::take(&mut self.events));
                std::mem::forget(std::mem::take(&mut self.event_index));
                std::mem::forget(std::mem::take(&mut self.about));
            }
            IN_BACKGROUND => free_later((
                std::mem::take(&mut self.objects),
                std::mem::take(&mut self.index),
                std::mem::take(&mut self.by_kind),
                std::mem::take(&mut self.events),
                std::mem::take(&mut self.event_index),
                std::mem::take(&mut self.about),
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, about: &str) -> Object {
        let raw = serde_json::json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "apps"},
            "involvedObject": {"kind": "ConfigMap", "namespace": "apps", "name": about}, "reason": about});
        Object::from_value(raw).unwrap()
    }

    #[test]
    fn events_are_kept_apart_and_a_later_copy_moves_what_it_is_about() {
        let mut s = Snapshot::new();
        let cm = |name: &str| ObjectRef::new("", "ConfigMap", "apps", name);
        s.insert(event("e1", "a"));
        s.insert(event("e2", "a"));
        assert!(s.objects().is_empty() && s.is_listed("", "Event"));
        assert_eq!((s.len(), s.events_for(&cm("a")).count()), (2, 2));
        s.insert(event("e1", "b"));
        assert_eq!(s.events().iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(s.events_for(&cm("a")).map(|e| e.id.name.as_str()).collect::<Vec<_>>(), ["e2"]);
        assert_eq!(s.events_for(&cm("b")).map(|e| e.id.name.as_str()).collect::<Vec<_>>(), ["e1"]);
    }

    #[test]
    fn a_second_list_of_events_replaces_what_the_first_gave() {
        let shared = |name: &str, about: &str| Arc::new(Event::from_object(&event(name, about)));
        let cm = |name: &str| ObjectRef::new("", "ConfigMap", "apps", name);
        let mut s = Snapshot::new();
        s.extend_events(vec![shared("e1", "a"), shared("e2", "a")]);
        s.extend_events(vec![shared("e1", "b"), shared("e3", "b")]);
        let names = |about: &str| s.events_for(&cm(about)).map(|e| e.id.name.to_string()).collect::<Vec<_>>();
        assert_eq!((s.len(), names("a"), names("b")), (3, vec!["e2".to_string()], vec!["e1".into(), "e3".into()]));
        assert!(s.is_listed("", "Event") && names("c").is_empty());
    }

    #[test]
    fn a_kind_read_in_one_namespace_is_listed_there_only() {
        let cm = |ns: &str| {
            Object::from_value(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": ns}}))
                .unwrap()
        };
        let mut s = Snapshot::new();
        s.insert_unlisted(cm("apps"));
        s.mark_listed_in("", "ConfigMap", "apps");
        assert!(s.get(&ObjectRef::new("", "ConfigMap", "apps", "a")).is_some());
        assert!(!s.is_listed("", "ConfigMap"));
        assert!(s.is_listed_at("", "ConfigMap", "apps") && !s.is_listed_at("", "ConfigMap", "shop"));
        // A file's object lists its kind everywhere.
        s.insert(cm("shop"));
        assert!(s.is_listed_at("", "ConfigMap", "web"));
    }
}
