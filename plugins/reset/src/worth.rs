//! How much a backed-up Ready is worth. After a reset the controllers judge every object
//! afresh, so a Ready=True that was stale (judged before its source failed, or at an older
//! generation) comes back NotReady: the reset has told the truth, not broken anything. Only a
//! sound Ready that is lost is a failure of the reset; a stale one is a finding with its cause.
//!
//! Sound: Ready=True judged at the object's current generation (the condition's own
//! observedGeneration, as Flux writes it), with its source and every `dependsOn` dependency in
//! the backup Ready too. Flux status carries no time of the last successful reconcile for every
//! kind (a Ready condition only moves on a transition), so age is not judged.

use crate::model::Target;
use kubectl_flux_graph::flux;
use kubectl_flux_model::{Json, Object, ObjectRef};
use std::collections::HashMap;

/// What a backed-up Ready says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Worth {
    /// Ready=True, and everything it stands on was Ready.
    Sound,
    /// Ready=True that predates a failure it depends on: why.
    Stale(String),
    /// Not Ready, or no Ready condition at all.
    NotReady,
}

impl Worth {
    /// One word for tables and documents: `sound`, `stale`, `not-ready`.
    pub fn word(&self) -> &'static str {
        match self {
            Worth::Sound => "sound",
            Worth::Stale(_) => "stale",
            Worth::NotReady => "not-ready",
        }
    }
}

/// The Ready condition says True (whatever generation it was judged at).
fn says_ready(o: &Object) -> bool {
    flux::condition(o, "Ready").is_some_and(|c| c.status == "True")
}

/// `Kind ns/name was not Ready (Reason) since T`.
fn not_ready_words(o: &Object) -> String {
    match flux::condition(o, "Ready") {
        Some(c) => {
            let reason = if c.reason.is_empty() { String::new() } else { format!(" ({})", c.reason) };
            let since =
                if c.last_transition.is_empty() { String::new() } else { format!(" since {}", c.last_transition) };
            format!("{} was not Ready{reason}{since}", o.id)
        }
        None => format!("{} had not reported Ready", o.id),
    }
}

/// The worth of every target's Ready, by identity.
pub fn judge(targets: &[Target]) -> HashMap<ObjectRef, Worth> {
    let objects: HashMap<ObjectRef, Object> = targets.iter().map(|t| (t.id.clone(), t.object())).collect();
    objects.iter().map(|(id, o)| (id.clone(), of(o, &objects))).collect()
}

fn of(o: &Object, backup: &HashMap<ObjectRef, Object>) -> Worth {
    if !says_ready(o) {
        return Worth::NotReady;
    }
    let generation = o.at("/metadata/generation").and_then(Json::as_i64);
    let judged = flux::condition(o, "Ready")
        .and_then(|c| c.observed_generation)
        .or_else(|| o.at("/status/observedGeneration").and_then(Json::as_i64));
    if let (Some(g), Some(j)) = (generation, judged)
        && j < g
    {
        return Worth::Stale(format!("it was judged at generation {j}, its spec is at generation {g}"));
    }
    let source = flux::source_ref(o).into_iter().map(|s| ("source", s));
    let dependencies = flux::depends_on(o).into_iter().map(|d| ("dependency", d));
    for (role, r) in source.chain(dependencies) {
        if let Some(other) = backup.get(&r)
            && flux::condition(other, "Ready").is_some()
            && !says_ready(other)
        {
            return Worth::Stale(format!("its {role} {}", not_ready_words(other)));
        }
    }
    Worth::Sound
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(kind: &str, name: &str, ready: &str, generation: i64, judged: i64, spec: serde_json::Value) -> Target {
        let (group, version) = match kind {
            "GitRepository" => ("source.toolkit.fluxcd.io", "v1"),
            _ => ("kustomize.toolkit.fluxcd.io", "v1"),
        };
        let o = Object::from_value(json!({
            "apiVersion": format!("{group}/{version}"), "kind": kind,
            "metadata": {"name": name, "namespace": "store", "generation": generation},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": ready, "reason": if ready == "True" { "Succeeded" } else { "AuthenticationFailed" },
                "observedGeneration": judged, "lastTransitionTime": "2026-11-20T09:00:00Z"}]},
        }))
        .unwrap();
        Target::from_object(&o).unwrap()
    }

    #[test]
    fn a_ready_is_sound_only_when_what_it_stands_on_is_ready() {
        let repo = target("GitRepository", "store-repo", "False", 1, 1, json!({"url": "https://x"}));
        let source = json!({"sourceRef": {"kind": "GitRepository", "name": "store-repo"}});
        let catalog = target("Kustomization", "catalog", "True", 1, 1, source.clone());
        let cart = target("Kustomization", "cart", "True", 3, 2, json!({}));
        let checkout = target(
            "Kustomization",
            "checkout",
            "True",
            1,
            1,
            json!({"dependsOn": [{"name": "catalog"}], "sourceRef": {"kind": "GitRepository", "name": "missing"}}),
        );
        let ok = target("Kustomization", "ok", "True", 1, 1, json!({}));
        let w = judge(&[repo.clone(), catalog.clone(), cart.clone(), checkout.clone(), ok.clone()]);
        assert_eq!(
            w[&catalog.id],
            Worth::Stale(
                "its source GitRepository store/store-repo was not Ready (AuthenticationFailed) since 2026-11-20T09:00:00Z".into()
            )
        );
        assert_eq!(w[&cart.id], Worth::Stale("it was judged at generation 2, its spec is at generation 3".into()));
        // A dependency whose Ready is stale is itself Ready=True: the chain is judged one hop
        // at a time; a source the backup does not hold is not held against it.
        assert_eq!(w[&checkout.id], Worth::Sound);
        assert_eq!((&w[&ok.id], &w[&repo.id]), (&Worth::Sound, &Worth::NotReady));
    }
}
