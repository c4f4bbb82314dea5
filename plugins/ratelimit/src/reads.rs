//! What flux-ratelimit reads, and where, cheapest first: the GitHub-calling objects, Providers
//! and Alerts everywhere (one list each); then only the Secrets they name, in their namespaces,
//! Helm storage left on the server (`owner!=helm`); the Events about the spenders only in the
//! namespaces whose spenders fail (their conditions carry GitHub's 403/429 first); the Events a
//! GitHub Provider is sent, in the namespaces its Alerts watch. Beyond [`NAMESPACES_MAX`]
//! namespaces a list is one cluster-wide request instead: the number of requests stays bounded.
//!
//! kube-apiserver keeps no watch cache for Events (`DefaultWatchCacheSizes`), so every
//! cluster-wide Events list reads all Events from etcd; one namespace's list reads that
//! namespace's only (BENCHMARKS.md: 3.45 s against 0.18 s at 200,000 Events).

use kubectl_flux_graph::health;
use kubectl_flux_model::kinds::{self, KindInfo};
use kubectl_flux_model::{Object, Snapshot, State};
use kubectl_flux_source::Want;
use std::collections::BTreeSet;

/// The kinds that call GitHub themselves: their Events carry the rate-limit evidence.
pub const SPENDERS: [&str; 2] = ["GitRepository", "ImageUpdateAutomation"];

/// The flux-operator's input providers (`ResourceSetInputProvider` of a GitHub or GitLab type):
/// they call the host's REST API on their own interval; their Events carry the evidence too.
pub const INPUT_PROVIDER: &str = "ResourceSetInputProvider";

/// Above this many namespaces, one cluster-wide list rather than one per namespace.
pub const NAMESPACES_MAX: usize = 8;

/// Helm release storage, which no source names and which holds every release's manifests.
const NOT_HELM_STORAGE: &str = "owner!=helm";

fn kind(name: &str) -> Option<&'static KindInfo> {
    kinds::FLUX_KINDS.iter().find(|k| k.kind == name).or_else(|| kinds::all().find(|k| k.kind == name))
}

/// The first lists: the spenders, Providers and Alerts, everywhere.
pub fn first() -> Vec<Want> {
    SPENDERS.iter().chain(&[INPUT_PROVIDER, "Provider", "Alert"]).filter_map(|k| kind(k)).map(Want::all).collect()
}

/// What a file's first pass keeps besides [`first`]: everything the second round could ask
/// for, so a snapshot is read once.
pub fn offline_also() -> Vec<Want> {
    let mut also: Vec<Want> = SPENDERS.into_iter().chain([INPUT_PROVIDER]).map(Want::events_about).collect();
    if let Some(secret) = kinds::find("", "Secret") {
        also.push(Want::labelled(secret, NOT_HELM_STORAGE));
    }
    also
}

/// One list per namespace, or one cluster-wide list past [`NAMESPACES_MAX`].
fn per_namespace(want: Want, namespaces: &BTreeSet<String>) -> Vec<Want> {
    if namespaces.len() > NAMESPACES_MAX {
        return vec![want];
    }
    namespaces.iter().map(|ns| want.clone().in_namespace(ns)).collect()
}

/// The namespaces whose spenders fail (Ready=False, Stalled): where rate-limit Events are read
/// and counted. A source that is Ready has, for now, no budget trouble to show.
pub fn failing_namespaces(snapshot: &Snapshot) -> BTreeSet<String> {
    SPENDERS
        .iter()
        .filter_map(|k| kind(k))
        .flat_map(|k| snapshot.of_kind(k.group, k.kind))
        .filter(|o| health::of(o).state == State::Failed)
        .map(|o| o.id.namespace.to_string())
        .collect()
}

/// The namespaces whose input providers fail: where their rate-limit Events are read.
pub fn failing_providers(snapshot: &Snapshot) -> BTreeSet<String> {
    kind(INPUT_PROVIDER)
        .into_iter()
        .flat_map(|k| snapshot.of_kind(k.group, k.kind))
        .filter(|o| health::of(o).state == State::Failed)
        .map(|o| o.id.namespace.to_string())
        .collect()
}

/// A GitHub notification Provider (`github`, `githubdispatch`): it calls the API per event.
pub fn is_github_provider(provider: &Object) -> bool {
    matches!(provider.str_at("/spec/type"), Some("github" | "githubdispatch"))
}

/// The second round, after seeing the first: the Secrets the objects name, the Events about
/// failing spenders, the Events GitHub Providers are sent.
pub fn then(snapshot: &Snapshot) -> Vec<Want> {
    let mut wants = Vec::new();
    let named: BTreeSet<String> = SPENDERS
        .iter()
        .chain(&[INPUT_PROVIDER, "Provider"])
        .filter_map(|k| kind(k))
        .flat_map(|k| snapshot.of_kind(k.group, k.kind))
        .filter(|o| o.str_at("/spec/secretRef/name").is_some())
        .map(|o| o.id.namespace.to_string())
        .collect();
    if let Some(secret) = kinds::find("", "Secret") {
        wants.extend(per_namespace(Want::labelled(secret, NOT_HELM_STORAGE), &named));
    }
    let failing = failing_namespaces(snapshot);
    for spender in SPENDERS {
        wants.extend(per_namespace(Want::events_about(spender), &failing));
    }
    wants.extend(per_namespace(Want::events_about(INPUT_PROVIDER), &failing_providers(snapshot)));
    // The kinds and namespaces GitHub Providers' Alerts watch (notification volume).
    let github: BTreeSet<(String, String)> = snapshot
        .objects()
        .iter()
        .filter(|o| o.id.kind == "Provider" && is_github_provider(o))
        .map(|p| (p.id.namespace.to_string(), p.id.name.to_string()))
        .collect();
    let mut watched: std::collections::BTreeMap<&'static str, BTreeSet<String>> = Default::default();
    for alert in snapshot.objects().iter().filter(|o| o.id.kind == "Alert") {
        let provider = alert.str_at("/spec/providerRef/name").unwrap_or("");
        if !github.contains(&(alert.id.namespace.to_string(), provider.to_string())) {
            continue;
        }
        for source in alert.at("/spec/eventSources").and_then(|v| v.as_array()).into_iter().flatten() {
            let name = source.get("kind").and_then(|v| v.as_str()).unwrap_or("");
            // Only kinds the suite knows (Flux's own): a static name for the field selector.
            let Some(k) = kinds::FLUX_KINDS.iter().find(|k| k.kind == name) else { continue };
            let ns = source.get("namespace").and_then(|v| v.as_str()).unwrap_or(&alert.id.namespace);
            watched.entry(k.kind).or_default().insert(ns.to_string());
        }
    }
    for (kind, namespaces) in watched {
        if SPENDERS.contains(&kind) && failing.len() > NAMESPACES_MAX {
            continue; // already listed cluster-wide
        }
        let namespaces: BTreeSet<String> =
            if SPENDERS.contains(&kind) { namespaces.difference(&failing).cloned().collect() } else { namespaces };
        if !namespaces.is_empty() {
            wants.extend(per_namespace(Want::events_about(kind), &namespaces));
        }
    }
    wants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Snapshot {
        let path = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rate-limit.yaml"));
        kubectl_flux_source::offline::read_paths(&[path]).unwrap()
    }

    fn described(wants: &[Want]) -> Vec<String> {
        wants
            .iter()
            .map(|w| {
                let what = w.involved_kind.or(w.label_selector).unwrap_or("");
                format!("{} {} {}", w.kind.kind, w.namespace.as_deref().unwrap_or("*"), what)
            })
            .collect()
    }

    #[test]
    fn secrets_where_they_are_named_events_where_spenders_fail() {
        let s = example();
        let teams = ["team-a", "team-b", "team-c", "team-d"];
        let mut expected: Vec<String> = ["flux-system", "legacy", "platform"]
            .iter()
            .chain(&teams)
            .map(|ns| format!("Secret {ns} owner!=helm"))
            .collect();
        for kind in SPENDERS {
            expected.extend(teams.iter().map(|ns| format!("Event {ns} {kind}")));
        }
        // The scenario's two Alerts send flux-system's Kustomizations to GitHub Providers.
        expected.push("Event flux-system Kustomization".to_string());
        assert_eq!(described(&then(&s)), expected);
        assert_eq!(failing_namespaces(&s).into_iter().collect::<Vec<_>>(), teams);
    }

    #[test]
    fn past_the_bound_one_list_serves_every_namespace() {
        let many: BTreeSet<String> = (0..=NAMESPACES_MAX).map(|i| format!("ns-{i}")).collect();
        let wants = per_namespace(Want::events_about("GitRepository"), &many);
        assert_eq!(described(&wants), ["Event * GitRepository"]);
        let few: BTreeSet<String> = many.into_iter().take(2).collect();
        assert_eq!(described(&per_namespace(Want::events_about("GitRepository"), &few)).len(), 2);
    }
}
