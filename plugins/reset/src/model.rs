//! What a reset works on: the Flux objects in scope ([`Target`]), the scope itself, and the API
//! paths of every object, so `plan` prints exactly the calls `run` makes.

use crate::error::{ResetError, Result};
use kubectl_flux_graph::{flux, health};
use kubectl_flux_model::kinds::{self, FLUX_KINDS, KindInfo};
use kubectl_flux_model::selector::Selector;
use kubectl_flux_model::{Object, ObjectRef};
use kubectl_flux_source::live::collection_path;
use serde_json::{Value, json};

/// The Flux finalizer every controller adds (`finalizers.fluxcd.io`).
pub const FLUX_FINALIZER: &str = "finalizers.fluxcd.io";

/// Flux kinds a reset covers: every kind with `spec.suspend`. ExternalArtifact has none (its
/// generator writes it; source-controller's CRD `config/crd/bases`), so it is never reset.
/// Neither has ArtifactGenerator (source-watcher stops it by an annotation instead): it is left
/// running and regenerates its ExternalArtifacts once the recreated sources are ready. The
/// flux-operator's kinds have none either: a ResourceSet or FluxInstance that generated objects
/// in scope is held instead ([`crate::hold`]).
pub fn reset_kinds() -> impl Iterator<Item = &'static KindInfo> {
    FLUX_KINDS
        .iter()
        .filter(|k| !matches!(k.kind, "ExternalArtifact" | "ArtifactGenerator") && k.group != kinds::OPERATOR_GROUP)
}

/// The order objects are created and resumed in: notification first (so no event is missed),
/// then sources, image automation, and the appliers (Kustomization, HelmRelease) last. Suspend
/// and delete go the other way round: appliers first.
pub fn rank(kind: &str) -> u8 {
    match kind {
        "Provider" => 0,
        "Alert" | "Receiver" => 1,
        "GitRepository" | "OCIRepository" | "Bucket" | "HelmRepository" => 2,
        "HelmChart" => 3,
        "ImageRepository" => 4,
        "ImagePolicy" => 5,
        "ImageUpdateAutomation" => 6,
        "Kustomization" | "HelmRelease" => 7,
        _ => 8,
    }
}

/// Which objects a reset covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Namespaces, or `None` for every namespace (`--all`).
    pub namespaces: Option<Vec<String>>,
    /// `-l` as typed.
    pub selector: Option<String>,
    /// Kinds, in [`FLUX_KINDS`] order.
    pub kinds: Vec<&'static KindInfo>,
}

impl Scope {
    /// Resolves the scope flags: `-n NS[,NS]` or `--all`, never neither; `-A` alone is refused
    /// so that a cluster-wide reset is always asked for by name.
    pub fn from_flags(
        namespace: Option<&str>,
        all_namespaces: bool,
        all: bool,
        selector: Option<&str>,
        kinds_flag: &[String],
    ) -> Result<Scope> {
        let namespaces = match (namespace, all) {
            (Some(_), true) => return Err(ResetError::Usage("use either -n NAMESPACE or --all, not both".into())),
            (None, true) => None,
            (Some(ns), false) => {
                let mut list: Vec<String> =
                    ns.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
                list.sort();
                list.dedup();
                if list.is_empty() {
                    return Err(ResetError::Usage("-n needs a namespace".into()));
                }
                Some(list)
            }
            (None, false) if all_namespaces => {
                return Err(ResetError::Usage(
                    "-A would reset every Flux object of the cluster: say so with --all".into(),
                ));
            }
            (None, false) => {
                return Err(ResetError::Usage(
                    "say what to reset: -n NAMESPACE[,NAMESPACE...] or --all for the whole cluster".into(),
                ));
            }
        };
        if let Some(text) = selector {
            Selector::parse(text).map_err(ResetError::Usage)?;
        }
        let mut chosen: Vec<&'static KindInfo> = Vec::new();
        for word in kinds_flag.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
            let k = kinds::resolve(word)
                .filter(|k| kinds::is_flux_group(k.group))
                .ok_or_else(|| ResetError::Usage(format!("--kind {word:?} is not a Flux kind")))?;
            if k.kind == "ExternalArtifact" {
                return Err(ResetError::Usage(
                    "ExternalArtifacts cannot be reset: they have no spec.suspend and their generator rewrites them"
                        .into(),
                ));
            }
            if k.kind == "ArtifactGenerator" {
                return Err(ResetError::Usage(
                    "ArtifactGenerators are not reset: they have no spec.suspend; reset their sources and they regenerate their ExternalArtifacts"
                        .into(),
                ));
            }
            if k.group == kinds::OPERATOR_GROUP {
                return Err(ResetError::Usage(format!(
                    "{}s are not reset: the flux-operator's objects have no spec.suspend; reset what they generate and the reset holds them meanwhile",
                    k.kind
                )));
            }
            if !chosen.contains(&k) {
                chosen.push(k);
            }
        }
        let kinds: Vec<&'static KindInfo> = reset_kinds().filter(|k| chosen.is_empty() || chosen.contains(k)).collect();
        Ok(Scope { namespaces, selector: selector.map(str::to_string), kinds })
    }

    /// Whether an object is in scope.
    pub fn contains(&self, o: &Object) -> bool {
        let ns_ok = self.namespaces.as_ref().is_none_or(|list| list.iter().any(|n| *n == o.id.namespace));
        let kind_ok = self.kinds.iter().any(|k| k.group == o.id.group && k.kind == o.id.kind);
        let sel_ok = match &self.selector {
            Some(text) => Selector::parse(text).is_ok_and(|s| s.matches(o)),
            None => true,
        };
        ns_ok && kind_ok && sel_ok
    }

    /// The scope in words, for the plan's first line.
    pub fn describe(&self) -> String {
        let mut words = match &self.namespaces {
            None => "every namespace (--all)".to_string(),
            Some(list) if list.len() == 1 => format!("namespace {}", list[0]),
            Some(list) => format!("namespaces {}", list.join(", ")),
        };
        if let Some(sel) = &self.selector {
            words.push_str(&format!(", selector {sel}"));
        }
        if self.kinds.len() != reset_kinds().count() {
            let names: Vec<&str> = self.kinds.iter().map(|k| k.kind).collect();
            words.push_str(&format!(", kinds {}", names.join(", ")));
        }
        words
    }

    /// The scope as recorded in the journal.
    pub fn to_json(&self) -> Value {
        json!({
            "namespaces": self.namespaces,
            "selector": self.selector,
            "kinds": self.kinds.iter().map(|k| k.kind).collect::<Vec<_>>(),
        })
    }

    /// The scope read back from the journal.
    pub fn from_json(v: &Value) -> Option<Scope> {
        let namespaces = match v.get("namespaces") {
            Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).map(str::to_string).collect()),
            _ => None,
        };
        let selector = v.get("selector").and_then(Value::as_str).map(str::to_string);
        let names: Vec<&str> = v.get("kinds")?.as_array()?.iter().filter_map(Value::as_str).collect();
        let kinds = reset_kinds().filter(|k| names.contains(&k.kind)).collect();
        Some(Scope { namespaces, selector, kinds })
    }

    /// The collections listing this scope's objects of one kind: one per namespace, or one
    /// cluster-wide path.
    pub fn list_paths(&self, kind: &KindInfo, version: &str) -> Vec<String> {
        match &self.namespaces {
            None => vec![collection_path(kind.group, version, kind.plural, "")],
            Some(list) => list.iter().map(|ns| collection_path(kind.group, version, kind.plural, ns)).collect(),
        }
    }
}

/// One Flux object a reset covers, as backed up.
#[derive(Debug, Clone)]
pub struct Target {
    /// Identity.
    pub id: ObjectRef,
    /// Version it was read at (`v1`).
    pub version: String,
    /// Its kind.
    pub kind: &'static KindInfo,
    /// The object as read, status included.
    pub raw: Value,
}

impl Target {
    /// A target from an object of a kind the reset covers.
    pub fn from_object(o: &Object) -> Option<Target> {
        let kind = reset_kinds().find(|k| k.group == o.id.group && k.kind == o.id.kind)?;
        let version = kubectl_flux_model::object::split_api_version(&o.api_version).1.to_string();
        Some(Target { id: o.id.clone(), version, kind, raw: o.raw.to_value() })
    }

    /// The object in the shared model (health, inventory, Helm storage).
    pub fn object(&self) -> Object {
        Object {
            id: self.id.clone(),
            api_version: self.api_version(),
            raw: std::sync::Arc::new(self.raw.clone().into()),
            bytes: 0,
            managed_fields_bytes: 0,
        }
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.kind.group, self.version)
    }

    /// Where objects of this kind are created.
    pub fn collection(&self) -> String {
        collection_path(self.kind.group, &self.version, self.kind.plural, &self.id.namespace)
    }

    /// The object's own path.
    pub fn path(&self) -> String {
        format!("{}/{}", self.collection(), self.id.name)
    }

    /// `spec.suspend` as backed up (absent is `None`).
    pub fn original_suspend(&self) -> Option<bool> {
        self.raw.pointer("/spec/suspend").and_then(Value::as_bool)
    }

    /// Whether the object was suspended before the reset (it stays suspended after it).
    pub fn was_suspended(&self) -> bool {
        self.original_suspend() == Some(true)
    }

    /// `spec.deletionPolicy` as backed up.
    pub fn original_deletion_policy(&self) -> Option<&str> {
        self.raw.pointer("/spec/deletionPolicy").and_then(Value::as_str)
    }

    /// Kustomizations also get `deletionPolicy: Orphan` while they are suspended: `prune: false`
    /// alone does not protect against `deletionPolicy: Delete` (FLUX-FACTS, kustomize-controller
    /// `finalizerShouldDeleteResources`).
    pub fn guards_deletion_policy(&self) -> bool {
        self.kind.kind == "Kustomization"
    }

    /// The merge patch that suspends the object (and orphans a Kustomization's inventory).
    pub fn suspend_patch(&self) -> Value {
        if self.guards_deletion_policy() {
            json!({"spec": {"suspend": true, "deletionPolicy": "Orphan"}})
        } else {
            json!({"spec": {"suspend": true}})
        }
    }

    /// The merge patch that gives back the backed-up `suspend` and `deletionPolicy` (absent
    /// fields are removed, so the spec equals the backup's) and asks for a reconcile, as
    /// `flux resume` does (`reconcile.fluxcd.io/requestedAt`).
    pub fn resume_patch(&self, requested_at: &str) -> Value {
        let mut spec = serde_json::Map::new();
        spec.insert("suspend".into(), self.original_suspend().map(Value::from).unwrap_or(Value::Null));
        if self.guards_deletion_policy() {
            spec.insert(
                "deletionPolicy".into(),
                self.original_deletion_policy().map(Value::from).unwrap_or(Value::Null),
            );
        }
        let mut patch = json!({"spec": spec});
        if !self.was_suspended() {
            patch["metadata"] = json!({"annotations": {"reconcile.fluxcd.io/requestedAt": requested_at}});
        }
        patch
    }

    /// Whether a live copy carries the reset's guards: suspended, and for Kustomizations
    /// `deletionPolicy: Orphan`.
    pub fn guarded(&self, live: &Value) -> bool {
        let suspended = live.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
        let policy = live.pointer("/spec/deletionPolicy").and_then(Value::as_str);
        suspended && (!self.guards_deletion_policy() || policy == Some("Orphan"))
    }

    /// The body that recreates the object: the backed-up spec, labels and annotations, with
    /// what the server and controllers set stripped (uid, resourceVersion, generation,
    /// timestamps, managedFields, finalizers, status) and the guards on (still suspended).
    /// Owner references to objects that the reset recreated (their uid changes) are dropped,
    /// or the garbage collector would delete the new object.
    pub fn recreate_body(&self, recreated_uids: &[String]) -> Value {
        let mut body = self.raw.clone();
        if let Some(map) = body.as_object_mut() {
            map.remove("status");
            map.insert("apiVersion".into(), Value::from(self.api_version()));
            map.insert("kind".into(), Value::from(self.kind.kind));
        }
        if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
                "finalizers",
            ] {
                meta.remove(f);
            }
            if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
                refs.retain(|r| {
                    !r.get("uid").and_then(Value::as_str).is_some_and(|u| recreated_uids.iter().any(|x| x == u))
                });
                if refs.is_empty() {
                    meta.remove("ownerReferences");
                }
            }
        }
        if let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("suspend".into(), Value::Bool(true));
            if self.guards_deletion_policy() {
                spec.insert("deletionPolicy".into(), Value::from("Orphan"));
            }
        }
        body
    }

    /// Ready=True in the backup (at the generation it describes).
    pub fn was_ready(&self) -> bool {
        is_ready(&self.raw)
    }

    /// Whether the backup has a Ready condition at all (Alerts and Providers of
    /// notification.toolkit.fluxcd.io/v1beta3 have no status: nothing to wait for).
    pub fn reports_ready(&self) -> bool {
        object(&self.raw).and_then(|o| flux::condition(&o, "Ready")).is_some()
    }
}

/// The object in the shared model, for readiness.
fn object(raw: &Value) -> Option<Object> {
    Object::from_value(raw.clone()).ok()
}

/// Ready=True for the object's current generation (a stale status does not count), as every
/// plugin judges it ([`health::is_ready`]).
pub fn is_ready(raw: &Value) -> bool {
    object(raw).is_some_and(|o| health::is_ready(&o))
}

/// The Ready condition's status, reason and message, for findings.
pub fn ready_words(raw: &Value) -> String {
    match object(raw).and_then(|o| flux::condition(&o, "Ready")) {
        None => "no Ready condition yet".to_string(),
        Some(c) => {
            let mut text = format!("Ready={}", c.status);
            if !c.reason.is_empty() {
                text.push_str(&format!(" ({})", c.reason));
            }
            if !c.message.is_empty() {
                text.push_str(&format!(": {}", c.message));
            }
            text
        }
    }
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_terminating(raw: &Value) -> bool {
    raw.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
}

/// The spec as compared by verification.
pub fn spec(raw: &Value) -> Value {
    raw.get("spec").cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(spec: Value) -> Target {
        let o = Object::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system", "uid": "u1", "resourceVersion": "9",
                         "finalizers": ["finalizers.fluxcd.io"], "generation": 3,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "a", "uid": "u0"},
                                             {"apiVersion": "v1", "kind": "Y", "name": "b", "uid": "keep"}]},
            "spec": spec, "status": {"conditions": [{"type": "Ready", "status": "True", "observedGeneration": 3}]}
        }))
        .unwrap();
        Target::from_object(&o).unwrap()
    }

    #[test]
    fn recreate_keeps_the_spec_and_strips_what_the_server_set() {
        let t = ks(json!({"prune": true, "interval": "10m"}));
        assert_eq!(t.path(), "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps");
        let body = t.recreate_body(&["u0".to_string()]);
        assert_eq!(
            body,
            json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "apps", "namespace": "flux-system",
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Y", "name": "b", "uid": "keep"}]},
                "spec": {"prune": true, "interval": "10m", "suspend": true, "deletionPolicy": "Orphan"}
            })
        );
        assert!(t.was_ready());
    }

    #[test]
    fn resume_gives_back_exactly_what_was_there() {
        let t = ks(json!({"prune": true}));
        assert_eq!(
            t.resume_patch("now"),
            json!({"spec": {"suspend": null, "deletionPolicy": null},
                   "metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}})
        );
        let t = ks(json!({"suspend": true, "deletionPolicy": "Delete"}));
        assert_eq!(t.resume_patch("now"), json!({"spec": {"suspend": true, "deletionPolicy": "Delete"}}));
    }

    #[test]
    fn scope_must_be_said() {
        assert!(Scope::from_flags(None, false, false, None, &[]).is_err());
        assert!(Scope::from_flags(None, true, false, None, &[]).is_err());
        assert!(Scope::from_flags(Some("a"), false, true, None, &[]).is_err());
        let s = Scope::from_flags(Some("b,a"), false, false, None, &["ks".into(), "hr".into()]).unwrap();
        assert_eq!(s.namespaces, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(s.kinds.len(), 2);
        assert_eq!(Scope::from_json(&s.to_json()), Some(s));
        assert!(Scope::from_flags(None, false, true, None, &["externalartifact".into()]).is_err());
        assert!(Scope::from_flags(None, false, true, None, &["deploy".into()]).is_err());
    }
}
