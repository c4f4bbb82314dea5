//! The flux-operator's FluxInstance that installed the controllers: where their size and shards
//! are set. The operator applies its Deployments itself, so an edit to one of them is undone at
//! its next reconcile; every fix goes into the FluxInstance (flux-operator `api/v1`
//! `FluxInstanceSpec`: `cluster.size`, `sharding.shards`, `kustomize.patches`).

use kubectl_flux_graph::sizing::Band;
use kubectl_flux_model::json::Json;
use kubectl_flux_model::kinds::OPERATOR_GROUP;
use kubectl_flux_model::{ObjectRef, Snapshot};
use serde::Serialize;

/// The operator's vertical profiles: `spec.cluster.size` and the memory limit it gives
/// kustomize-controller and helm-controller (flux-operator `internal/builder/profiles.go`:
/// small 512Mi, medium 1Gi, large 3Gi).
pub const PROFILES: &[(&str, f64)] =
    &[("small", 512.0 * 1048576.0), ("medium", 1024.0 * 1048576.0), ("large", 3072.0 * 1048576.0)];

/// A FluxInstance as the controllers' fixes need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// `FluxInstance NS/NAME`.
    #[serde(serialize_with = "ser_id")]
    pub id: ObjectRef,
    /// `spec.cluster.size`, when set.
    pub size: Option<String>,
    /// `spec.sharding.shards`.
    pub shards: Vec<String>,
    /// `spec.sharding.key` (the operator's default is Flux's own, [`crate::controllers::SHARD_LABEL`]).
    pub shard_key: String,
    /// `spec.distribution.version` (a semver range such as `2.x`).
    pub version: Option<String>,
}

fn ser_id<S: serde::Serializer>(id: &ObjectRef, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

/// The FluxInstance in the controllers' namespace (the operator reconciles one per cluster),
/// else none.
pub fn find(snapshot: &Snapshot, namespace: &str) -> Option<Instance> {
    let obj = snapshot.of_kind(OPERATOR_GROUP, "FluxInstance").find(|o| o.id.namespace == namespace)?;
    let text = |p: &str| obj.str_at(p).map(str::to_string);
    Some(Instance {
        id: obj.id.clone(),
        size: text("/spec/cluster/size"),
        shards: obj
            .at("/spec/sharding/shards")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        shard_key: text("/spec/sharding/key").unwrap_or_else(|| crate::controllers::SHARD_LABEL.to_string()),
        version: text("/spec/distribution/version"),
    })
}

/// The smallest profile whose memory limit covers a band's memory per controller.
pub fn profile_for(band: &Band) -> &'static str {
    PROFILES.iter().find(|(_, limit)| *limit >= band.memory_bytes()).map_or("large", |(name, _)| name)
}

impl Instance {
    /// How a decision step is done through the FluxInstance, when it changes what the operator
    /// owns: memory by profile (or a patch beyond the largest), shards by `spec.sharding`.
    pub fn advice(&self, action: &str, band: &Band, shards: usize) -> Option<String> {
        let kubectl = format!("kubectl -n {} patch fluxinstance {} --type merge -p", self.id.namespace, self.id.name);
        match action {
            "memory" => {
                let want = profile_for(band);
                let now = self.size.as_deref().unwrap_or("unset");
                let rank = |size: &str| PROFILES.iter().position(|(name, _)| *name == size);
                if rank(now).is_some_and(|r| Some(r) >= rank(want)) {
                    return Some(format!(
                        "{} runs the {now} profile already: raise the limits with a spec.kustomize.patches resources patch on the controller Deployments",
                        self.id
                    ));
                }
                Some(format!(
                    "through {}: spec.cluster.size {want} (now {now}); the operator undoes edits to its Deployments: {kubectl} '{{\"spec\":{{\"cluster\":{{\"size\":\"{want}\"}}}}}}'",
                    self.id
                ))
            }
            "shard" => {
                let names: Vec<String> = (1..=shards.max(self.shards.len() + 1)).map(|i| format!("shard{i}")).collect();
                let list = names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(",");
                Some(format!(
                    "through {}: spec.sharding.shards [{}] (now {}); the operator runs one controller copy per shard, selected by {}: {kubectl} '{{\"spec\":{{\"sharding\":{{\"shards\":[{list}]}}}}}}'",
                    self.id,
                    names.join(", "),
                    if self.shards.is_empty() { "none".to_string() } else { self.shards.join(", ") },
                    self.shard_key
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubectl_flux_graph::sizing;
    use kubectl_flux_model::Object;
    use serde_json::json;

    fn snapshot(spec: serde_json::Value) -> Snapshot {
        let mut s = Snapshot::new();
        s.insert(
            Object::from_value(json!({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
                "metadata": {"name": "flux", "namespace": "flux-system"}, "spec": spec}))
            .unwrap(),
        );
        s
    }

    #[test]
    fn memory_and_shards_go_through_the_instance() {
        let s = snapshot(json!({"distribution": {"version": "2.x"}, "cluster": {"size": "small"}}));
        let i = find(&s, "flux-system").unwrap();
        assert!(find(&s, "other").is_none());
        assert_eq!(i.version.as_deref(), Some("2.x"));
        let band = sizing::band(300);
        assert_eq!(profile_for(&band), "medium");
        assert_eq!(profile_for(&sizing::band(600)), "large");
        let memory = i.advice("memory", &band, 2).unwrap();
        assert!(memory.contains("spec.cluster.size medium (now small)"), "{memory}");
        assert!(memory.ends_with(r#"--type merge -p '{"spec":{"cluster":{"size":"medium"}}}'"#), "{memory}");
        let shard = i.advice("shard", &band, 2).unwrap();
        assert!(shard.contains("spec.sharding.shards [shard1, shard2] (now none)"), "{shard}");
        assert!(shard.contains("selected by sharding.fluxcd.io/key"), "{shard}");
        assert_eq!(i.advice("api-rate", &band, 2), None);
        let large = find(&snapshot(json!({"cluster": {"size": "large"}})), "flux-system").unwrap();
        assert!(large.advice("memory", &band, 2).unwrap().contains("runs the large profile already"));
    }
}
