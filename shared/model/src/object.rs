//! A Kubernetes object as read from a cluster or a file, with typed access to common metadata.

use crate::json::Json;
use compact_str::CompactString;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// Identity of an object: API group, kind, namespace and name.
///
/// The namespace is empty for cluster-scoped objects and the group empty for the core group,
/// the same convention as Flux inventory IDs (`<namespace>_<name>_<group>_<kind>`). Parts of up
/// to 24 bytes (nearly every kind, namespace and name) are kept inline: an identity is copied
/// into every index that finds its object, without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// API group, empty for core objects.
    pub group: CompactString,
    /// Kind, e.g. `Kustomization`.
    pub kind: CompactString,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: CompactString,
    /// Name.
    pub name: CompactString,
}

impl ObjectRef {
    /// A reference from its parts.
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef { group: group.into(), kind: kind.into(), namespace: namespace.into(), name: name.into() }
    }

    /// Parses a Flux inventory ID (`<namespace>_<name>_<group>_<kind>`).
    ///
    /// Kubernetes names, namespaces, groups and kinds never contain `_`, so the ID splits into
    /// exactly four parts (fluxcd/pkg `ssa/object` `ObjMetadata` format).
    pub fn from_inventory_id(id: &str) -> Option<Self> {
        let mut parts = id.split('_');
        let (ns, name, group, kind) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || name.is_empty() || kind.is_empty() {
            return None;
        }
        Some(ObjectRef::new(group, kind, ns, name))
    }

    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub fn namespaced_name(&self) -> String {
        if self.namespace.is_empty() { self.name.to_string() } else { format!("{}/{}", self.namespace, self.name) }
    }
}

impl fmt::Display for ObjectRef {
    /// `Kind namespace/name`, the form used in every human-readable line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.namespaced_name())
    }
}

/// Splits an `apiVersion` into group and version (`apps/v1` -> (`apps`, `v1`), `v1` -> (``, `v1`)).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// One object: its identity plus the full JSON it was read as.
#[derive(Debug, Clone)]
pub struct Object {
    /// Identity.
    pub id: ObjectRef,
    /// API version it was read at, e.g. `kustomize.toolkit.fluxcd.io/v1`.
    pub api_version: String,
    /// The object as the API returned it, shared: a copy of the object (a snapshot assembled
    /// from a watch cache's stores) does not copy its JSON.
    pub raw: Arc<Json>,
    /// How many bytes of JSON it was read from (as the API server sent it, or as a file holds
    /// it): what listing it costs.
    pub bytes: u32,
    /// How many of those bytes were its `metadata.managedFields`, when reading dropped them (a
    /// file's objects lose them; a cluster's keep them in `raw`).
    pub managed_fields_bytes: u32,
}

impl Object {
    /// Wraps a JSON object; `None` if it lacks `apiVersion`, `kind` or `metadata.name`.
    pub fn from_value(raw: Value) -> Result<Self, String> {
        Object::from_json(Json::from(raw))
    }

    /// [`Object::from_value`] for JSON read compactly.
    pub fn from_json(raw: Json) -> Result<Self, String> {
        let api_version = raw.get("apiVersion").and_then(Json::as_str).ok_or("object has no apiVersion")?.to_string();
        let kind = raw.get("kind").and_then(Json::as_str).ok_or("object has no kind")?;
        let meta = raw.get("metadata").ok_or_else(|| format!("{kind} has no metadata"))?;
        let name = meta.get("name").and_then(Json::as_str).ok_or_else(|| format!("{kind} has no metadata.name"))?;
        let namespace = meta.get("namespace").and_then(Json::as_str).unwrap_or("");
        let (group, _) = split_api_version(&api_version);
        let id = ObjectRef::new(group, kind, namespace, name);
        Ok(Object { id, api_version, raw: Arc::new(raw), bytes: 0, managed_fields_bytes: 0 })
    }

    /// A field by JSON pointer (`/spec/interval`).
    pub fn at(&self, pointer: &str) -> Option<&Json> {
        self.raw.pointer(pointer)
    }

    /// A string field by JSON pointer.
    pub fn str_at(&self, pointer: &str) -> Option<&str> {
        self.raw.pointer(pointer).and_then(Json::as_str)
    }

    /// A label value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.raw.get("metadata")?.get("labels")?.get(key)?.as_str()
    }

    /// An annotation value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.raw.get("metadata")?.get("annotations")?.get(key)?.as_str()
    }

    /// `metadata.uid`, empty when absent.
    pub fn uid(&self) -> &str {
        self.str_at("/metadata/uid").unwrap_or("")
    }

    /// `metadata.creationTimestamp`.
    pub fn created(&self) -> Option<&str> {
        self.str_at("/metadata/creationTimestamp")
    }

    /// Whether `metadata.deletionTimestamp` is set (the object is Terminating).
    pub fn terminating(&self) -> bool {
        self.at("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
    }

    /// `metadata.ownerReferences` as (apiVersion, kind, name, uid, controller).
    pub fn owner_refs(&self) -> Vec<OwnerRef<'_>> {
        self.at("/metadata/ownerReferences")
            .and_then(Json::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| {
                        Some(OwnerRef {
                            api_version: r.get("apiVersion")?.as_str()?,
                            kind: r.get("kind")?.as_str()?,
                            name: r.get("name")?.as_str()?,
                            uid: r.get("uid").and_then(Json::as_str).unwrap_or(""),
                            controller: r.get("controller").and_then(Json::as_bool) == Some(true),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, Copy)]
pub struct OwnerRef<'a> {
    /// Owner's apiVersion.
    pub api_version: &'a str,
    /// Owner's kind.
    pub kind: &'a str,
    /// Owner's name (same namespace as the dependent).
    pub name: &'a str,
    /// Owner's uid.
    pub uid: &'a str,
    /// Whether this owner is the managing controller.
    pub controller: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_ids_parse_like_flux_writes_them() {
        let cm = ObjectRef::from_inventory_id("apps_web__ConfigMap").unwrap();
        assert_eq!(cm, ObjectRef::new("", "ConfigMap", "apps", "web"));
        let sc = ObjectRef::from_inventory_id("_fast_storage.k8s.io_StorageClass").unwrap();
        assert_eq!(sc.namespace, "");
        assert_eq!(sc.group, "storage.k8s.io");
        assert!(ObjectRef::from_inventory_id("a_b_c").is_none());
        assert!(ObjectRef::from_inventory_id("a_b_c_d_e").is_none());
    }

    #[test]
    fn fields_are_read_by_pointer() {
        // Pointers themselves are Json::pointer's (tested there).
        let raw = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "list": [{"x": 1}, {"x": 2}]});
        let object = Object::from_value(raw).unwrap();
        assert_eq!(object.str_at("/metadata/name"), Some("c"));
        assert_eq!(object.str_at("/list/1/x"), None);
        assert_eq!(object.at("/list/1/x").and_then(Json::as_i64), Some(2));
    }

    #[test]
    fn objects_need_identity() {
        let err = Object::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Pod"}));
        assert_eq!(err.unwrap_err(), "Pod has no metadata");
    }
}
