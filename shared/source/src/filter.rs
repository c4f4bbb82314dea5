//! Which objects a read keeps, and how much of each: the lists a plugin wants, applied to a
//! file's objects as the API server applies them to a cluster's (namespace, label and field
//! selectors, metadata only), plus the trim every file object gets ([`slim`]).

use crate::Want;
use kubectl_flux_model::json::Json;
use kubectl_flux_model::object::Object;
use kubectl_flux_model::selector::Selector;
use std::collections::HashMap;

/// Which objects a reader keeps: every object, or what a plugin would list from a cluster (plus
/// kinds the suite does not know, which a cluster read never sees but a snapshot may hold).
/// Objects of a known kind the plugin does not want are still checked (identity, syntax) but
/// never built, so a 200,000-Event snapshot costs flux-tenants one scan of the Events' text, not
/// 200,000 object trees. Label selectors and metadata-only lists are honoured as the API server
/// would: a plugin sees the same objects, with the same fields, from a file as from a cluster.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    wanted: Option<HashMap<(&'static str, &'static str), Vec<Rule>>>,
    /// Whether objects of kinds the suite does not know are kept (not in a later stage: the
    /// first one kept them already).
    unknown_kinds: bool,
}

/// One list a plugin asks for: which objects of the kind (selector, namespace) and how much of
/// them.
#[derive(Debug, Clone)]
struct Rule {
    selector: Option<Selector>,
    metadata_only: bool,
    namespace: Option<String>,
    involved_kind: Option<&'static str>,
    involved_kind_not: Vec<&'static str>,
}

impl Rule {
    /// Whether an object in this namespace (an Event about an object of this kind, if it is
    /// one) can be on this list: the API server's namespace and field selector, applied before
    /// the object is built.
    fn allows(&self, namespace: &str, involved_kind: Option<&str>) -> bool {
        self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && self.involved_kind.is_none_or(|k| involved_kind == Some(k))
            // An Event without an involved kind has an empty one, which no term excludes.
            && !self.involved_kind_not.contains(&involved_kind.unwrap_or(""))
    }
}

impl Filter {
    /// Keeps every object.
    pub fn all() -> Self {
        Filter { wanted: None, unknown_kinds: true }
    }

    /// Keeps what the wanted lists would return, and objects of kinds the suite does not know.
    pub fn wants(wants: &[Want]) -> Self {
        let mut wanted: HashMap<(&'static str, &'static str), Vec<Rule>> = HashMap::new();
        for w in wants {
            let selector = w.label_selector.map(|s| Selector::parse(s).expect("a plugin's own label selector parses"));
            wanted.entry((w.kind.group, w.kind.kind)).or_default().push(Rule {
                selector,
                metadata_only: w.metadata_only,
                namespace: w.namespace.clone(),
                involved_kind: w.involved_kind,
                involved_kind_not: w.involved_kind_not.clone(),
            });
        }
        Filter { wanted: Some(wanted), unknown_kinds: true }
    }

    /// Keeps what the wanted lists would return, and nothing of kinds the suite does not know:
    /// a later stage of a read whose first stage kept those.
    pub fn wants_only(wants: &[Want]) -> Self {
        Filter { unknown_kinds: false, ..Filter::wants(wants) }
    }

    /// Whether every object is kept, whole.
    pub(crate) fn keeps_all(&self) -> bool {
        self.wanted.is_none()
    }

    /// Whether objects of this group and kind are kept (some of them, at least).
    pub fn keeps(&self, group: &str, kind: &str) -> bool {
        match &self.wanted {
            None => true,
            Some(wanted) => {
                wanted.contains_key(&(group, kind))
                    || (self.unknown_kinds && kubectl_flux_model::kinds::find(group, kind).is_none())
            }
        }
    }

    /// Whether objects of this group and kind in this namespace (Events about objects of
    /// `involved_kind`) are kept (some of them).
    pub(crate) fn keeps_in(&self, group: &str, kind: &str, namespace: &str, involved_kind: Option<&str>) -> bool {
        match self.wanted.as_ref().and_then(|w| w.get(&(group, kind))) {
            Some(rules) => rules.iter().any(|r| r.allows(namespace, involved_kind)),
            None => self.keeps(group, kind),
        }
    }

    /// Whether every object of this group and kind that [`Filter::keeps_in`] keeps is kept whole
    /// (no list of it has a label selector or is metadata-only), so it needs no [`Filter::admit`].
    pub(crate) fn keeps_whole(&self, group: &str, kind: &str) -> bool {
        self.wanted
            .as_ref()
            .and_then(|w| w.get(&(group, kind)))
            .is_none_or(|rules| rules.iter().all(|r| r.selector.is_none() && !r.metadata_only))
    }

    /// Whether a list would return the object, and how: `None` when no list's selector matches
    /// it, `Some(false)` when every list matching it is metadata-only, `Some(true)` whole.
    pub(crate) fn admits(&self, object: &Object) -> Option<bool> {
        let Some(rules) =
            self.wanted.as_ref().and_then(|w| w.get(&(object.id.group.as_str(), object.id.kind.as_str())))
        else {
            return Some(true);
        };
        let involved_kind = object.str_at("/involvedObject/kind");
        let matching = rules.iter().filter(|r| {
            r.allows(&object.id.namespace, involved_kind) && r.selector.as_ref().is_none_or(|s| s.matches(object))
        });
        let mut any = false;
        let mut whole = false;
        for r in matching {
            any = true;
            whole |= !r.metadata_only;
        }
        any.then_some(whole)
    }

    /// The object as the wanted lists would return it (see [`Filter::admits`]).
    pub(crate) fn admit(&self, mut object: Object) -> Option<Object> {
        if !self.admits(&object)? {
            metadata_only(&mut object);
        }
        Some(object)
    }
}

/// Keeps only an object's identity and metadata, as a metadata-only list returns it.
pub(crate) fn metadata_only(object: &mut Object) {
    if let Some(fields) = std::sync::Arc::make_mut(&mut object.raw).as_object_mut() {
        fields.retain(|k, _| matches!(k, "apiVersion" | "kind" | "metadata"));
    }
}

/// Drops what no plugin reads and that dominates `kubectl get -o json` output: managedFields and
/// the last-applied-configuration annotation (a second copy of the object). Returns the bytes
/// of managedFields dropped (as compact JSON), for what listing the object costs.
pub(crate) fn slim(object: &mut Json) -> u32 {
    let mut dropped = 0;
    if let Some(meta) = object.get_mut("metadata").and_then(Json::as_object_mut) {
        if let Some(managed) = meta.remove("managedFields") {
            dropped = serde_json::to_string(&managed).map_or(0, |t| u32::try_from(t.len()).unwrap_or(u32::MAX));
        }
        if let Some(annotations) = meta.get_mut("annotations").and_then(Json::as_object_mut) {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    dropped
}
