//! Reading a cluster into a snapshot: one discovery request, then one list request per wanted
//! kind (or kind and namespace), every kind concurrently, in rounds. Never a GET per object.

use super::client::{Call, Failure};
use super::connection::{Cluster, Connection, connect};
use super::discovery::{Core, Served, collection_path};
use crate::Want;
use crate::filter::Filter;
use crate::items::{ListedAs, Parsed, parse_items};
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::lenient::{Pick, texts};
use kubectl_flux_model::snapshot::Snapshot;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Accept header of a metadata-only list (`PartialObjectMetadataList`).
pub(crate) const METADATA: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
/// Accept header of full objects.
pub(crate) const JSON: &str = "application/json";

/// Which namespaces a read lists in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// Every namespace (`-A`, or a plugin that always reads the whole cluster).
    All,
    /// This one (`-n`).
    One(String),
    /// The kubeconfig context's namespace (else `default`), as kubectl without `-n`.
    Context,
}

/// Rounds after the first one at most: a bound on a caller that keeps asking.
pub const ROUNDS_MAX: usize = 8;

/// Reads the wanted kinds in rounds over one connection: `first`, then what `next` asks for
/// after seeing every object read so far, round after round, until it asks for nothing (at most
/// [`ROUNDS_MAX`] rounds after the first). A kind whose CRD is not installed is skipped with a
/// note; a kind the user may not list (403) leaves a note saying what the answer lacks.
pub fn read_rounds(
    connection: &Connection,
    namespaces: &Namespaces,
    first: &[Want],
    mut next: impl FnMut(&Snapshot) -> Vec<Want>,
) -> Result<Snapshot> {
    super::block_on(async {
        let cluster = connect(connection).await?;
        let namespace = match namespaces {
            Namespaces::All => None,
            Namespaces::One(ns) => Some(ns.clone()),
            Namespaces::Context => Some(cluster.default_namespace.clone()),
        };
        let served = cluster.discover(Core::Known).await?;
        let mut snapshot = Snapshot::new();
        snapshot.default_namespace = Some(cluster.default_namespace.clone());
        cluster.list_into(&served, namespace.as_deref(), first, &mut snapshot).await?;
        for _ in 0..ROUNDS_MAX {
            let more = next(&snapshot);
            if more.is_empty() {
                break;
            }
            cluster.list_into(&served, namespace.as_deref(), &more, &mut snapshot).await?;
        }
        Ok(snapshot)
    })
}

impl Cluster {
    /// Lists the wanted kinds concurrently into `snapshot`.
    async fn list_into(
        &self,
        served: &Served,
        namespace: Option<&str>,
        wants: &[Want],
        snapshot: &mut Snapshot,
    ) -> Result<()> {
        let mut jobs = Vec::new();
        for want in wants {
            let k = want.kind;
            match served.get(&(k.group.to_string(), k.kind.to_string())) {
                Some(s) => {
                    jobs.push(async move { (want, s.version.clone(), self.list(want, &s.version, namespace).await) })
                }
                None => unserved(snapshot, k),
            }
        }
        for (want, version, result) in futures::future::join_all(jobs).await {
            apply(snapshot, want, &version, result.map(|(items, _)| items))?;
        }
        Ok(())
    }

    /// Lists one kind completely (every page the server sends): its items, and the
    /// resourceVersion of the list (what a watch continues from).
    pub(crate) async fn list(
        &self,
        want: &Want,
        version: &str,
        namespace: Option<&str>,
    ) -> Result<(Vec<Parsed>, String), Failure> {
        let k = want.kind;
        let namespace = want.namespace.as_deref().or(namespace).filter(|_| k.namespaced);
        let api_version = if k.group.is_empty() { version.to_string() } else { format!("{}/{version}", k.group) };
        let path = collection_path(k.group, version, k.plural, namespace.unwrap_or(""));
        let accept = if want.metadata_only { METADATA } else { JSON };
        let listed_as = ListedAs { api_version: &api_version, kind: k.kind };
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let url = list_url(&path, want, token.as_deref());
            let body = self.send(&Call::get(&url, accept)).await?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| Failure::Fatal(format!("invalid JSON from the server: {e}")))?;
            // The server filtered the list: every item is kept.
            let parsed = parse_items(&page.items, |item| item.get(), &Filter::all(), Some(listed_as), false);
            for (i, item) in parsed.kept.into_iter().flatten() {
                items.push(item.map_err(|m| Failure::Fatal(format!("item {i}: {m}")))?);
            }
            token = page.token.filter(|t| !t.is_empty()).map(Cow::into_owned);
            if token.is_none() {
                return Ok((items, page.version.map(Cow::into_owned).unwrap_or_default()));
            }
        }
    }
}

/// Adds one list's answer to `snapshot` as the read it belongs to says: a list that returned its
/// kind whole (or whole in one namespace) makes an absent object of that kind a missing one; a
/// kind not served or not permitted becomes a note; any other failure ends the read. Lists sent
/// now and lists kept by a watch cache ([`super::cache`]) are added alike.
pub(crate) fn apply(
    snapshot: &mut Snapshot,
    want: &Want,
    version: &str,
    result: Result<Vec<Parsed>, Failure>,
) -> Result<()> {
    let k = want.kind;
    let group = if k.group.is_empty() { "core" } else { k.group };
    let call = match &want.namespace {
        Some(ns) => format!("list {group}/{version} {} in {ns}", k.plural),
        None => format!("list {group}/{version} {}", k.plural),
    };
    match result {
        Ok(items) => {
            let whole = want.is_complete();
            if whole {
                snapshot.mark_listed(k.group, k.kind);
            } else if let Some(ns) = want.namespace.as_deref().filter(|_| want.in_namespace_whole()) {
                snapshot.mark_listed_in(k.group, k.kind, ns);
            }
            let mut events = Vec::new();
            for item in items {
                match item {
                    Parsed::Object(object) | Parsed::Partial(object, _) if whole => snapshot.insert(object),
                    Parsed::Object(object) | Parsed::Partial(object, _) => snapshot.insert_unlisted(object),
                    Parsed::Event(event) => events.push(event),
                    Parsed::Skipped(_) => {}
                    Parsed::Other(_) => {
                        return Err(Error::Api { call, message: "an item is not a Kubernetes object".into() });
                    }
                }
            }
            snapshot.extend_events(events);
        }
        Err(Failure::NotFound(_)) => unserved(snapshot, k),
        Err(Failure::Forbidden(message)) => {
            let place = want.namespace.as_deref().map(|ns| format!(" in {ns}")).unwrap_or_default();
            note(snapshot, format!("forbidden to {call} ({message}); the answer lacks every {} object{place}", k.kind))
        }
        Err(failure) => return Err(failure.into_error(&call)),
    }
    Ok(())
}

/// The URL of one list of the live source: the whole kind in one request, without `limit`.
/// A consistent list without `limit` is served from the API server's watch cache (consistent
/// reads from cache, KEP-2340, on by default since Kubernetes 1.31), while every further page of
/// a paginated list is read from etcd, which counts the remaining keys for each page
/// (`remainingItemCount`): 400 pages of 200,000 Events took 43 s where one request took 4 s
/// (BENCHMARKS.md). A server that pages anyway sends a continue token, which is followed.
/// Events have no watch cache (kube-apiserver's `DefaultWatchCacheSizes` sets them to 0): a
/// cluster-wide Events list reads every Event from etcd whatever its field selector keeps, and
/// one in a namespace reads that namespace's only.
pub(crate) fn list_url(path: &str, want: &Want, token: Option<&str>) -> String {
    let params = kube::api::ListParams {
        label_selector: want.label_selector.map(str::to_string),
        field_selector: field_selector(want),
        continue_token: token.map(str::to_string),
        ..Default::default()
    };
    list_path(path, &params)
}

/// The field selector of a list or watch: the Events' involved kinds it keeps or leaves out.
pub(crate) fn field_selector(want: &Want) -> Option<String> {
    let fields: Vec<String> = want
        .involved_kind
        .map(|kind| format!("involvedObject.kind={kind}"))
        .into_iter()
        .chain(want.involved_kind_not.iter().map(|kind| format!("involvedObject.kind!={kind}")))
        .collect();
    (!fields.is_empty()).then(|| fields.join(","))
}

/// The path and query of a list as kube-core builds it, without the empty `?` and `&` it
/// leaves when a list has no parameter, or before the first one.
pub(crate) fn list_path(path: &str, params: &kube::api::ListParams) -> String {
    match kube::core::Request::new(path).list(params) {
        Ok(request) => {
            let uri = request.uri().to_string();
            uri.replacen("?&", "?", 1).trim_end_matches('?').to_string()
        }
        // Only invalid parameters fail, and none here are: the path alone lists everything.
        Err(_) => path.to_string(),
    }
}

/// A list answer delimited in one pass: its items as slices of the body, to be parsed on every
/// core, and its continue token.
struct Page<'a> {
    items: Vec<&'a RawValue>,
    token: Option<Cow<'a, str>>,
    version: Option<Cow<'a, str>>,
}

impl<'de> serde::Deserialize<'de> for Page<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Page<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Page<'de>, A::Error> {
                let mut page = Page { items: Vec::new(), token: None, version: None };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "items" => page.items = map.next_value::<Option<Vec<&'de RawValue>>>()?.unwrap_or_default(),
                        "metadata" => {
                            [page.token, page.version] =
                                texts(map.next_value_seed(Pick(["continue", "resourceVersion"]))?)
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(page)
            }
        }
        d.deserialize_map(V)
    }
}

/// The note for a kind the cluster does not serve.
pub(crate) fn not_served(k: &kubectl_flux_model::kinds::KindInfo) -> String {
    format!("{} ({}) is not served by this cluster; skipped", k.kind, k.group)
}

/// Records a kind the cluster does not serve (discovery lacks it, or its list answered 404):
/// the snapshot knows no object of it can exist, and says so once, unless the kind belongs to an
/// add-on most clusters run without ([`kubectl_flux_model::kinds::is_add_on`]).
pub(crate) fn unserved(snapshot: &mut Snapshot, k: &kubectl_flux_model::kinds::KindInfo) {
    snapshot.mark_not_served(k.group, k.kind);
    if !kubectl_flux_model::kinds::is_add_on(k.group) {
        note(snapshot, not_served(k));
    }
}

/// Adds a note once: a kind listed in several namespaces, or in several rounds, is noted once.
pub(crate) fn note(snapshot: &mut Snapshot, text: String) {
    if !snapshot.notes.contains(&text) {
        snapshot.notes.push(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_said_in_several_rounds_is_said_once() {
        let mut snapshot = Snapshot::new();
        let cron = kubectl_flux_model::kinds::find("batch", "CronJob").unwrap();
        note(&mut snapshot, not_served(cron));
        note(&mut snapshot, not_served(cron));
        note(&mut snapshot, "forbidden".into());
        assert_eq!(snapshot.notes, ["CronJob (batch) is not served by this cluster; skipped", "forbidden"]);
    }

    #[test]
    fn an_add_on_not_served_is_known_without_a_note() {
        let mut snapshot = Snapshot::new();
        let rset = kubectl_flux_model::kinds::find(kubectl_flux_model::kinds::OPERATOR_GROUP, "ResourceSet").unwrap();
        unserved(&mut snapshot, rset);
        assert!(snapshot.is_not_served(rset.group, rset.kind));
        assert!(snapshot.notes.is_empty(), "{:?}", snapshot.notes);
        let cron = kubectl_flux_model::kinds::find("batch", "CronJob").unwrap();
        unserved(&mut snapshot, cron);
        assert_eq!(snapshot.notes, ["CronJob (batch) is not served by this cluster; skipped"]);
    }

    #[test]
    fn event_lists_carry_one_field_selector() {
        assert_eq!(list_url("/api/v1/events", &Want::events(), None), "/api/v1/events");
        assert_eq!(
            list_url("/api/v1/events", &Want::events_about("Kustomization"), None),
            "/api/v1/events?fieldSelector=involvedObject.kind%3DKustomization"
        );
        assert_eq!(
            list_url("/api/v1/events", &Want::events_not_about(["Pod", "Node"]), Some("t=1")),
            "/api/v1/events?fieldSelector=involvedObject.kind%21%3DPod%2CinvolvedObject.kind%21%3DNode&continue=t%3D1"
        );
    }
}
