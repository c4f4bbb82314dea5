//! Watch-backed stores for a server that answers many questions about the same clusters
//! (`kubectl flux-mcp --watch-cache`): each list a read wants is made once, then kept current by
//! a watch from the list's resourceVersion, so the next read of it is answered from memory. The
//! reads of a call record which stores served them, and [`WatchCache::freshness`] says how
//! current those were.
//!
//! A store follows what a direct list would return: the same selectors, the same Accept header
//! (metadata-only lists watch `PartialObjectMetadata`), and its items parsed by the same code.
//! Watch semantics (bookmarks, 410 Gone after compaction, a watch that the server ends after
//! `timeoutSeconds`) are the API server's, as kube-rs's reflector follows them.

use super::client::{Failure, connection_message};
use super::connection::{Cluster, Connection, connect};
use super::discovery::{Core, Served, collection_path};
use super::list::{JSON, Namespaces, ROUNDS_MAX, apply, unserved};
use crate::Want;
use crate::filter::Filter;
use crate::items::{ListedAs, Parsed, parse_item};
use compact_str::CompactString;
use kubectl_flux_model::duration::format_go;
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::event::Event;
use kubectl_flux_model::object::Object;
use kubectl_flux_model::snapshot::Snapshot;
use serde_json::value::RawValue;
use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Stores kept per cluster at most; the least recently read is dropped (its watch stopped)
/// when a read needs another. Lists in one namespace (Events where an answer shows objects)
/// are what makes many.
const STORES_MAX: usize = 256;
/// How long a discovery is trusted when a read wants a kind it did not list (a CRD installed
/// since): it is asked again at most this often.
const REDISCOVER_AFTER: Duration = Duration::from_secs(30);
/// Lists a freshness line names when their watches are reconnecting; the rest are counted.
const STALE_NAMED: usize = 4;
/// The `timeoutSeconds` of each watch request: the server ends it after about this long and the
/// store watches again from the last resourceVersion it saw.
const WATCH_SECONDS: u32 = 290;
/// Values derived from reads ([`WatchCache::derived`]) kept at most, the least recently used
/// dropped first: a graph of a large cluster weighs about what its snapshot does.
const DERIVED_MAX: usize = 8;

/// Watch-backed stores of the lists reads want, for every cluster a server reads. Cheap to
/// clone; [`WatchCache::for_call`] gives a call its own record of what served it.
#[derive(Clone)]
pub struct WatchCache {
    shared: Arc<Shared>,
    used: Arc<Mutex<Vec<Used>>>,
}

/// The reads of one [`WatchCache::read_rounds`]: for each wanted list, the list (its `Want` as
/// written), the store that served it, and that store's change count when it did. Two reads
/// with equal records assembled equal snapshots. A list the cluster does not serve, or that
/// failed, has store 0.
type Reads = Vec<(String, u64, u64)>;

thread_local! {
    /// The reads of the [`WatchCache::read_rounds`] running on this thread, which calls its
    /// `next` on this thread too: what a value derived there is keyed by. Per read, not per
    /// call: a fleet's call reads its clusters on several threads at once.
    static READS: std::cell::RefCell<Option<Reads>> = const { std::cell::RefCell::new(None) };
}

/// Records the reads of one `read_rounds` on this thread while it lives.
struct Recording(Option<Reads>);

impl Recording {
    fn start() -> Self {
        Recording(READS.with(|r| r.borrow_mut().replace(Vec::new())))
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let outer = self.0.take();
        READS.with(|r| *r.borrow_mut() = outer);
    }
}

/// Adds one read to the running record, if any.
fn record(want: &Want, namespace: Option<&str>, store: u64, changes: u64, failure: Option<&Failure>) {
    READS.with(|r| {
        if let Some(reads) = r.borrow_mut().as_mut() {
            let failure = failure.map(|f| format!(" {f:?}")).unwrap_or_default();
            reads.push((format!("{want:?} {namespace:?}{failure}"), store, changes));
        }
    });
}

/// A value derived from reads, by its type and the reads.
struct Derived {
    of: TypeId,
    reads: Reads,
    value: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for WatchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchCache")
    }
}

/// Two handles are equal when they share their stores.
impl PartialEq for WatchCache {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for WatchCache {}

struct Shared {
    /// The runtime the watches run on (its own: callers are synchronous).
    runtime: Option<tokio::runtime::Runtime>,
    /// One entry per cluster, by its connection settings.
    clusters: Mutex<Vec<(Connection, Arc<Entry>)>>,
    /// What calls derived from their reads, the most recently used last.
    derived: Mutex<VecDeque<Derived>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Dropped wherever the last handle goes, an async context included: stop the watches
        // without waiting for them.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// One cluster: its client, what it serves, and its stores.
struct Entry {
    cluster: Arc<Cluster>,
    served: Mutex<(Served, Instant)>,
    stores: Mutex<HashMap<Key, Arc<Store>>>,
}

/// What makes two reads the same list: the kind, the selectors, the Accept header, where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    group: &'static str,
    kind: &'static str,
    metadata_only: bool,
    label_selector: Option<&'static str>,
    involved_kind: Option<&'static str>,
    involved_kind_not: Vec<&'static str>,
    namespace: Option<String>,
}

/// One list kept current by a watch.
struct Store {
    /// Unique among every store this process starts: a store dropped and started again is
    /// another store.
    serial: u64,
    state: Mutex<State>,
    /// Signalled when the first list ends (listed, or failed).
    settled: Condvar,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

struct State {
    phase: Phase,
    items: BTreeMap<(CompactString, CompactString), Item>,
    /// Counts every change to `items` (a list applied, a watch's change).
    changes: u64,
    listed_at: Option<Instant>,
    last_change: Option<Instant>,
    /// Since when the watch has been failing to reconnect: the items may miss changes since.
    stale_since: Option<Instant>,
    last_read: Instant,
}

enum Phase {
    Listing,
    Kept,
    Failed(Failure),
}

#[derive(Clone)]
enum Item {
    Object(Object),
    Event(Arc<Event>),
}

/// What served one list of a call.
#[derive(Debug, Clone)]
struct Used {
    listed_now: bool,
    listed_at: Instant,
    last_change: Option<Instant>,
    stale_since: Option<Instant>,
    what: String,
}

impl WatchCache {
    /// An empty cache with its own runtime for the watches.
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("watch-cache")
            .enable_all()
            .build()
            .map_err(Error::Output)?;
        Ok(WatchCache {
            shared: Arc::new(Shared {
                runtime: Some(runtime),
                clusters: Mutex::new(Vec::new()),
                derived: Mutex::default(),
            }),
            used: Arc::default(),
        })
    }

    /// The same stores, with a record of its own of what serves the reads made through it.
    pub fn for_call(&self) -> Self {
        WatchCache { shared: self.shared.clone(), used: Arc::default() }
    }

    /// A value computed from nothing but the snapshot the reads running on this thread (the
    /// `next` of [`WatchCache::read_rounds`]) have assembled so far (a graph), shared with every
    /// later read whose reads so far were the same lists from the same stores with no change
    /// since: it assembled an equal snapshot. `build` runs otherwise, and when no read is
    /// running here or none was served by a store.
    pub fn derived<T: Any + Send + Sync>(&self, build: impl FnOnce() -> T) -> Arc<T> {
        let reads = READS.with(|r| r.borrow().clone()).unwrap_or_default();
        if !reads.iter().any(|(_, store, _)| *store != 0) {
            return Arc::new(build());
        }
        let of = TypeId::of::<T>();
        let known = {
            // Kept in the order last used: the least recently used is dropped first.
            let mut derived = lock(&self.shared.derived);
            let at = derived.iter().position(|d| d.of == of && d.reads == reads);
            at.and_then(|at| derived.remove(at)).map(|d| {
                let value = d.value.clone();
                derived.push_back(d);
                value
            })
        };
        if let Some(value) = known.and_then(|v| v.downcast::<T>().ok()) {
            return value;
        }
        let value = Arc::new(build());
        let mut derived = lock(&self.shared.derived);
        if derived.len() >= DERIVED_MAX {
            derived.pop_front();
        }
        derived.push_back(Derived { of, reads, value: value.clone() });
        value
    }

    /// How current the lists that answered this call's reads were, in a line a person reads;
    /// `None` when no read went through the cache.
    pub fn freshness(&self) -> Option<String> {
        let used = lock(&self.used).clone();
        freshness(&used, Instant::now())
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.shared.runtime.as_ref().expect("the runtime lives as long as the cache")
    }

    /// [`super::read_rounds`], answered from the stores: each wanted list is made and watched the
    /// first time it is wanted, and read from memory after.
    pub(crate) fn read_rounds(
        &self,
        connection: &Connection,
        namespaces: &Namespaces,
        first: &[Want],
        mut next: impl FnMut(&Snapshot) -> Vec<Want>,
    ) -> Result<Snapshot> {
        let entry = self.entry(connection)?;
        let namespace = match namespaces {
            Namespaces::All => None,
            Namespaces::One(ns) => Some(ns.clone()),
            Namespaces::Context => Some(entry.cluster.default_namespace.clone()),
        };
        let _recording = Recording::start();
        let mut snapshot = Snapshot::new();
        snapshot.default_namespace = Some(entry.cluster.default_namespace.clone());
        self.read_into(&entry, namespace.as_deref(), first, &mut snapshot)?;
        for _ in 0..ROUNDS_MAX {
            let more = next(&snapshot);
            if more.is_empty() {
                break;
            }
            self.read_into(&entry, namespace.as_deref(), &more, &mut snapshot)?;
        }
        Ok(snapshot)
    }

    /// The entry of a cluster, connected and discovered the first time it is read. The list of
    /// clusters is not held while connecting: a fleet's first call connects to its clusters at
    /// once, not one after another (two calls racing for one cluster keep the first entry).
    fn entry(&self, connection: &Connection) -> Result<Arc<Entry>> {
        let key = Connection { watch_cache: None, ..connection.clone() };
        let known = |clusters: &[(Connection, Arc<Entry>)]| {
            clusters.iter().find(|(c, _)| *c == key).map(|(_, entry)| entry.clone())
        };
        if let Some(entry) = known(&lock(&self.shared.clusters)) {
            return Ok(entry);
        }
        let (cluster, served) = self.runtime().block_on(async {
            let cluster = connect(&key).await?;
            let served = cluster.discover(Core::Known).await?;
            Ok::<_, Error>((cluster, served))
        })?;
        let mut clusters = lock(&self.shared.clusters);
        if let Some(entry) = known(&clusters) {
            return Ok(entry);
        }
        let entry = Arc::new(Entry {
            cluster: Arc::new(cluster),
            served: Mutex::new((served, Instant::now())),
            stores: Mutex::default(),
        });
        clusters.push((key, entry.clone()));
        Ok(entry)
    }

    /// What the cluster serves, discovered again when a wanted kind is missing from a discovery
    /// older than [`REDISCOVER_AFTER`]. A cluster that does not answer then keeps its last
    /// discovery: the stores still answer, saying how stale they are.
    fn served(&self, entry: &Entry, wants: &[Want]) -> Served {
        let mut served = lock(&entry.served);
        let missing =
            wants.iter().any(|w| !served.0.contains_key(&(w.kind.group.to_string(), w.kind.kind.to_string())));
        if missing && served.1.elapsed() > REDISCOVER_AFTER {
            let again = self.runtime().block_on(entry.cluster.discover(Core::Known));
            served.1 = Instant::now();
            if let Ok(again) = again {
                served.0 = again;
            }
        }
        served.0.clone()
    }

    /// Adds the wanted lists to `snapshot` from their stores, starting the stores not kept yet
    /// and waiting for their first lists.
    fn read_into(&self, entry: &Entry, namespace: Option<&str>, wants: &[Want], snapshot: &mut Snapshot) -> Result<()> {
        let served = self.served(entry, wants);
        let mut reads = Vec::new();
        for want in wants {
            let k = want.kind;
            let Some(s) = served.get(&(k.group.to_string(), k.kind.to_string())) else {
                record(want, namespace, 0, 0, None);
                unserved(snapshot, k);
                continue;
            };
            let (store, started) = self.store(entry, want, &s.version, namespace);
            reads.push((want, s.version.clone(), store, started));
        }
        // Each list is bounded by the request timeout; a store dropped while it lists (more
        // stores than kept) would never settle, so waiting is bounded too.
        let deadline = Instant::now() + entry.cluster.request_timeout() * 2 + Duration::from_secs(5);
        for (want, version, store, started) in reads {
            let mut state = lock(&store.state);
            while matches!(state.phase, Phase::Listing) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    state.phase = Phase::Failed(Failure::Fatal(format!(
                        "no answer within --request-timeout {}",
                        format_go(entry.cluster.request_timeout())
                    )));
                    break;
                }
                state = store.settled.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
            }
            state.last_read = Instant::now();
            let result = match &state.phase {
                Phase::Failed(failure) => {
                    let failure = failure.clone();
                    drop(state);
                    record(want, namespace, 0, 0, Some(&failure));
                    // Tried again by the next read that wants it.
                    lock(&entry.stores).retain(|_, s| !Arc::ptr_eq(s, &store));
                    Err(failure)
                }
                _ => {
                    let items = state
                        .items
                        .values()
                        .map(|item| match item {
                            Item::Object(object) => Parsed::Object(object.clone()),
                            Item::Event(event) => Parsed::Event(event.clone()),
                        })
                        .collect();
                    record(want, namespace, store.serial, state.changes, None);
                    lock(&self.used).push(Used {
                        listed_now: started,
                        listed_at: state.listed_at.unwrap_or_else(Instant::now),
                        last_change: state.last_change,
                        stale_since: state.stale_since,
                        what: describe(want, namespace),
                    });
                    Ok(items)
                }
            };
            apply(snapshot, want, &version, result)?;
        }
        Ok(())
    }

    /// The store of one list, started (listing, then watching) if it is not kept yet; whether
    /// this call started it.
    fn store(&self, entry: &Entry, want: &Want, version: &str, namespace: Option<&str>) -> (Arc<Store>, bool) {
        let namespace = want.namespace.as_deref().or(namespace).filter(|_| want.kind.namespaced);
        let key = Key {
            group: want.kind.group,
            kind: want.kind.kind,
            metadata_only: want.metadata_only,
            label_selector: want.label_selector,
            involved_kind: want.involved_kind,
            involved_kind_not: want.involved_kind_not.clone(),
            namespace: namespace.map(str::to_string),
        };
        let mut stores = lock(&entry.stores);
        if let Some(store) = stores.get(&key) {
            return (store.clone(), false);
        }
        if stores.len() >= STORES_MAX
            && let Some(oldest) = stores.iter().min_by_key(|(_, s)| lock(&s.state).last_read).map(|(k, _)| k.clone())
            && let Some(dropped) = stores.remove(&oldest)
            && let Some(task) = lock(&dropped.task).take()
        {
            task.abort();
        }
        static SERIALS: AtomicU64 = AtomicU64::new(1);
        let store = Arc::new(Store {
            serial: SERIALS.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State {
                phase: Phase::Listing,
                items: BTreeMap::new(),
                changes: 0,
                listed_at: None,
                last_change: None,
                stale_since: None,
                last_read: Instant::now(),
            }),
            settled: Condvar::new(),
            task: Mutex::new(None),
        });
        // The list is always whole in its namespace: `namespace` above says where.
        let want = Want { namespace: namespace.map(str::to_string), ..want.clone() };
        let task = self.runtime().spawn(follow(entry.cluster.clone(), store.clone(), want, version.to_string()));
        *lock(&store.task) = Some(task.abort_handle());
        stores.insert(key, store.clone());
        (store, true)
    }
}

/// Lists, then watches, for as long as the store is kept: the first list settles the store
/// (kept, or failed for the read to report); later failures leave the items as they were and
/// mark them stale until the watch is back.
async fn follow(cluster: Arc<Cluster>, store: Arc<Store>, want: Want, version: String) {
    let mut failures = 0u32;
    loop {
        let mut rv = match cluster.list(&want, &version, None).await {
            Ok((items, rv)) => {
                let mut state = lock(&store.state);
                state.items = items.into_iter().filter_map(keyed).collect();
                state.changes += 1;
                if state.listed_at.is_some() {
                    state.last_change = Some(Instant::now());
                }
                state.listed_at = Some(Instant::now());
                state.stale_since = None;
                state.phase = Phase::Kept;
                store.settled.notify_all();
                rv
            }
            Err(failure) => {
                {
                    let mut state = lock(&store.state);
                    if matches!(state.phase, Phase::Listing) {
                        state.phase = Phase::Failed(failure);
                        store.settled.notify_all();
                        return;
                    }
                    state.stale_since.get_or_insert_with(Instant::now);
                }
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        failures = 0;
        // Watch until the server says the resourceVersion is gone (410): then list again.
        loop {
            match watch_once(&cluster, &store, &want, &version, &mut rv).await {
                Ok(WatchEnd::Gone) => break,
                Ok(WatchEnd::Ended) => failures = 0,
                Err(_) => {
                    lock(&store.state).stale_since.get_or_insert_with(Instant::now);
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }
}

/// How a watch request ended without failing.
enum WatchEnd {
    /// The server ended it (its timeout, or the connection's read timeout): watch again.
    Ended,
    /// 410 Gone: list again.
    Gone,
}

/// One watch request from `rv`, applying each change to the store.
async fn watch_once(
    cluster: &Cluster,
    store: &Store,
    want: &Want,
    version: &str,
    rv: &mut String,
) -> std::result::Result<WatchEnd, String> {
    use futures::{AsyncBufReadExt, StreamExt};
    let k = want.kind;
    let path = collection_path(k.group, version, k.plural, want.namespace.as_deref().unwrap_or(""));
    let fields = super::list::field_selector(want);
    let params = kube::api::WatchParams {
        label_selector: want.label_selector.map(str::to_string),
        field_selector: fields,
        timeout: Some(WATCH_SECONDS),
        bookmarks: true,
        ..Default::default()
    };
    let mut request = kube::core::Request::new(&path).watch(&params, rv).map_err(|e| e.to_string())?;
    let accept = if want.metadata_only { METADATA_WATCH } else { JSON };
    request.headers_mut().insert(http::header::ACCEPT, http::HeaderValue::from_static(accept));
    let stream = match cluster.client.request_stream(request).await {
        Ok(stream) => stream,
        Err(kube::Error::Api(status)) if status.code == 410 => return Ok(WatchEnd::Gone),
        Err(e) => return Err(connection_message(&e)),
    };
    lock(&store.state).stale_since = None;
    let api_version = if k.group.is_empty() { version.to_string() } else { format!("{}/{version}", k.group) };
    let listed_as = ListedAs { api_version: &api_version, kind: k.kind };
    let mut lines = stream.lines();
    while let Some(line) = lines.next().await {
        let Ok(line) = line else { return Ok(WatchEnd::Ended) };
        let Ok(event) = serde_json::from_str::<WatchEvent>(&line) else { continue };
        let object = event.object.get();
        let meta: Meta = serde_json::from_str(object).unwrap_or_default();
        if event.kind == "ERROR" {
            return if meta.code == Some(410) { Ok(WatchEnd::Gone) } else { Ok(WatchEnd::Ended) };
        }
        if let Some(v) = meta.metadata.and_then(|m| m.resource_version) {
            *rv = v.into_owned();
        }
        let change = match event.kind.as_ref() {
            "ADDED" | "MODIFIED" => true,
            "DELETED" => false,
            _ => continue,
        };
        let Some((key, item)) = parse_item(object, &Filter::all(), Some(listed_as)).ok().and_then(keyed) else {
            continue;
        };
        let mut state = lock(&store.state);
        if change {
            state.items.insert(key, item);
        } else {
            state.items.remove(&key);
        }
        state.changes += 1;
        state.last_change = Some(Instant::now());
    }
    Ok(WatchEnd::Ended)
}

/// Accept header of a metadata-only watch (`PartialObjectMetadata` per change).
const METADATA_WATCH: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/// One line of a watch: its type and its object.
#[derive(serde::Deserialize)]
struct WatchEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    object: &'a RawValue,
}

/// What a watch's object tells the store besides itself: its resourceVersion, or an error's code.
#[derive(Default, serde::Deserialize)]
struct Meta<'a> {
    #[serde(borrow)]
    metadata: Option<MetaFields<'a>>,
    code: Option<u16>,
}

#[derive(Default, serde::Deserialize)]
struct MetaFields<'a> {
    #[serde(rename = "resourceVersion", borrow)]
    resource_version: Option<Cow<'a, str>>,
}

/// An item as the store keeps it, by namespace and name.
fn keyed(parsed: Parsed) -> Option<((CompactString, CompactString), Item)> {
    match parsed {
        Parsed::Object(object) | Parsed::Partial(object, _) => {
            Some(((object.id.namespace.clone(), object.id.name.clone()), Item::Object(object)))
        }
        Parsed::Event(event) => Some(((event.id.namespace.clone(), event.id.name.clone()), Item::Event(event))),
        Parsed::Skipped(_) | Parsed::Other(_) => None,
    }
}

/// The wait before reconnecting after `failures` failures in a row: 0.5 s doubling to 30 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64 << failures.min(6)).min(Duration::from_secs(30))
}

/// What a freshness line calls a list: `Kustomization`, `Event about GitRepository in apps`.
fn describe(want: &Want, namespace: Option<&str>) -> String {
    let mut what = want.kind.kind.to_string();
    if let Some(kind) = want.involved_kind {
        what.push_str(&format!(" about {kind}"));
    }
    if let Some(selector) = want.label_selector {
        what.push_str(&format!(" ({selector})"));
    }
    if let Some(ns) = want.namespace.as_deref().or(namespace).filter(|_| want.kind.namespaced) {
        what.push_str(&format!(" in {ns}"));
    }
    what
}

/// The freshness line of a call's reads, as of `now`.
fn freshness(used: &[Used], now: Instant) -> Option<String> {
    if used.is_empty() {
        return None;
    }
    let age = |at: Instant| format_go(Duration::from_secs(now.saturating_duration_since(at).as_secs()));
    let kept: Vec<&Used> = used.iter().filter(|u| !u.listed_now).collect();
    let listed_now = used.len() - kept.len();
    let mut parts = Vec::new();
    if !kept.is_empty() {
        let oldest = kept.iter().map(|u| u.listed_at).min().expect("kept is not empty");
        let mut part = format!(
            "{} list{} answered from memory, kept current by watches since {} ago",
            kept.len(),
            if kept.len() == 1 { "" } else { "s" },
            age(oldest)
        );
        if let Some(change) = kept.iter().filter_map(|u| u.last_change).max() {
            part.push_str(&format!(" (last change seen {} ago)", age(change)));
        }
        parts.push(part);
    }
    if listed_now > 0 {
        parts.push(format!(
            "{listed_now} list{} made now and watched from here on",
            if listed_now == 1 { "" } else { "s" }
        ));
    }
    let stale: Vec<&Used> = used.iter().filter(|u| u.stale_since.is_some()).collect();
    if let Some(since) = stale.iter().filter_map(|u| u.stale_since).min() {
        let mut names: Vec<&str> = stale.iter().take(STALE_NAMED).map(|u| u.what.as_str()).collect();
        let more = stale.len().saturating_sub(STALE_NAMED);
        let names = match names.pop() {
            Some(last) if more > 0 => format!("{}, {last} and {more} more", names.join(", ")),
            Some(last) if !names.is_empty() => format!("{} and {last}", names.join(", ")),
            Some(last) => last.to_string(),
            None => String::new(),
        };
        parts.push(format!(
            "{} not current, the cluster unanswered for up to {}: {names}",
            if stale.len() == used.len() { "all".to_string() } else { format!("{} of them", stale.len()) },
            age(since)
        ));
    }
    Some(format!("watch cache: {}", parts.join("; ")))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(listed_ago: u64, change_ago: Option<u64>, stale_ago: Option<u64>, now: Instant) -> Used {
        Used {
            listed_now: false,
            listed_at: now - Duration::from_secs(listed_ago),
            last_change: change_ago.map(|s| now - Duration::from_secs(s)),
            stale_since: stale_ago.map(|s| now - Duration::from_secs(s)),
            what: "Kustomization".into(),
        }
    }

    #[test]
    fn freshness_says_how_old_the_oldest_list_and_the_newest_change_are() {
        let now = Instant::now() + Duration::from_secs(1000);
        assert_eq!(freshness(&[], now), None);
        let kept = [used(130, Some(3), None, now), used(20, Some(40), None, now)];
        assert_eq!(
            freshness(&kept, now).unwrap(),
            "watch cache: 2 lists answered from memory, kept current by watches since 2m10s ago (last change seen 3s ago)"
        );
        let first = Used { listed_now: true, ..used(0, None, None, now) };
        assert_eq!(freshness(&[first], now).unwrap(), "watch cache: 1 list made now and watched from here on");
        let stale = [used(60, None, Some(14), now)];
        assert_eq!(
            freshness(&stale, now).unwrap(),
            "watch cache: 1 list answered from memory, kept current by watches since 1m0s ago; \
             all not current, the cluster unanswered for up to 14s: Kustomization"
        );
        let mut many: Vec<Used> = (0..6).map(|i| used(60, None, Some(10 + i), now)).collect();
        many.push(used(60, None, None, now));
        for (u, what) in
            many.iter_mut().zip(["GitRepository", "Kustomization", "HelmRelease", "Secret", "Event in apps"])
        {
            u.what = what.into();
        }
        assert_eq!(
            freshness(&many, now).unwrap(),
            "watch cache: 7 lists answered from memory, kept current by watches since 1m0s ago; \
             6 of them not current, the cluster unanswered for up to 15s: GitRepository, Kustomization, \
             HelmRelease, Secret and 2 more"
        );
    }

    #[test]
    fn what_is_derived_from_reads_is_shared_until_a_list_changes() {
        let cache = WatchCache::new().unwrap();
        let builds = std::cell::Cell::new(0);
        let derive = |call: &WatchCache, reads: &[(&str, u64, u64)]| {
            let _recording = Recording::start();
            for (want, store, changes) in reads {
                READS.with(|r| r.borrow_mut().as_mut().unwrap().push((want.to_string(), *store, *changes)));
            }
            call.derived(|| {
                builds.set(builds.get() + 1);
                format!("built from {reads:?}")
            })
        };
        let kustomizations = [("Kustomization", 7, 1), ("GitRepository", 8, 4)];
        let first = derive(&cache.for_call(), &kustomizations);
        let again = derive(&cache.for_call(), &kustomizations);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(builds.get(), 1);
        // A change to one list, a list from another store, the lists in another order: built again.
        derive(&cache.for_call(), &[("Kustomization", 7, 2), ("GitRepository", 8, 4)]);
        derive(&cache.for_call(), &[("Kustomization", 9, 1), ("GitRepository", 8, 4)]);
        derive(&cache.for_call(), &[("GitRepository", 8, 4), ("Kustomization", 7, 1)]);
        assert_eq!(builds.get(), 4);
        // Another type derived from the same reads is its own.
        {
            let _recording = Recording::start();
            record(&Want::all(kubectl_flux_model::kinds::find("", "Namespace").unwrap()), None, 7, 1, None);
            assert_eq!(*cache.derived(|| 42u32), 42);
            assert_eq!(*cache.derived(|| 43u32), 42);
            // Another thread (another cluster of a fleet, read at the same time) has reads of
            // its own: none here, so it builds.
            let elsewhere = std::thread::scope(|s| s.spawn(|| *cache.derived(|| 44u32)).join().unwrap());
            assert_eq!(elsewhere, 44);
        }
        // Nothing is shared outside a read.
        assert_eq!(*cache.derived(|| 45u32), 45);
        assert_eq!(*cache.derived(|| 46u32), 46);
        // Reads no store served (kinds not served) share nothing.
        derive(&cache.for_call(), &[("Kustomization", 0, 0)]);
        derive(&cache.for_call(), &[("Kustomization", 0, 0)]);
        assert_eq!(builds.get(), 6);
        // At most DERIVED_MAX are kept, the least recently used dropped first.
        derive(&cache.for_call(), &[("Kustomization", 9, 1), ("GitRepository", 8, 4)]);
        assert_eq!(builds.get(), 6);
        for store in 100..100 + DERIVED_MAX as u64 - 1 {
            derive(&cache.for_call(), &[("Kustomization", store, 1)]);
        }
        assert_eq!(lock(&cache.shared.derived).len(), DERIVED_MAX);
        derive(&cache.for_call(), &[("Kustomization", 9, 1), ("GitRepository", 8, 4)]);
        derive(&cache.for_call(), &kustomizations);
        assert_eq!(builds.get(), 6 + DERIVED_MAX);
    }

    #[test]
    fn reconnects_back_off_to_half_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
