//! Holds: the flux-operator's ResourceSets and FluxInstances that generated objects in scope. A
//! running one would re-apply what the reset deletes, unsuspended, behind its back (a
//! ResourceSet reconciles on its interval and whenever an input changes; flux-operator
//! `internal/controller` `resourceset_manager.go`). The reset holds each one with the operator's
//! own switch, `fluxcd.controlplane.io/reconcile: disabled` (`api/v1` `IsDisabled`: the reconcile
//! returns before applying anything), before it suspends, and releases it after it resumed.
//!
//! Each hold is marked on the held object itself, with the value the switch had before, so that
//! a reset that crashed between the patch and its journal record, `resume` and `restore` all
//! know which holds are theirs to release; one disabled before the reset is left alone.

use crate::error::{ResetError, Result};
use crate::log::Log;
use crate::model::Target;
use kubectl_flux_graph::flux::{self, OPERATOR_RECONCILE_ANNOTATION};
use kubectl_flux_model::ObjectRef;
use kubectl_flux_model::kinds::{self, OPERATOR_GROUP};
use kubectl_flux_source::live::{Cluster, collection_path};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The annotation naming the reset that holds an object.
pub const HELD_BY: &str = "kubectl-flux.io/held-by-reset";
/// The annotation keeping the operator's reconcile switch as it was before the hold (absent when
/// the switch was not set).
pub const RECONCILE_BEFORE: &str = "kubectl-flux.io/reconcile-before-reset";

/// A flux-operator object that generated targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The ResourceSet or FluxInstance.
    pub id: ObjectRef,
    /// The targets it generated.
    pub generated: Vec<ObjectRef>,
}

impl Holder {
    /// The object's API path (the operator serves one version, `v1`).
    pub fn path(&self) -> String {
        let plural = kinds::find(&self.id.group, &self.id.kind).map_or("resourcesets", |k| k.plural);
        format!("{}/{}", collection_path(&self.id.group, "v1", plural, &self.id.namespace), self.id.name)
    }
}

/// The ResourceSets and FluxInstances whose owner labels mark a target, in identity order.
pub fn holders(targets: &[Target]) -> Vec<Holder> {
    let mut by: BTreeMap<ObjectRef, Vec<ObjectRef>> = BTreeMap::new();
    for t in targets {
        for manager in flux::labelled_managers(&t.object()).into_iter().filter(|m| m.group == OPERATOR_GROUP) {
            by.entry(manager).or_default().push(t.id.clone());
        }
    }
    by.into_iter().map(|(id, generated)| Holder { id, generated }).collect()
}

/// The patch that holds an object for reset `id`; `before` is its switch before.
pub fn hold_patch(id: &str, before: Option<&str>) -> Value {
    json!({"metadata": {"annotations": {OPERATOR_RECONCILE_ANNOTATION: "disabled", HELD_BY: id, RECONCILE_BEFORE: before}}})
}

/// The patch that gives an object its switch back (`before` absent: the switch is removed).
pub fn release_patch(before: Option<&str>) -> Value {
    json!({"metadata": {"annotations": {OPERATOR_RECONCILE_ANNOTATION: before, HELD_BY: null, RECONCILE_BEFORE: null}}})
}

fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)
}

fn step_error(step: &'static str, holder: &Holder, e: impl std::fmt::Display, next: &str) -> ResetError {
    ResetError::Step { step, message: format!("{}: {e}. {next}", holder.id) }
}

/// Holds every holder for reset `id`, confirmed by re-reading. One already held by this reset
/// (a resumed reset) is kept; one the operator does not serve or that is gone holds nothing.
pub async fn hold(api: &Cluster, holders: &[Holder], id: &str, log: &mut Log) -> Result<()> {
    const NEXT: &str = "Nothing was suspended or deleted; `kubectl flux-reset resume` retries";
    for h in holders {
        let current = api.get(&h.path()).await.map_err(|e| step_error("hold", h, e, NEXT))?;
        let Some(current) = current else {
            log.say("hold", format!("{} is not there: nothing regenerates its {} objects", h.id, h.generated.len()));
            continue;
        };
        if annotation(&current, HELD_BY) == Some(id) {
            log.say("hold", format!("{} already held by this reset", h.id));
            continue;
        }
        if flux::suspended(
            &kubectl_flux_model::Object::from_value(current.clone()).map_err(|e| step_error("hold", h, e, NEXT))?,
        ) {
            log.say("hold", format!("{} was disabled before the reset: left as it is", h.id));
            continue;
        }
        let before = annotation(&current, OPERATOR_RECONCILE_ANNOTATION).map(str::to_string);
        let patched = api.merge_patch_if_exists(&h.path(), &hold_patch(id, before.as_deref())).await;
        match patched.map_err(|e| step_error("hold", h, e, NEXT))? {
            Some(_) => {}
            None => continue,
        }
        let confirmed = api.get(&h.path()).await.map_err(|e| step_error("hold", h, e, NEXT))?;
        if confirmed.as_ref().is_some_and(|c| annotation(c, HELD_BY) != Some(id)) {
            return Err(step_error("hold", h, "the hold did not take", NEXT));
        }
        log.say(
            "hold",
            format!(
                "{} held ({OPERATOR_RECONCILE_ANNOTATION}: disabled): it generated {} objects in scope",
                h.id,
                h.generated.len()
            ),
        );
    }
    Ok(())
}

/// Releases every holder held by reset `id` (any reset's hold when `id` is `None`: a restore),
/// giving back the switch as it was, confirmed by re-reading.
pub async fn release(api: &Cluster, holders: &[Holder], id: Option<&str>, log: &mut Log) -> Result<()> {
    const NEXT: &str = "The objects are recreated and resumed; `kubectl flux-reset resume` retries the release";
    for h in holders {
        let Some(current) = api.get(&h.path()).await.map_err(|e| step_error("release", h, e, NEXT))? else {
            continue;
        };
        let held = annotation(&current, HELD_BY);
        if held.is_none() || (id.is_some() && held != id) {
            continue;
        }
        let before = annotation(&current, RECONCILE_BEFORE).map(str::to_string);
        api.merge_patch_if_exists(&h.path(), &release_patch(before.as_deref()))
            .await
            .map_err(|e| step_error("release", h, e, NEXT))?;
        let confirmed = api.get(&h.path()).await.map_err(|e| step_error("release", h, e, NEXT))?;
        if confirmed.as_ref().is_some_and(|c| annotation(c, HELD_BY).is_some()) {
            return Err(step_error("release", h, "the release did not take", NEXT));
        }
        let was = before.map_or("unset".to_string(), |b| format!("{b:?}"));
        log.say("release", format!("{} released: its reconcile switch is {was} again", h.id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(labels: Value) -> Target {
        let o = kubectl_flux_model::Object::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "app-a", "namespace": "apps", "labels": labels}, "spec": {}}))
        .unwrap();
        Target::from_object(&o).unwrap()
    }

    #[test]
    fn a_resource_set_that_labelled_a_target_holds_it() {
        let generated = target(json!({
            "resourceset.fluxcd.controlplane.io/name": "apps",
            "resourceset.fluxcd.controlplane.io/namespace": "flux-system",
            "kustomize.toolkit.fluxcd.io/name": "root", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}));
        let h = holders(&[generated, target(json!({}))]);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].id.to_string(), "ResourceSet flux-system/apps");
        assert_eq!(h[0].path(), "/apis/fluxcd.controlplane.io/v1/namespaces/flux-system/resourcesets/apps");
        assert_eq!(h[0].generated.len(), 1);
    }

    #[test]
    fn a_release_gives_back_the_switch_as_it_was() {
        assert_eq!(
            hold_patch("r1", Some("enabled")),
            json!({"metadata": {"annotations": {OPERATOR_RECONCILE_ANNOTATION: "disabled", HELD_BY: "r1", RECONCILE_BEFORE: "enabled"}}})
        );
        assert_eq!(release_patch(Some("enabled"))["metadata"]["annotations"][OPERATOR_RECONCILE_ANNOTATION], "enabled");
        assert_eq!(release_patch(None)["metadata"]["annotations"][OPERATOR_RECONCILE_ANNOTATION], Value::Null);
        assert_eq!(release_patch(None)["metadata"]["annotations"][HELD_BY], Value::Null);
    }
}
