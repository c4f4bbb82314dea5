//! Where objects come from: a live cluster ([`live`]) or snapshot files ([`offline`]), as the
//! command line decided once ([`Source`]). Both fill a [`Snapshot`], so answers are identical
//! either way. The plugins say what they need as [`Want`]s: one list per kind (or per kind and
//! namespace), which a file reader applies as the API server would.

mod filter;
mod items;
pub mod live;
mod mapped;
pub mod offline;
pub mod progress;

pub use filter::Filter;
pub use live::{Connection, Namespaces, WatchCache};

use kubectl_flux_model::kinds::KindInfo;
use kubectl_flux_model::{Result, Snapshot};
use std::path::PathBuf;

/// What a plugin needs listed from a cluster: one entry per kind (or per kind and namespace).
#[derive(Debug, Clone)]
pub struct Want {
    /// The kind.
    pub kind: &'static KindInfo,
    /// Read only metadata (`PartialObjectMetadataList`): used for Secrets, whose data must never
    /// be read unless a plugin needs it.
    pub metadata_only: bool,
    /// A label selector applied to this kind's list (e.g. `owner=helm` for Helm storage).
    pub label_selector: Option<&'static str>,
    /// For Events: only those about objects of this kind (`fieldSelector=involvedObject.kind=`),
    /// so a cluster's Pod and Node Events are never transferred. Offline, the files' other
    /// Events are passed over before they are built, as the API server would.
    pub involved_kind: Option<&'static str>,
    /// For Events: not those about objects of these kinds (`involvedObject.kind!=K`, one term
    /// each, in the same field selector): one list that leaves a cluster's Pod and Node Events
    /// on the server, where a list per wanted kind would make the API server scan every Event
    /// once per list. Offline, the same Events are passed over.
    pub involved_kind_not: Vec<&'static str>,
    /// Only the objects in this namespace (whatever `-n`/`-A` say): flux-lineage lists Events
    /// in the namespaces its answer shows. Offline, the files' objects of other namespaces are
    /// passed over, as the API server would.
    pub namespace: Option<String>,
}

impl Want {
    /// Lists every object of a kind in full.
    pub fn all(kind: &'static KindInfo) -> Self {
        Want {
            kind,
            metadata_only: false,
            label_selector: None,
            involved_kind: None,
            involved_kind_not: Vec::new(),
            namespace: None,
        }
    }

    /// Lists only metadata of a kind (`PartialObjectMetadataList`), optionally by label.
    pub fn metadata(kind: &'static KindInfo, label_selector: Option<&'static str>) -> Self {
        Want {
            kind,
            metadata_only: true,
            label_selector,
            involved_kind: None,
            involved_kind_not: Vec::new(),
            namespace: None,
        }
    }

    /// Lists the objects of a kind that carry a label, in full.
    pub fn labelled(kind: &'static KindInfo, label_selector: &'static str) -> Self {
        Want {
            kind,
            metadata_only: false,
            label_selector: Some(label_selector),
            involved_kind: None,
            involved_kind_not: Vec::new(),
            namespace: None,
        }
    }

    /// Lists every Namespace's metadata: what a plugin that groups by tenant reads, since
    /// `flux create tenant` labels the tenant's Namespaces and not its Flux objects.
    pub fn namespaces() -> Self {
        Want::metadata(kubectl_flux_model::kinds::find("", "Namespace").expect("Namespace is a known kind"), None)
    }

    /// Lists Helm's release storage in full: the Secrets labelled `owner=helm`, each holding a
    /// release's manifest (what a HelmRelease installed) in `data.release`.
    pub fn helm_storage() -> Self {
        Want::labelled(kubectl_flux_model::kinds::find("", "Secret").expect("Secret is a known kind"), "owner=helm")
    }

    /// Lists every Event (core/v1).
    pub fn events() -> Self {
        Want::all(kubectl_flux_model::kinds::find("", "Event").expect("Event is a known kind"))
    }

    /// Lists the Events about objects of one kind (`involvedObject.kind`).
    pub fn events_about(kind: &'static str) -> Self {
        Want { involved_kind: Some(kind), ..Want::events() }
    }

    /// Lists the Events about objects of any kind but these (`involvedObject.kind!=`).
    pub fn events_not_about(kinds: impl IntoIterator<Item = &'static str>) -> Self {
        Want { involved_kind_not: kinds.into_iter().collect(), ..Want::events() }
    }

    /// The same list, in one namespace only.
    pub fn in_namespace(self, namespace: &str) -> Self {
        Want { namespace: Some(namespace.to_string()), ..self }
    }

    /// Whether this lists every object of its kind (no selector, every namespace).
    pub fn is_complete(&self) -> bool {
        self.namespace.is_none() && self.in_namespace_whole()
    }

    /// Whether this lists every object of its kind wherever it lists (no selector).
    pub fn in_namespace_whole(&self) -> bool {
        self.label_selector.is_none() && self.involved_kind.is_none() && self.involved_kind_not.is_empty()
    }
}

/// Where one cluster's objects come from: snapshot files, or a cluster. The command line
/// decides it once; nothing below it looks at flags again.
// One per cluster asked: its size does not matter, and unboxed it matches plainly.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-f FILE|DIR|-` (repeatable), or one `--cluster-from-dir` directory.
    Files(Vec<PathBuf>),
    /// A cluster, reached as kubectl would.
    Cluster(Connection),
}

impl Source {
    /// The files a snapshot source reads, `None` for a cluster.
    pub fn files(&self) -> Option<&[PathBuf]> {
        match self {
            Source::Files(files) => Some(files),
            Source::Cluster(_) => None,
        }
    }

    /// The cluster a live source reaches, `None` for files.
    pub fn connection(&self) -> Option<&Connection> {
        match self {
            Source::Cluster(connection) => Some(connection),
            Source::Files(_) => None,
        }
    }

    /// A value computed from nothing but the snapshot read so far (a graph): computed once for
    /// every call whose reads a watch cache served from the same unchanged lists
    /// ([`WatchCache::derived`]), computed every time otherwise.
    pub fn derived<T: std::any::Any + Send + Sync>(&self, build: impl FnOnce() -> T) -> std::sync::Arc<T> {
        match self.connection().and_then(|c| c.watch_cache.as_ref()) {
            Some(cache) => cache.derived(build),
            None => std::sync::Arc::new(build()),
        }
    }

    /// What a message calls this source: `cluster`, or the files joined by `, `.
    pub fn describe(&self) -> String {
        match self {
            Source::Cluster(_) => "cluster".to_string(),
            Source::Files(files) => files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "),
        }
    }
}

/// Reads the snapshot a plugin works on: the files, or the cluster's wanted kinds in
/// `namespaces`. Live reads show a spinner on a terminal's stderr.
pub fn load(source: &Source, namespaces: &Namespaces, wants: &[Want]) -> Result<Snapshot> {
    load_staged(source, namespaces, wants, &[], |_| Vec::new())
}

/// Reads in two stages: `first`, then what `then` asks for once it has seen the first stage
/// (the Events about the kinds the first stage named, say), over one connection. Offline, the
/// first pass over the files keeps `first` and `offline_also`; the files are read a second time
/// only for what `then` asks and `offline_also` does not cover (Events in a few namespaces, when
/// building every Event of the files would cost more than a second pass).
pub fn load_staged(
    source: &Source,
    namespaces: &Namespaces,
    first: &[Want],
    offline_also: &[Want],
    then: impl FnOnce(&Snapshot) -> Vec<Want>,
) -> Result<Snapshot> {
    match source {
        Source::Files(files) => {
            let all: Vec<Want> = first.iter().chain(offline_also).cloned().collect();
            offline::read_paths_staged(files, &Filter::wants(&all), |snapshot| {
                let more: Vec<Want> = then(snapshot).into_iter().filter(|w| !covers(offline_also, w)).collect();
                (!more.is_empty()).then(|| Filter::wants_only(&more))
            })
        }
        Source::Cluster(connection) => {
            let mut then = Some(then);
            read_live(connection, namespaces, first, |snapshot| then.take().map(|f| f(snapshot)).unwrap_or_default())
        }
    }
}

/// Reads in rounds: live, `live_first`, then what `next` asks for after each round, until it
/// asks for nothing ([`live::read_rounds`]). Offline the files are read for `offline_first`,
/// and `next` is asked once, for a second pass: files hold every namespace at once, so what a
/// cluster gives in rounds they give in one.
pub fn load_rounds(
    source: &Source,
    namespaces: &Namespaces,
    live_first: &[Want],
    offline_first: &[Want],
    next: impl FnMut(&Snapshot) -> Vec<Want>,
) -> Result<Snapshot> {
    match source {
        Source::Files(_) => load_staged(source, namespaces, offline_first, &[], next),
        Source::Cluster(connection) => read_live(connection, namespaces, live_first, next),
    }
}

/// [`live::read_rounds`] with a spinner on a terminal's stderr.
fn read_live(
    connection: &Connection,
    namespaces: &Namespaces,
    first: &[Want],
    next: impl FnMut(&Snapshot) -> Vec<Want>,
) -> Result<Snapshot> {
    let spinner = progress::spinner(&format!("listing {} kinds", first.len()));
    let result = match &connection.watch_cache {
        Some(cache) => cache.read_rounds(connection, namespaces, first, next),
        None => live::read_rounds(connection, namespaces, first, next),
    };
    spinner.finish_and_clear();
    result
}

/// Whether one of `read` returns every object `want` asks for, with as many fields: a list of
/// the same kind, each of whose restrictions (selector, involved kind, namespace) `want` has too.
fn covers(read: &[Want], want: &Want) -> bool {
    fn within<T: PartialEq>(read: &Option<T>, want: &Option<T>) -> bool {
        read.is_none() || read == want
    }
    read.iter().any(|r| {
        r.kind.group == want.kind.group
            && r.kind.kind == want.kind.kind
            && within(&r.label_selector, &want.label_selector)
            && within(&r.involved_kind, &want.involved_kind)
            && r.involved_kind_not
                .iter()
                .all(|k| want.involved_kind_not.contains(k) || want.involved_kind.is_some_and(|w| w != *k))
            && within(&r.namespace, &want.namespace)
            && (want.metadata_only || !r.metadata_only)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_covers_what_it_returns_in_full() {
        let event = kubectl_flux_model::kinds::find("", "Event").unwrap();
        let secret = kubectl_flux_model::kinds::find("", "Secret").unwrap();
        let about_git = Want::events_about("GitRepository");
        // Every Event covers any Event list; Events about one kind cover only that kind's.
        assert!(covers(&[Want::events()], &about_git));
        assert!(covers(&[Want::events()], &Want::events().in_namespace("apps")));
        assert!(covers(std::slice::from_ref(&about_git), &about_git));
        assert!(covers(std::slice::from_ref(&about_git), &about_git.clone().in_namespace("apps")));
        assert!(!covers(std::slice::from_ref(&about_git), &Want::events_about("Alert")));
        assert!(!covers(std::slice::from_ref(&about_git), &Want::events()));
        assert!(!covers(&[Want::events().in_namespace("apps")], &Want::events().in_namespace("shop")));
        assert!(!covers(&[Want::all(event)], &Want::all(secret)));
        // Events not about some kinds cover the Events about any other kind, and lists that
        // exclude as much or more.
        let not_pods = Want::events_not_about(["Pod", "Node"]);
        assert!(covers(std::slice::from_ref(&not_pods), &about_git));
        assert!(covers(std::slice::from_ref(&not_pods), &Want::events_not_about(["Node", "Pod", "Service"])));
        assert!(!covers(std::slice::from_ref(&not_pods), &Want::events_about("Pod")));
        assert!(!covers(std::slice::from_ref(&not_pods), &Want::events_not_about(["Pod"])));
        assert!(!covers(std::slice::from_ref(&not_pods), &Want::events()));
        assert!(covers(&[Want::events()], &not_pods));
        // Metadata covers metadata only; a label selector only the same selector.
        assert!(covers(&[Want::all(secret)], &Want::metadata(secret, None)));
        assert!(!covers(&[Want::metadata(secret, None)], &Want::all(secret)));
        assert!(covers(&[Want::labelled(secret, "owner=helm")], &Want::labelled(secret, "owner=helm")));
        assert!(!covers(&[Want::labelled(secret, "owner=helm")], &Want::all(secret)));
    }
}
