//! Typed views of the Flux fields the plugins read, across the API versions still served
//! (source v1/v1beta2, kustomize v1/v1beta2, helm v2/v2beta1/v2beta2, notification v1/v1beta3).
//! Field names are those of the Flux CRDs (fluxcd/*-controller `api/`); the views read the JSON
//! directly, so an older API version with the same field names works unchanged.

use kubectl_flux_model::duration;
use kubectl_flux_model::json::Json;
use kubectl_flux_model::kinds::{HELM_GROUP, KUSTOMIZE_GROUP, OPERATOR_GROUP, SOURCE_EXTENSIONS_GROUP, SOURCE_GROUP};
use kubectl_flux_model::object::{Object, ObjectRef, split_api_version};
use kubectl_flux_model::selector::Selector;
use std::time::Duration;

/// The Flux controllers: their Deployment names in flux-system (flux2 `manifests/bases`) and the
/// components their Events are reported by.
pub const CONTROLLERS: &[&str] = &[
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
    "source-watcher",
];

/// Which controller reconciles each Flux kind (each controller's `main.go` sets up one
/// controller-runtime controller per kind it owns; source-watcher's ArtifactGenerator since Flux
/// 2.7).
pub const RECONCILES: &[(&str, &[&str])] = &[
    ("source-controller", &["GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart"]),
    ("kustomize-controller", &["Kustomization"]),
    ("helm-controller", &["HelmRelease"]),
    ("notification-controller", &["Provider", "Alert", "Receiver"]),
    ("image-reflector-controller", &["ImageRepository", "ImagePolicy"]),
    ("image-automation-controller", &["ImageUpdateAutomation"]),
    ("source-watcher", &["ArtifactGenerator"]),
    ("flux-operator", &["FluxInstance", "FluxReport", "ResourceSet", "ResourceSetInputProvider"]),
];

/// The label Flux's multi-tenancy gives a tenant's objects (`flux create tenant`).
pub const TENANT_LABEL: &str = "toolkit.fluxcd.io/tenant";

/// The tenant of an object in a snapshot: its own `label`, else its Namespace's `label` (where
/// `flux create tenant` puts it: on the Namespace, ServiceAccount and RoleBinding, never on the
/// tenant's sources and Kustomizations; flux2 `cmd/flux/create_tenant.go`), else its namespace.
/// One tenant may so span namespaces. An object the snapshot does not hold still gets its
/// Namespace's tenant. The plugins that group by tenant list Namespaces (metadata) for this.
pub fn tenant(snapshot: &kubectl_flux_model::Snapshot, id: &ObjectRef, label: &str) -> String {
    let namespace = || snapshot.get(&ObjectRef::new("", "Namespace", "", &id.namespace));
    snapshot
        .get(id)
        .and_then(|o| o.label(label))
        .or_else(|| namespace().and_then(|ns| ns.label(label)))
        .map(str::to_string)
        .unwrap_or_else(|| id.namespace.to_string())
}

/// The kinds a controller reconciles (none for a name that is not a Flux controller).
pub fn reconciled_by(controller: &str) -> &'static [&'static str] {
    RECONCILES.iter().find(|(c, _)| *c == controller).map_or(&[], |(_, kinds)| kinds)
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    /// Condition type (`Ready`, `Stalled`, `Reconciling`, `Healthy`, ...).
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Reason, e.g. `HealthCheckFailed`.
    pub reason: String,
    /// Human message.
    pub message: String,
    /// lastTransitionTime (RFC 3339).
    pub last_transition: String,
    /// The generation the condition was judged at (Flux sets it on every condition).
    pub observed_generation: Option<i64>,
}

/// `status.conditions` of any object.
pub fn conditions(obj: &Object) -> Vec<Condition> {
    let s = |c: &Json, k: &str| c.get(k).and_then(Json::as_str).unwrap_or("").to_string();
    obj.at("/status/conditions")
        .and_then(Json::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| Condition {
                    kind: s(c, "type"),
                    status: s(c, "status"),
                    reason: s(c, "reason"),
                    message: s(c, "message"),
                    last_transition: s(c, "lastTransitionTime"),
                    observed_generation: c.get("observedGeneration").and_then(Json::as_i64),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The condition of a given type.
pub fn condition(obj: &Object, kind: &str) -> Option<Condition> {
    conditions(obj).into_iter().find(|c| c.kind == kind)
}

/// The annotation that stops source-watcher reconciling an ArtifactGenerator, which has no
/// `spec.suspend` (`source.extensions.fluxcd.io/reconcile: disabled`, fluxcd/source-watcher
/// `api/v1beta1` `IsDisabled`, compared without case).
pub const GENERATOR_RECONCILE_ANNOTATION: &str = "source.extensions.fluxcd.io/reconcile";

/// The annotation that stops the flux-operator reconciling one of its objects, which have no
/// `spec.suspend` (`fluxcd.controlplane.io/reconcile: disabled`, flux-operator `api/v1`
/// `IsDisabled` on FluxInstance, ResourceSet and ResourceSetInputProvider, compared without case).
pub const OPERATOR_RECONCILE_ANNOTATION: &str = "fluxcd.controlplane.io/reconcile";

/// How often the flux-operator reconciles one of its objects (`fluxcd.controlplane.io/reconcileEvery`,
/// a Go duration; flux-operator `api/v1` `GetInterval`).
pub const OPERATOR_RECONCILE_EVERY_ANNOTATION: &str = "fluxcd.controlplane.io/reconcileEvery";

/// `spec.suspend`; for an ArtifactGenerator or a flux-operator object, its reconcile annotation
/// set to `disabled`.
pub fn suspended(obj: &Object) -> bool {
    let disabled = |a: &str| obj.annotation(a).is_some_and(|v| v.eq_ignore_ascii_case("disabled"));
    match obj.id.group.as_str() {
        SOURCE_EXTENSIONS_GROUP => disabled(GENERATOR_RECONCILE_ANNOTATION),
        OPERATOR_GROUP => disabled(OPERATOR_RECONCILE_ANNOTATION),
        _ => obj.at("/spec/suspend").and_then(Json::as_bool) == Some(true),
    }
}

/// How often the flux-operator reconciles an object: its `reconcileEvery` annotation, else (or
/// when the annotation is not a duration, which the operator ignores) 60 minutes for a
/// FluxInstance or ResourceSet and 10 minutes for a ResourceSetInputProvider (flux-operator
/// `api/v1` `GetInterval`). A FluxReport has none without the annotation.
fn operator_interval(obj: &Object) -> Option<Duration> {
    let default = match obj.id.kind.as_str() {
        "FluxInstance" | "ResourceSet" => Some(Duration::from_secs(3600)),
        "ResourceSetInputProvider" => Some(Duration::from_secs(600)),
        _ => None,
    };
    obj.annotation(OPERATOR_RECONCILE_EVERY_ANNOTATION).and_then(|t| duration::parse(t).ok()).or(default)
}

/// `spec.interval` parsed, or the error text naming the field when it is not a duration; for a
/// flux-operator object, its reconcile annotation or the operator's default.
pub fn interval(obj: &Object) -> Option<Result<Duration, String>> {
    if obj.id.group == OPERATOR_GROUP {
        return operator_interval(obj).map(Ok);
    }
    let text = obj.at("/spec/interval")?;
    Some(match text.as_str() {
        Some(t) => duration::parse(t).map_err(|e| format!("{}: spec.interval: {e}", obj.id)),
        None => Err(format!("{}: spec.interval must be a string such as \"5m\"", obj.id)),
    })
}

/// The revision an object last applied and last attempted, as Flux reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revisions {
    /// Last successfully applied (Kustomization `lastAppliedRevision`, HelmRelease
    /// `status.history[0].chartVersion`, source `status.artifact.revision`).
    pub applied: Option<String>,
    /// Last attempted (`lastAttemptedRevision`).
    pub attempted: Option<String>,
}

impl Revisions {
    /// Whether the last attempt differs from what is applied: the object is stalled on a newer
    /// revision it cannot apply.
    pub fn stalled(&self) -> bool {
        matches!((&self.applied, &self.attempted), (Some(a), Some(b)) if a != b)
    }
}

/// Applied and attempted revisions of a Flux object.
pub fn revisions(obj: &Object) -> Revisions {
    let s = |p: &str| obj.str_at(p).map(str::to_string);
    match obj.id.kind.as_str() {
        "Kustomization" => {
            Revisions { applied: s("/status/lastAppliedRevision"), attempted: s("/status/lastAttemptedRevision") }
        }
        "HelmRelease" => Revisions {
            applied: s("/status/history/0/chartVersion").or_else(|| s("/status/lastAppliedRevision")),
            attempted: s("/status/lastAttemptedRevision"),
        },
        _ => Revisions { applied: s("/status/artifact/revision"), attempted: None },
    }
}

/// A reference from one Flux object to another (`sourceRef`, `chartRef`, `dependsOn`, ...),
/// resolved to an [`ObjectRef`] with the namespace defaulted to the referrer's.
fn reference(obj: &Object, r: &Json, default_group: &str, default_kind: Option<&str>) -> Option<ObjectRef> {
    let name = r.get("name")?.as_str()?;
    let kind = r.get("kind").and_then(Json::as_str).or(default_kind)?;
    let namespace = r.get("namespace").and_then(Json::as_str).unwrap_or(&obj.id.namespace);
    let group = match r.get("apiVersion").and_then(Json::as_str) {
        Some(av) => split_api_version(av).0,
        None => default_group,
    };
    Some(ObjectRef::new(group, kind, namespace, name))
}

/// The source an object reads: Kustomization/HelmChart/ImageUpdateAutomation `spec.sourceRef`,
/// HelmRelease `spec.chartRef`, or the source of HelmRelease `spec.chart.spec.sourceRef`.
pub fn source_ref(obj: &Object) -> Option<ObjectRef> {
    let group = obj.id.group.as_str();
    if group == HELM_GROUP {
        if let Some(r) = obj.at("/spec/chartRef") {
            return reference(obj, r, SOURCE_GROUP, None);
        }
        return reference(obj, obj.at("/spec/chart/spec/sourceRef")?, SOURCE_GROUP, None);
    }
    reference(obj, obj.at("/spec/sourceRef")?, SOURCE_GROUP, None)
}

/// The sources an ArtifactGenerator reads: `spec.sources[]` (source-controller kinds or
/// ExternalArtifact), their namespace defaulting to the generator's (fluxcd/source-watcher
/// `api/v1beta1` `SourceReference`).
pub fn generator_sources(obj: &Object) -> Vec<ObjectRef> {
    if obj.id.group != SOURCE_EXTENSIONS_GROUP {
        return Vec::new();
    }
    list(obj, "/spec/sources").filter_map(|s| reference(obj, s, SOURCE_GROUP, None)).collect()
}

/// The ExternalArtifacts an ArtifactGenerator produces, all in its own namespace: those its
/// `status.inventory` lists, and those `spec.artifacts[].name` names when no `pathPattern`
/// placeholder (`{app}`) makes the names known only once the sources are read
/// (source-watcher `reconcileExternalArtifact` names each after its output artifact).
pub fn generated_artifacts(obj: &Object) -> Vec<ObjectRef> {
    if obj.id.group != SOURCE_EXTENSIONS_GROUP {
        return Vec::new();
    }
    let artifact = |name: &str| ObjectRef::new(SOURCE_GROUP, "ExternalArtifact", &obj.id.namespace, name);
    let listed = list(obj, "/status/inventory").filter_map(|e| {
        let name = e.get("name")?.as_str()?;
        let namespace = e.get("namespace").and_then(Json::as_str).unwrap_or(&obj.id.namespace);
        Some(ObjectRef::new(SOURCE_GROUP, "ExternalArtifact", namespace, name))
    });
    let named = list(obj, "/spec/artifacts")
        .filter_map(|a| a.get("name")?.as_str())
        .filter(|name| !name.contains('{'))
        .map(artifact);
    let mut out: Vec<ObjectRef> = listed.chain(named).collect();
    out.sort();
    out.dedup();
    out
}

/// The HelmChart helm-controller generates for a HelmRelease with `spec.chart`: named
/// `<namespace>-<name>` in the source's namespace, or as recorded in `status.helmChart`
/// (helm-controller `internal/controller/helmrelease_controller.go`, `reconcileChart`).
pub fn generated_helm_chart(hr: &Object) -> Option<ObjectRef> {
    if hr.id.group != HELM_GROUP || hr.at("/spec/chart").is_none() {
        return None;
    }
    if let Some((ns, name)) = hr.str_at("/status/helmChart").and_then(|s| s.split_once('/')) {
        return Some(ObjectRef::new(SOURCE_GROUP, "HelmChart", ns, name));
    }
    let ns = hr.str_at("/spec/chart/spec/sourceRef/namespace").unwrap_or(&hr.id.namespace);
    Some(ObjectRef::new(SOURCE_GROUP, "HelmChart", ns, &format!("{}-{}", hr.id.namespace, hr.id.name)))
}

/// `spec.dependsOn`: objects of the same kind (Kustomization -> Kustomization, HelmRelease ->
/// HelmRelease), namespace defaulting to the object's own; a ResourceSet's name any kind.
pub fn depends_on(obj: &Object) -> Vec<ObjectRef> {
    if obj.id.group == OPERATOR_GROUP {
        return resource_set_depends_on(obj);
    }
    list(obj, "/spec/dependsOn")
        .filter_map(|d| reference(obj, d, &obj.id.group, Some(&obj.id.kind)))
        .map(|mut r| {
            r.group = obj.id.group.clone();
            r.kind = obj.id.kind.clone();
            r
        })
        .collect()
}

/// A ConfigMap or Secret an object reads values from, and whether it may be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuesRef {
    /// The ConfigMap or Secret.
    pub target: ObjectRef,
    /// `optional: true`: a missing object is not an error.
    pub optional: bool,
}

fn values_refs(obj: &Object, pointer: &str) -> Vec<ValuesRef> {
    list(obj, pointer)
        .filter_map(|v| {
            let kind = v.get("kind")?.as_str()?;
            let name = v.get("name")?.as_str()?;
            Some(ValuesRef {
                target: ObjectRef::new("", kind, &obj.id.namespace, name),
                optional: v.get("optional").and_then(Json::as_bool) == Some(true),
            })
        })
        .collect()
}

/// HelmRelease `spec.valuesFrom`.
pub fn values_from(obj: &Object) -> Vec<ValuesRef> {
    values_refs(obj, "/spec/valuesFrom")
}

/// Kustomization `spec.postBuild.substituteFrom`.
pub fn substitute_from(obj: &Object) -> Vec<ValuesRef> {
    values_refs(obj, "/spec/postBuild/substituteFrom")
}

/// Kustomization `spec.healthChecks`.
pub fn health_checks(obj: &Object) -> Vec<ObjectRef> {
    list(obj, "/spec/healthChecks").filter_map(|r| reference(obj, r, "", None)).collect()
}

/// Whether the controller waits for every applied object to be healthy: Kustomization and
/// ResourceSet `spec.wait: true`; a FluxInstance unless `spec.wait: false` (flux-operator `api/v1`:
/// "Defaults to true"); HelmRelease unless `spec.install.disableWait`/`spec.upgrade.disableWait`
/// (helm-controller waits by default).
pub fn waits_for_managed(obj: &Object) -> bool {
    let wait = obj.at("/spec/wait").and_then(Json::as_bool);
    match obj.id.group.as_str() {
        KUSTOMIZE_GROUP => wait == Some(true),
        OPERATOR_GROUP => match obj.id.kind.as_str() {
            "ResourceSet" => wait == Some(true),
            "FluxInstance" => wait != Some(false),
            _ => false,
        },
        HELM_GROUP => {
            let off = |p: &str| obj.at(p).and_then(Json::as_bool) == Some(true);
            !(off("/spec/install/disableWait") && off("/spec/upgrade/disableWait"))
        }
        _ => false,
    }
}

/// Who applies objects and labels each with `<prefix>/name` and `<prefix>/namespace`: (group,
/// kind, prefix). kustomize-controller and helm-controller (fluxcd/pkg `ssa` owner labels); the
/// flux-operator's ResourceSet (`resourceset.fluxcd.controlplane.io`) and FluxInstance
/// (`fluxcd.controlplane.io`; flux-operator `internal/controller` `SetOwnerLabels`).
pub const MANAGER_LABELS: &[(&str, &str, &str)] = &[
    (KUSTOMIZE_GROUP, "Kustomization", "kustomize.toolkit.fluxcd.io"),
    (HELM_GROUP, "HelmRelease", "helm.toolkit.fluxcd.io"),
    (OPERATOR_GROUP, "ResourceSet", "resourceset.fluxcd.controlplane.io"),
    (OPERATOR_GROUP, "FluxInstance", "fluxcd.controlplane.io"),
];

/// The managers an object's owner labels name ([`MANAGER_LABELS`]).
pub fn labelled_managers(obj: &Object) -> Vec<ObjectRef> {
    MANAGER_LABELS
        .iter()
        .filter_map(|(group, kind, prefix)| {
            let name = obj.label(&format!("{prefix}/name"))?;
            let namespace = obj.label(&format!("{prefix}/namespace"))?;
            Some(ObjectRef::new(group, kind, namespace, name))
        })
        .collect()
}

/// Whether an object records what it applied in `status.inventory.entries`: a Kustomization,
/// and the flux-operator's ResourceSet and FluxInstance (same entry format, flux-operator
/// `api/v1` `ResourceInventory`).
pub fn keeps_inventory(obj: &Object) -> bool {
    obj.id.group == KUSTOMIZE_GROUP
        || (obj.id.group == OPERATOR_GROUP && matches!(obj.id.kind.as_str(), "ResourceSet" | "FluxInstance"))
}

/// The ResourceSetInputProviders a ResourceSet reads its inputs from (`spec.inputsFrom[]`, by
/// name or label selector, always in the ResourceSet's namespace; flux-operator `api/v1`
/// `InputProviderReference`). `providers` are the input providers the snapshot holds; a name
/// is returned even when none of them has it. A selector the operator would refuse is an error.
pub fn input_providers<'a>(
    obj: &Object,
    providers: impl Iterator<Item = &'a Object>,
) -> Result<Vec<ObjectRef>, String> {
    if obj.id.group != OPERATOR_GROUP || obj.id.kind != "ResourceSet" {
        return Ok(Vec::new());
    }
    let provider = |name: &str| ObjectRef::new(OPERATOR_GROUP, "ResourceSetInputProvider", &obj.id.namespace, name);
    let candidates: Vec<&Object> = providers.filter(|p| p.id.namespace == obj.id.namespace).collect();
    let mut out = Vec::new();
    for r in list(obj, "/spec/inputsFrom") {
        if let Some(name) = r.get("name").and_then(Json::as_str) {
            out.push(provider(name));
        } else if let Some(selector) = r.get("selector") {
            let selector =
                Selector::from_label_selector(selector).map_err(|e| format!("{}: spec.inputsFrom: {e}", obj.id))?;
            out.extend(candidates.iter().filter(|p| selector.matches(p)).map(|p| p.id.clone()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// ResourceSet `spec.dependsOn[]`: objects of any kind, named by `apiVersion` and `kind`, the
/// namespace defaulting to the ResourceSet's, none for a cluster-scoped kind (flux-operator
/// `api/v1` `Dependency`).
fn resource_set_depends_on(obj: &Object) -> Vec<ObjectRef> {
    list(obj, "/spec/dependsOn")
        .filter_map(|d| reference(obj, d, "", None))
        .map(|mut r| {
            if kubectl_flux_model::kinds::find(&r.group, &r.kind).is_some_and(|k| !k.namespaced) {
                r.namespace = Default::default();
            }
            r
        })
        .collect()
}

/// Kustomization `status.inventory.entries` (also a ResourceSet's and a FluxInstance's), as
/// object references.
pub fn inventory(obj: &Object) -> Vec<ObjectRef> {
    list(obj, "/status/inventory/entries")
        .filter_map(|e| ObjectRef::from_inventory_id(e.get("id")?.as_str()?))
        .collect()
}

/// `spec.serviceAccountName` used to impersonate when applying.
pub fn service_account(obj: &Object) -> Option<ObjectRef> {
    let name = obj.str_at("/spec/serviceAccountName")?;
    Some(ObjectRef::new("", "ServiceAccount", &obj.id.namespace, name))
}

/// The Secret named by `spec.secretRef` (sources, Providers).
pub fn secret_ref(obj: &Object) -> Option<ObjectRef> {
    let name = obj.str_at("/spec/secretRef/name")?;
    Some(ObjectRef::new("", "Secret", &obj.id.namespace, name))
}

/// Where helm-controller stores a HelmRelease's Helm release: (storage namespace, release name)
/// (FLUX-FACTS "HelmRelease inventory": `spec.storageNamespace` else the HelmRelease's
/// namespace; `spec.releaseName`, else `<targetNamespace>-<name>`, else the name).
pub fn helm_release_storage(hr: &Object) -> (String, String) {
    let ns = hr
        .str_at("/status/storageNamespace")
        .or_else(|| hr.str_at("/spec/storageNamespace"))
        .unwrap_or(&hr.id.namespace)
        .to_string();
    let release = match (hr.str_at("/spec/releaseName"), hr.str_at("/spec/targetNamespace")) {
        (Some(name), _) => name.to_string(),
        (None, Some(target)) => format!("{target}-{}", hr.id.name),
        (None, None) => hr.id.name.to_string(),
    };
    (ns, release)
}

/// The namespace a HelmRelease installs into.
pub fn helm_target_namespace(hr: &Object) -> String {
    hr.str_at("/spec/targetNamespace").unwrap_or(&hr.id.namespace).to_string()
}

fn list<'a>(obj: &'a Object, pointer: &str) -> impl Iterator<Item = &'a Json> + 'a {
    obj.at(pointer).and_then(Json::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn generator(annotations: serde_json::Value) -> Object {
        Object::from_value(json!({
            "apiVersion": "source.extensions.fluxcd.io/v1beta1",
            "kind": "ArtifactGenerator",
            "metadata": {"name": "platform", "namespace": "flux-system", "annotations": annotations},
            "spec": {
                "sources": [
                    {"alias": "platform", "kind": "GitRepository", "name": "platform"},
                    {"alias": "charts", "kind": "OCIRepository", "name": "charts", "namespace": "shared"},
                ],
                "artifacts": [{"name": "apps", "copy": []}, {"name": "{app}-config", "copy": []}],
            },
            "status": {"inventory": [{"name": "infra", "namespace": "flux-system", "digest": "sha256:1", "filename": "a.tar.gz"}]},
        }))
        .unwrap()
    }

    #[test]
    fn a_generator_reads_its_sources_and_generates_what_it_names() {
        let g = generator(json!({}));
        let ids = |refs: Vec<ObjectRef>| refs.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(ids(generator_sources(&g)), ["GitRepository flux-system/platform", "OCIRepository shared/charts"]);
        assert_eq!(generator_sources(&g)[1].group, SOURCE_GROUP);
        // The inventory and the named artifacts; a pathPattern placeholder names nothing yet.
        assert_eq!(
            ids(generated_artifacts(&g)),
            ["ExternalArtifact flux-system/apps", "ExternalArtifact flux-system/infra"]
        );
        assert!(!suspended(&g));
        assert!(suspended(&generator(json!({GENERATOR_RECONCILE_ANNOTATION: "Disabled"}))));
        assert!(!suspended(&generator(json!({GENERATOR_RECONCILE_ANNOTATION: "enabled"}))));
    }
}
