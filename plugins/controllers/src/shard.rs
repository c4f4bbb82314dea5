//! The shard plan: which objects get which `sharding.fluxcd.io/key`, and the
//! `--watch-label-selector` of each controller copy (fluxcd.io/flux/installation/configuration/
//! sharding; the flux-operator does the same through `FluxInstance.spec.sharding`). Whole
//! namespaces move together, so a tenant's sources, Kustomizations and HelmReleases stay on one
//! shard and the labels are one command per namespace; the busiest namespaces are spread first
//! (longest processing time first), and the Flux namespace stays with the main controllers.

use crate::controllers::SHARD_LABEL;
use kubectl_flux_model::Snapshot;
use serde::Serialize;
use std::collections::BTreeMap;

/// The kinds a shard label is put on: what the sharded controllers reconcile.
pub const SHARDED_KINDS: &[&str] =
    &["Kustomization", "HelmRelease", "GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket"];

/// The kinds in `kubectl label`'s words.
const SHARDED_RESOURCES: &str =
    "kustomizations,helmreleases,gitrepositories,ocirepositories,helmrepositories,helmcharts,buckets";

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The shards, then the main controllers last (key `""`).
    pub shards: Vec<Shard>,
    /// The commands that label the objects, one per namespace.
    pub commands: Vec<String>,
}

/// One controller copy and what it reconciles.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shard {
    /// `shard1`..., or `""` for the main controllers.
    pub key: String,
    /// Its namespaces.
    pub namespaces: Vec<String>,
    /// Objects of the sharded kinds in them.
    pub objects: usize,
    /// Its `--watch-label-selector`.
    pub watch_label_selector: String,
    /// The Deployments that run it: `kustomize-controller-shard1`...
    pub deployments: Vec<String>,
}

/// Plans `shards` shards (at least one) over the snapshot's Flux objects; `flux_namespace`
/// stays with the main controllers.
pub fn plan(snapshot: &Snapshot, shards: usize, flux_namespace: &str) -> Plan {
    let shards = shards.max(1);
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for o in snapshot.objects() {
        if kubectl_flux_model::kinds::is_flux_group(&o.id.group) && SHARDED_KINDS.contains(&o.id.kind.as_str()) {
            *load.entry(o.id.namespace.to_string()).or_default() += 1;
        }
    }
    let keys: Vec<String> = (1..=shards).map(|i| format!("shard{i}")).collect();
    // The main controllers keep the Flux namespace (the bootstrap Kustomization and its
    // source), and take their share of the rest like a shard.
    let mut buckets: Vec<(String, Vec<String>, usize)> =
        keys.iter().map(|k| (k.clone(), Vec::new(), 0)).chain([(String::new(), Vec::new(), 0)]).collect();
    if let Some(n) = load.remove(flux_namespace) {
        let main = buckets.last_mut().expect("the main controllers");
        main.1.push(flux_namespace.to_string());
        main.2 += n;
    }
    let mut namespaces: Vec<(String, usize)> = load.into_iter().collect();
    namespaces.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (ns, n) in namespaces {
        let lightest = buckets.iter_mut().min_by_key(|(key, _, total)| (*total, key.is_empty())).expect("a bucket");
        lightest.1.push(ns);
        lightest.2 += n;
    }
    let notin = keys.join(", ");
    let mut commands = Vec::new();
    let shards = buckets
        .into_iter()
        .map(|(key, mut namespaces, objects)| {
            namespaces.sort();
            let (selector, suffix) = if key.is_empty() {
                (format!("{SHARD_LABEL} notin ({notin})"), String::new())
            } else {
                for ns in &namespaces {
                    commands.push(format!(
                        "kubectl label -n {ns} {SHARDED_RESOURCES} --all {SHARD_LABEL}={key} --overwrite"
                    ));
                }
                (format!("{SHARD_LABEL} in ({key})"), format!("-{key}"))
            };
            let deployments = ["source-controller", "kustomize-controller", "helm-controller"]
                .iter()
                .map(|c| format!("{c}{suffix}"))
                .collect();
            Shard { key, namespaces, objects, watch_label_selector: selector, deployments }
        })
        .collect();
    Plan { shards, commands }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(per_namespace: &[(&str, usize)]) -> Snapshot {
        let mut items = Vec::new();
        for (ns, n) in per_namespace {
            for i in 0..*n {
                items.push(serde_json::json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": format!("app-{i}"), "namespace": ns}}));
            }
        }
        let doc = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let mut s = Snapshot::new();
        kubectl_flux_source::offline::read_bytes("t", doc.to_string().as_bytes(), &mut s).unwrap();
        s
    }

    #[test]
    fn namespaces_are_spread_busiest_first_and_flux_system_stays_home() {
        let s = snapshot(&[("flux-system", 3), ("a", 50), ("b", 40), ("c", 30), ("d", 20)]);
        let p = plan(&s, 2, "flux-system");
        let got: Vec<(&str, Vec<&str>, usize)> = p
            .shards
            .iter()
            .map(|s| (s.key.as_str(), s.namespaces.iter().map(String::as_str).collect(), s.objects))
            .collect();
        assert_eq!(
            got,
            [("shard1", vec!["a"], 50), ("shard2", vec!["b"], 40), ("", vec!["c", "d", "flux-system"], 53)]
        );
        assert_eq!(p.shards[2].watch_label_selector, "sharding.fluxcd.io/key notin (shard1, shard2)");
        assert_eq!(p.shards[0].watch_label_selector, "sharding.fluxcd.io/key in (shard1)");
        assert_eq!(p.shards[0].deployments[1], "kustomize-controller-shard1");
        assert_eq!(
            p.commands[0],
            format!("kubectl label -n a {SHARDED_RESOURCES} --all sharding.fluxcd.io/key=shard1 --overwrite")
        );
    }
}
