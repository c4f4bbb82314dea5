//! API weight, the guide's "manifest bloat": why `kubectl get kustomizations -A` is slow. The
//! bytes the API server serves per Flux kind and namespace, the largest objects, the share of
//! managedFields, the largest inventories, and Helm release storage per release: from the
//! objects the plugin listed anyway, never a GET per object.

use kubectl_flux_graph::flux;
use kubectl_flux_model::{Object, Snapshot};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many of each "largest" list are shown.
pub const TOP: usize = 5;

/// The weight of what the Flux objects cost to list.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Weight {
    /// Per Flux kind, heaviest first.
    pub kinds: Vec<KindWeight>,
    /// The heaviest namespaces (bytes of Flux objects).
    pub namespaces: Vec<(String, u64)>,
    /// The largest objects.
    pub largest: Vec<(String, u64)>,
    /// The largest inventories (entries).
    pub inventories: Vec<(String, usize)>,
    /// Helm release storage per release: (namespace/release, revisions, bytes), heaviest first.
    pub helm_releases: Vec<(String, usize, u64)>,
}

/// One kind's weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindWeight {
    /// The kind.
    pub kind: String,
    /// Objects.
    pub objects: usize,
    /// Bytes served.
    pub bytes: u64,
    /// Of which managedFields.
    pub managed_fields_bytes: u64,
}

/// An object's managedFields, in bytes: measured when reading dropped them (files), else
/// serialized from the object (a cluster's objects keep them).
fn managed_fields(o: &Object) -> u64 {
    if o.managed_fields_bytes > 0 {
        return u64::from(o.managed_fields_bytes);
    }
    o.at("/metadata/managedFields").and_then(|m| serde_json::to_string(m).ok()).map_or(0, |t| t.len() as u64)
}

fn top<T: Ord + Copy>(map: BTreeMap<String, T>) -> Vec<(String, T)> {
    let mut v: Vec<(String, T)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(TOP);
    v
}

/// Weighs the snapshot's Flux objects and Helm storage Secrets.
pub fn weigh(snapshot: &Snapshot) -> Weight {
    let mut kinds: BTreeMap<String, KindWeight> = BTreeMap::new();
    let mut namespaces: BTreeMap<String, u64> = BTreeMap::new();
    let mut largest: BTreeMap<String, u64> = BTreeMap::new();
    let mut inventories: BTreeMap<String, usize> = BTreeMap::new();
    for o in snapshot.objects().iter().filter(|o| kubectl_flux_model::kinds::is_flux_group(&o.id.group)) {
        let bytes = u64::from(o.bytes);
        let k = kinds.entry(o.id.kind.to_string()).or_insert_with(|| KindWeight {
            kind: o.id.kind.to_string(),
            objects: 0,
            bytes: 0,
            managed_fields_bytes: 0,
        });
        k.objects += 1;
        k.bytes += bytes;
        k.managed_fields_bytes += managed_fields(o);
        *namespaces.entry(o.id.namespace.to_string()).or_default() += bytes;
        largest.insert(o.id.to_string(), bytes);
        if o.id.kind == "Kustomization" {
            inventories.insert(o.id.to_string(), flux::inventory(o).len());
        }
    }
    let mut helm: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for s in snapshot.of_kind("", "Secret").filter(|s| s.label("owner") == Some("helm")) {
        let release = s.label("name").unwrap_or(&s.id.name);
        let e = helm.entry(format!("{}/{release}", s.id.namespace)).or_default();
        e.0 += 1;
        e.1 += u64::from(s.bytes);
    }
    let mut kinds: Vec<KindWeight> = kinds.into_values().collect();
    kinds.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.kind.cmp(&b.kind)));
    let mut helm_releases: Vec<(String, usize, u64)> = helm.into_iter().map(|(r, (n, b))| (r, n, b)).collect();
    helm_releases.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    helm_releases.truncate(TOP);
    inventories.retain(|_, n| *n > 0);
    Weight { kinds, namespaces: top(namespaces), largest: top(largest), inventories: top(inventories), helm_releases }
}
