//! The kinds the plugins know by name: their groups, plurals, short names and scope.
//!
//! Used to resolve `KIND/NAME` arguments the way kubectl does (`ks/apps`, `hr/podinfo`,
//! `deploy/web`) and to know which API path lists a kind.

/// A kind the suite knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// API group, empty for core.
    pub group: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Resource (plural) name.
    pub plural: &'static str,
    /// Short names kubectl accepts.
    pub short: &'static [&'static str],
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

macro_rules! k {
    ($g:expr, $k:expr, $p:expr, [$($s:expr),*], $ns:expr) => {
        KindInfo { group: $g, kind: $k, plural: $p, short: &[$($s),*], namespaced: $ns }
    };
}

/// Flux source kinds (source.toolkit.fluxcd.io).
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// Kustomization's group.
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// HelmRelease's group.
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
/// Provider, Alert and Receiver's group.
pub const NOTIFICATION_GROUP: &str = "notification.toolkit.fluxcd.io";
/// source-watcher's group (ArtifactGenerator, since Flux 2.7; fluxcd/source-watcher
/// `api/v1beta1`). It is not under `toolkit.fluxcd.io`, yet a Flux controller's.
pub const SOURCE_EXTENSIONS_GROUP: &str = "source.extensions.fluxcd.io";
/// Image reflector's group (ImageRepository, ImagePolicy).
pub const IMAGE_GROUP: &str = "image.toolkit.fluxcd.io";
/// The flux-operator's group (controlplaneio-fluxcd/flux-operator `api/v1`: FluxInstance,
/// FluxReport, ResourceSet, ResourceSetInputProvider). Not Flux's own controllers', yet it installs
/// and drives them on many clusters.
pub const OPERATOR_GROUP: &str = "fluxcd.controlplane.io";

/// Every Flux kind, in the order plugins print them.
pub const FLUX_KINDS: &[KindInfo] = &[
    k!(SOURCE_GROUP, "GitRepository", "gitrepositories", ["gitrepo"], true),
    k!(SOURCE_GROUP, "OCIRepository", "ocirepositories", ["ocirepo"], true),
    k!(SOURCE_GROUP, "Bucket", "buckets", [], true),
    k!(SOURCE_GROUP, "HelmRepository", "helmrepositories", ["helmrepo"], true),
    k!(SOURCE_GROUP, "HelmChart", "helmcharts", ["hc"], true),
    k!(SOURCE_GROUP, "ExternalArtifact", "externalartifacts", [], true),
    k!(SOURCE_EXTENSIONS_GROUP, "ArtifactGenerator", "artifactgenerators", ["ag"], true),
    k!(KUSTOMIZE_GROUP, "Kustomization", "kustomizations", ["ks"], true),
    k!(HELM_GROUP, "HelmRelease", "helmreleases", ["hr"], true),
    k!(NOTIFICATION_GROUP, "Provider", "providers", [], true),
    k!(NOTIFICATION_GROUP, "Alert", "alerts", [], true),
    k!(NOTIFICATION_GROUP, "Receiver", "receivers", [], true),
    k!(IMAGE_GROUP, "ImageRepository", "imagerepositories", [], true),
    k!(IMAGE_GROUP, "ImagePolicy", "imagepolicies", [], true),
    k!(IMAGE_GROUP, "ImageUpdateAutomation", "imageupdateautomations", [], true),
    k!(OPERATOR_GROUP, "FluxInstance", "fluxinstances", [], true),
    k!(OPERATOR_GROUP, "FluxReport", "fluxreports", [], true),
    k!(OPERATOR_GROUP, "ResourceSet", "resourcesets", ["rset"], true),
    k!(OPERATOR_GROUP, "ResourceSetInputProvider", "resourcesetinputproviders", ["rsip"], true),
];

/// Kubernetes kinds the plugins follow in lineage chains.
pub const CORE_KINDS: &[KindInfo] = &[
    k!("", "Namespace", "namespaces", ["ns"], false),
    k!("", "ConfigMap", "configmaps", ["cm"], true),
    k!("", "Secret", "secrets", [], true),
    k!("", "Service", "services", ["svc"], true),
    k!("", "ServiceAccount", "serviceaccounts", ["sa"], true),
    k!("", "Pod", "pods", ["po"], true),
    k!("", "PersistentVolumeClaim", "persistentvolumeclaims", ["pvc"], true),
    k!("", "PersistentVolume", "persistentvolumes", ["pv"], false),
    k!("", "Node", "nodes", ["no"], false),
    k!("", "Event", "events", ["ev"], true),
    k!("apps", "Deployment", "deployments", ["deploy"], true),
    k!("apps", "ReplicaSet", "replicasets", ["rs"], true),
    k!("apps", "StatefulSet", "statefulsets", ["sts"], true),
    k!("apps", "DaemonSet", "daemonsets", ["ds"], true),
    k!("batch", "Job", "jobs", [], true),
    k!("batch", "CronJob", "cronjobs", ["cj"], true),
    k!("storage.k8s.io", "StorageClass", "storageclasses", ["sc"], false),
    k!("networking.k8s.io", "Ingress", "ingresses", ["ing"], true),
    k!("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", ["crd", "crds"], false),
];

/// All known kinds: Flux first, then Kubernetes.
pub fn all() -> impl Iterator<Item = &'static KindInfo> {
    FLUX_KINDS.iter().chain(CORE_KINDS)
}

/// Whether a group is one of Flux's controllers' (`*.toolkit.fluxcd.io`, source-watcher's) or the
/// flux-operator's.
pub fn is_flux_group(group: &str) -> bool {
    group.ends_with(".toolkit.fluxcd.io") || group == SOURCE_EXTENSIONS_GROUP || group == OPERATOR_GROUP
}

/// Whether a group is an add-on's most clusters run without (the flux-operator's): a cluster
/// that does not serve its kinds is no finding, so nothing notes it.
pub fn is_add_on(group: &str) -> bool {
    group == OPERATOR_GROUP
}

/// Looks a kind up by group and kind (a hash lookup: readers ask once per object they read).
pub fn find(group: &str, kind: &str) -> Option<&'static KindInfo> {
    static INDEX: std::sync::LazyLock<crate::snapshot::FastMap<(&str, &str), &KindInfo>> =
        std::sync::LazyLock::new(|| all().map(|k| ((k.group, k.kind), k)).collect());
    INDEX.get(&(group, kind)).copied()
}

/// Resolves what a user typed (`ks`, `kustomization`, `kustomizations`,
/// `kustomizations.kustomize.toolkit.fluxcd.io`, `Deployment`) to a known kind.
pub fn resolve(input: &str) -> Option<&'static KindInfo> {
    let lower = input.to_ascii_lowercase();
    let (name, group) = match lower.split_once('.') {
        Some((n, g)) => (n.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    all().find(|k| {
        let group_ok = group.as_deref().is_none_or(|g| g == k.group);
        group_ok && (k.kind.to_ascii_lowercase() == name || k.plural == name || k.short.contains(&name.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_kubectl() {
        assert_eq!(resolve("ks").unwrap().kind, "Kustomization");
        assert_eq!(resolve("HelmReleases").unwrap().kind, "HelmRelease");
        assert_eq!(resolve("gitrepositories.source.toolkit.fluxcd.io").unwrap().kind, "GitRepository");
        assert_eq!(resolve("sc").unwrap().group, "storage.k8s.io");
        assert_eq!(resolve("ag").unwrap().kind, "ArtifactGenerator");
        assert!(is_flux_group(resolve("artifactgenerators").unwrap().group));
        assert_eq!(resolve("rset").unwrap().kind, "ResourceSet");
        assert_eq!(resolve("fluxinstances.fluxcd.controlplane.io").unwrap().kind, "FluxInstance");
        assert!(is_flux_group(resolve("rsip").unwrap().group));
        assert_eq!(resolve("pvc").unwrap().kind, "PersistentVolumeClaim");
        assert!(resolve("gitrepositories.apps").is_none());
        assert!(resolve("banana").is_none());
    }

    #[test]
    fn finds_every_kind_by_group_and_kind_only() {
        for k in all() {
            assert_eq!(find(k.group, k.kind), Some(k));
        }
        assert_eq!(find("apps", "Pod"), None);
        assert_eq!(find("", "Deployment"), None);
    }
}
