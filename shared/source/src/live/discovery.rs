//! What a cluster serves: every kind's preferred version, plural and scope, from aggregated
//! discovery (one request for the API groups, one more for the core group when asked).

use super::client::Failure;
use super::connection::Cluster;
use kubectl_flux_model::error::Result;
use serde_json::Value;
use std::collections::HashMap;

/// One kind as the cluster serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedKind {
    /// The preferred version (`v1`).
    pub version: String,
    /// The plural resource name (`kustomizations`).
    pub plural: String,
    /// Namespaced, or cluster-scoped.
    pub namespaced: bool,
}

/// Served kinds by (group, kind).
pub type Served = HashMap<(String, String), ServedKind>;

/// Whether discovery also asks the core group (`GET /api`): the plugins that read only kinds the
/// suite knows take the core group's kinds from their table instead, one request fewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    /// The core kinds from the suite's table of kinds.
    Known,
    /// The core kinds as the server serves them (`GET /api`): any kind an inventory may name.
    Asked,
}

impl Cluster {
    /// The served version, plural and scope of every kind of every API group, from aggregated
    /// discovery (`GET /apis` as `APIGroupDiscoveryList`, Kubernetes >= 1.30), in the server's
    /// order of preference. A server without aggregated discovery answers with a plain
    /// `APIGroupList`: then each group's preferred version is used for the kinds the suite knows.
    pub async fn discover(&self, core: Core) -> Result<Served> {
        const ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let mut served = Served::new();
        let paths: &[&str] = match core {
            Core::Known => &["/apis"],
            Core::Asked => &["/api", "/apis"],
        };
        for path in paths {
            let doc = self
                .get_json(path, ACCEPT)
                .await
                .map_err(|f: Failure| f.into_error(&format!("GET {path} (discovery)")))?;
            read_discovery(&doc, &mut served);
        }
        if core == Core::Known {
            for k in kubectl_flux_model::kinds::all().filter(|k| k.group.is_empty()) {
                served.insert(
                    (String::new(), k.kind.to_string()),
                    ServedKind { version: "v1".into(), plural: k.plural.into(), namespaced: k.namespaced },
                );
            }
        }
        Ok(served)
    }
}

/// Adds what one discovery document says to `served`, the first version of a kind winning.
fn read_discovery(doc: &Value, served: &mut Served) {
    if doc.get("kind").and_then(Value::as_str) == Some("APIGroupDiscoveryList") {
        for g in doc.get("items").and_then(Value::as_array).into_iter().flatten() {
            let group = g.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            for v in g.get("versions").and_then(Value::as_array).into_iter().flatten() {
                let version = v.get("version").and_then(Value::as_str).unwrap_or("");
                for r in v.get("resources").and_then(Value::as_array).into_iter().flatten() {
                    let (Some(kind), Some(plural)) = (
                        r.pointer("/responseKind/kind").and_then(Value::as_str),
                        r.get("resource").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    served.entry((group.to_string(), kind.to_string())).or_insert_with(|| ServedKind {
                        version: version.to_string(),
                        plural: plural.to_string(),
                        namespaced: r.get("scope").and_then(Value::as_str) == Some("Namespaced"),
                    });
                }
            }
        }
        return;
    }
    for g in doc.get("groups").and_then(Value::as_array).into_iter().flatten() {
        if let (Some(name), Some(version)) =
            (g.get("name").and_then(Value::as_str), g.pointer("/preferredVersion/version").and_then(Value::as_str))
        {
            for k in kubectl_flux_model::kinds::all().filter(|k| k.group == name) {
                served.insert(
                    (name.to_string(), k.kind.to_string()),
                    ServedKind { version: version.to_string(), plural: k.plural.into(), namespaced: k.namespaced },
                );
            }
        }
    }
}

/// The path of a collection: `/api/v1/namespaces/NS/PLURAL`, `/apis/GROUP/VERSION/PLURAL`
/// (cluster-wide when `namespace` is empty, as an [`ObjectRef`](kubectl_flux_model::ObjectRef)'s
/// is for a cluster-scoped object), as kube-core builds it.
pub fn collection_path(group: &str, version: &str, plural: &str, namespace: &str) -> String {
    use kube::core::{ApiResource, DynamicObject, GroupVersionKind, Resource};
    let gvk = GroupVersionKind::gvk(group, version, "");
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    DynamicObject::url_path(&resource, Some(namespace).filter(|ns| !ns.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_are_paths_of_the_core_group_or_a_named_one() {
        assert_eq!(collection_path("", "v1", "secrets", "apps"), "/api/v1/namespaces/apps/secrets");
        assert_eq!(collection_path("", "v1", "nodes", ""), "/api/v1/nodes");
        assert_eq!(
            collection_path("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", ""),
            "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations"
        );
    }

    #[test]
    fn aggregated_discovery_keeps_the_first_version_and_the_scope() {
        let doc = serde_json::json!({"kind": "APIGroupDiscoveryList", "items": [{"metadata": {"name": "source.toolkit.fluxcd.io"},
            "versions": [
                {"version": "v1", "resources": [{"resource": "gitrepositories", "scope": "Namespaced", "responseKind": {"kind": "GitRepository"}}]},
                {"version": "v1beta2", "resources": [{"resource": "gitrepositories", "scope": "Namespaced", "responseKind": {"kind": "GitRepository"}}]}]}]});
        let mut served = Served::new();
        read_discovery(&doc, &mut served);
        assert_eq!(
            served[&("source.toolkit.fluxcd.io".to_string(), "GitRepository".to_string())],
            ServedKind { version: "v1".into(), plural: "gitrepositories".into(), namespaced: true }
        );
    }
}
