//! The resource graph: every relationship between objects that a Flux troubleshooter follows,
//! built once from a [`Snapshot`]. Referenced objects that do not exist are nodes too.
//!
//! An edge `from -> to` always reads "from needs, holds or uses to": a Kustomization needs its
//! source and holds its inventory; a Pod uses its PVC ([`Relation::category`]).

use crate::flux;
use crate::health::{self, Health};
use kubectl_flux_model::id_index::IdIndex;
use kubectl_flux_model::json::Json;
use kubectl_flux_model::kinds::{self, HELM_GROUP, OPERATOR_GROUP};
use kubectl_flux_model::object::{Object, ObjectRef, split_api_version};
use kubectl_flux_model::snapshot::Snapshot;
use serde::Serialize;
use std::collections::HashSet;

/// A set of node pairs, hashed as cheaply as [`kubectl_flux_model::snapshot::FastMap`] keys.
type PairSet = HashSet<(usize, usize), foldhash::fast::RandomState>;

/// Why two objects are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Relation {
    /// `spec.sourceRef` (or HelmChart's source).
    SourceRef,
    /// HelmRelease `spec.chartRef` or `spec.chart.spec.sourceRef`.
    ChartRef,
    /// HelmRelease -> the HelmChart helm-controller generated for it.
    HelmChart,
    /// `spec.dependsOn`.
    DependsOn,
    /// HelmRelease `spec.valuesFrom`.
    ValuesFrom,
    /// Kustomization `spec.postBuild.substituteFrom`.
    SubstituteFrom,
    /// `spec.serviceAccountName` used for impersonation.
    ServiceAccount,
    /// `spec.secretRef` of a source or Provider.
    SecretRef,
    /// Alert `spec.providerRef`.
    ProviderRef,
    /// Kustomization inventory entry.
    Inventory,
    /// Object in a HelmRelease's Helm release manifest.
    HelmManifest,
    /// Object labelled as applied by a Kustomization/HelmRelease but not in its inventory.
    ManagedLabel,
    /// `metadata.ownerReferences`.
    Owns,
    /// ArtifactGenerator -> the ExternalArtifacts it generates.
    Generates,
    /// ResourceSet `spec.inputsFrom` -> the ResourceSetInputProviders it reads.
    InputsFrom,
    /// StatefulSet `volumeClaimTemplates` -> the PVCs it creates.
    ClaimTemplate,
    /// Pod -> PVC it mounts.
    MountsClaim,
    /// Pod -> ConfigMap/Secret it mounts or reads env from.
    MountsConfig,
    /// PVC -> the PV bound to it.
    BoundVolume,
    /// PVC/PV -> its StorageClass.
    StorageClass,
    /// Kustomization `spec.healthChecks`.
    HealthCheck,
}

/// What an edge `from -> to` means for lineage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `from` consumes `to` (its source, dependency, values, account): `to` is upstream.
    Needs,
    /// `from` produced or owns `to` (inventory, Helm manifest, ownerReferences, claim
    /// templates): `to` is downstream and `from` is its manager.
    Holds,
    /// `from` uses `to` without owning it (mounts, bound volume, storage class, health check):
    /// `to` is downstream and `from` is one of its users.
    Uses,
}

/// Lifecycle phase used by cycle detection: an object first exists (a Flux object: has applied),
/// then is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Exists / has applied.
    Exists,
    /// Ready / healthy.
    Ready,
}

impl Relation {
    /// Needs, holds or uses.
    pub fn category(self) -> Category {
        use Relation::*;
        match self {
            SourceRef | ChartRef | HelmChart | DependsOn | ValuesFrom | SubstituteFrom | ServiceAccount | SecretRef
            | ProviderRef | InputsFrom => Category::Needs,
            Inventory | HelmManifest | ManagedLabel | Owns | ClaimTemplate | Generates => Category::Holds,
            HealthCheck | MountsClaim | MountsConfig | BoundVolume | StorageClass => Category::Uses,
        }
    }

    /// The word used in every output format.
    pub fn label(self) -> &'static str {
        use Relation::*;
        match self {
            SourceRef => "sourceRef",
            ChartRef => "chartRef",
            HelmChart => "helmChart",
            DependsOn => "dependsOn",
            ValuesFrom => "valuesFrom",
            SubstituteFrom => "substituteFrom",
            ServiceAccount => "serviceAccount",
            SecretRef => "secretRef",
            ProviderRef => "providerRef",
            HealthCheck => "healthCheck",
            Inventory => "inventory",
            HelmManifest => "helmManifest",
            ManagedLabel => "managedLabel",
            Owns => "owns",
            Generates => "generates",
            InputsFrom => "inputsFrom",
            ClaimTemplate => "claimTemplate",
            MountsClaim => "mountsClaim",
            MountsConfig => "mountsConfig",
            BoundVolume => "boundVolume",
            StorageClass => "storageClass",
        }
    }

    /// Waits-for semantics for readiness and cycles: `from` at phase `.0` waits for `to` at
    /// phase `.1`. `None` when `from` does not wait for `to` at all.
    pub fn waits(self, from_waits_for_managed: bool, optional: bool) -> Option<(Phase, Phase)> {
        use Phase::*;
        use Relation::*;
        match self {
            SourceRef | ChartRef | HelmChart | DependsOn | InputsFrom => Some((Exists, Ready)),
            ValuesFrom | SubstituteFrom if !optional => Some((Exists, Exists)),
            ServiceAccount | SecretRef => Some((Exists, Exists)),
            ProviderRef => Some((Ready, Ready)),
            HealthCheck => Some((Ready, Ready)),
            Inventory | HelmManifest if from_waits_for_managed => Some((Ready, Ready)),
            Owns | ClaimTemplate | MountsClaim => Some((Ready, Ready)),
            MountsConfig | BoundVolume | StorageClass => Some((Ready, Exists)),
            _ => None,
        }
    }

    /// Whether `to` cannot exist until `from` has applied/created it (produced-by).
    pub fn produces(self) -> bool {
        matches!(
            self,
            Relation::Inventory
                | Relation::HelmManifest
                | Relation::Owns
                | Relation::ClaimTemplate
                | Relation::Generates
        )
    }
}

/// The namespaced Kubernetes kinds whose objects name an object of the cluster-scoped kind
/// `group`/`kind` in their spec, making an edge to it in [`Graph::build`]: a PVC names its
/// StorageClass and its PersistentVolume. Who else may point at a cluster-scoped object from
/// any namespace is a Flux object (inventories, health checks), or a dependent naming it as its
/// owner, an edge from the owner.
pub fn namespaced_referrers(group: &str, kind: &str) -> &'static [(&'static str, &'static str)] {
    match (group, kind) {
        ("storage.k8s.io", "StorageClass") | ("", "PersistentVolume") => &[("", "PersistentVolumeClaim")],
        _ => &[],
    }
}

/// The Flux kinds whose objects produce Kubernetes objects, or name one outside their own
/// namespace: a Kustomization (inventory, labels, health checks anywhere), a HelmRelease (its
/// release's manifest, in Helm storage Secrets), a ResourceSet (inventory, `dependsOn` of any
/// kind) and a FluxInstance (inventory). Every other Flux kind names only Flux objects, or
/// Kubernetes objects of its own namespace (its Secrets, ServiceAccounts, ConfigMaps).
pub const KUBERNETES_PRODUCERS: &[(&str, &str)] = &[
    (kinds::KUSTOMIZE_GROUP, "Kustomization"),
    (HELM_GROUP, "HelmRelease"),
    (OPERATOR_GROUP, "ResourceSet"),
    (OPERATOR_GROUP, "FluxInstance"),
];

impl Edge {
    /// The phases this edge makes `from` wait at, if it waits at all.
    pub fn waits(&self, g: &Graph) -> Option<(Phase, Phase)> {
        self.relation.waits(g.nodes[self.from].waits_for_managed, self.optional)
    }
}

/// One relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Index of the node that needs or holds.
    pub from: usize,
    /// Index of the node needed or held.
    pub to: usize,
    /// Why.
    pub relation: Relation,
    /// For valuesFrom/substituteFrom: `optional: true`.
    pub optional: bool,
}

/// A node: an object, present or missing, with its health.
#[derive(Debug, Clone)]
pub struct Node {
    /// Identity.
    pub id: ObjectRef,
    /// Health (Missing for referenced objects that do not exist).
    pub health: Health,
    /// Whether the object exists in the snapshot.
    pub exists: bool,
    /// Whether it waits for every object it manages to be healthy (Kustomization `wait: true`,
    /// HelmRelease by default).
    pub waits_for_managed: bool,
}

/// The relationship graph of a snapshot.
#[derive(Debug, Default)]
pub struct Graph {
    /// Nodes, present and missing.
    pub nodes: Vec<Node>,
    /// Edges.
    pub edges: Vec<Edge>,
    index: IdIndex,
    out: Vec<Vec<usize>>,
    inc: Vec<Vec<usize>>,
    /// Problems found while building (an undecodable Helm release, say).
    pub notes: Vec<String>,
}

impl Graph {
    /// Builds the graph of every object in the snapshot (Events excepted).
    pub fn build(snapshot: &Snapshot) -> Self {
        let mut g = Graph::default();
        for obj in snapshot.objects() {
            if obj.id.kind != "Event" {
                g.node(snapshot, &obj.id);
            }
        }
        let objs: Vec<&Object> = snapshot.objects().iter().filter(|o| o.id.kind != "Event").collect();
        let releases = crate::helm::Releases::index(snapshot);
        for obj in &objs {
            g.add_flux_edges(snapshot, &releases, obj);
            g.add_kube_edges(snapshot, obj);
        }
        let listed: PairSet = g
            .edges
            .iter()
            .filter(|e| matches!(e.relation, Relation::Inventory | Relation::HelmManifest))
            .map(|e| (e.from, e.to))
            .collect();
        for obj in &objs {
            g.add_label_edges(snapshot, obj, &listed);
        }
        // Sorted by identity, not by index: indexes follow the order objects were read, which
        // differs between a cluster and a file; answers must not.
        // Each node's rank in identity order (identities are unique), so that sorting the edges
        // compares numbers instead of four strings per side: same order, far fewer comparisons.
        let mut by_id: Vec<usize> = (0..g.nodes.len()).collect();
        by_id.sort_unstable_by(|&a, &b| g.nodes[a].id.cmp(&g.nodes[b].id));
        let mut rank = vec![0; g.nodes.len()];
        for (r, &node) in by_id.iter().enumerate() {
            rank[node] = r;
        }
        g.edges.sort_by_key(|e| (rank[e.from], rank[e.to], e.relation));
        g.edges.dedup_by(|a, b| a.from == b.from && a.to == b.to && a.relation == b.relation);
        g.out = vec![Vec::new(); g.nodes.len()];
        g.inc = vec![Vec::new(); g.nodes.len()];
        for (i, e) in g.edges.iter().enumerate() {
            g.out[e.from].push(i);
            g.inc[e.to].push(i);
        }
        g
    }

    /// The node index of an object, if it is in the graph.
    pub fn find(&self, id: &ObjectRef) -> Option<usize> {
        self.index.get(id, |i| &self.nodes[i].id)
    }

    /// Edges leaving a node (`from` is the node).
    pub fn outgoing(&self, node: usize) -> impl Iterator<Item = &Edge> {
        self.out[node].iter().map(|&i| &self.edges[i])
    }

    /// Edges arriving at a node (`to` is the node).
    pub fn incoming(&self, node: usize) -> impl Iterator<Item = &Edge> {
        self.inc[node].iter().map(|&i| &self.edges[i])
    }

    fn node(&mut self, snapshot: &Snapshot, id: &ObjectRef) -> usize {
        if let Some(i) = self.index.get(id, |i| &self.nodes[i].id) {
            return i;
        }
        let (health, exists, waits_for_managed) = match snapshot.get(id) {
            Some(obj) => (health::of(obj), true, flux::waits_for_managed(obj)),
            None if snapshot.is_listed_at(&id.group, &id.kind, &id.namespace) => (Health::missing(), false, false),
            None => (Health::unknown_kind(), false, false),
        };
        let i = self.nodes.len();
        self.nodes.push(Node { id: id.clone(), health, exists, waits_for_managed });
        self.index.insert(id, i, |i| &self.nodes[i].id);
        i
    }

    fn edge(&mut self, snapshot: &Snapshot, from: &ObjectRef, to: ObjectRef, relation: Relation, optional: bool) {
        if *from == to {
            return;
        }
        let from = self.node(snapshot, from);
        let to = self.node(snapshot, &to);
        self.edges.push(Edge { from, to, relation, optional });
    }

    fn add_flux_edges(&mut self, snapshot: &Snapshot, releases: &crate::helm::Releases, obj: &Object) {
        if !kinds::is_flux_group(&obj.id.group) {
            return;
        }
        let id = &obj.id;
        if let Some(src) = flux::source_ref(obj) {
            let relation = if id.group == HELM_GROUP { Relation::ChartRef } else { Relation::SourceRef };
            self.edge(snapshot, id, src, relation, false);
        }
        for src in flux::generator_sources(obj) {
            self.edge(snapshot, id, src, Relation::SourceRef, false);
        }
        for artifact in flux::generated_artifacts(obj) {
            self.edge(snapshot, id, artifact, Relation::Generates, false);
        }
        if let Some(chart) = flux::generated_helm_chart(obj) {
            self.edge(snapshot, id, chart, Relation::HelmChart, false);
        }
        for dep in flux::depends_on(obj) {
            self.edge(snapshot, id, dep, Relation::DependsOn, false);
        }
        for v in flux::values_from(obj) {
            self.edge(snapshot, id, v.target, Relation::ValuesFrom, v.optional);
        }
        for v in flux::substitute_from(obj) {
            self.edge(snapshot, id, v.target, Relation::SubstituteFrom, v.optional);
        }
        if let Some(sa) = flux::service_account(obj) {
            self.edge(snapshot, id, sa, Relation::ServiceAccount, false);
        }
        if let Some(secret) = flux::secret_ref(obj) {
            self.edge(snapshot, id, secret, Relation::SecretRef, false);
        }
        if let Some(name) = obj.str_at("/spec/providerRef/name").filter(|_| id.kind == "Alert") {
            let provider = ObjectRef::new(&id.group, "Provider", &id.namespace, name);
            self.edge(snapshot, id, provider, Relation::ProviderRef, false);
        }
        for check in flux::health_checks(obj) {
            self.edge(snapshot, id, check, Relation::HealthCheck, false);
        }
        match flux::input_providers(obj, snapshot.of_kind(OPERATOR_GROUP, "ResourceSetInputProvider")) {
            Ok(providers) => {
                for provider in providers {
                    self.edge(snapshot, id, provider, Relation::InputsFrom, false);
                }
            }
            Err(note) => self.notes.push(note),
        }
        if flux::keeps_inventory(obj) {
            for entry in flux::inventory(obj) {
                self.edge(snapshot, id, entry, Relation::Inventory, false);
            }
        }
        if id.group == HELM_GROUP {
            match releases.objects(obj) {
                Ok(entries) => {
                    for entry in entries {
                        self.edge(snapshot, id, entry, Relation::HelmManifest, false);
                    }
                }
                Err(note) => self.notes.push(note),
            }
        }
    }

    fn add_kube_edges(&mut self, snapshot: &Snapshot, obj: &Object) {
        let id = &obj.id;
        for owner in obj.owner_refs() {
            let (group, _) = split_api_version(owner.api_version);
            let namespaced = kinds::find(group, owner.kind).is_none_or(|k| k.namespaced);
            let ns = if namespaced { id.namespace.as_str() } else { "" };
            let owner_id = ObjectRef::new(group, owner.kind, ns, owner.name);
            self.edge(snapshot, &owner_id, id.clone(), Relation::Owns, false);
        }
        match (id.group.as_str(), id.kind.as_str()) {
            ("apps", "StatefulSet") => {
                let replicas = obj.at("/spec/replicas").and_then(Json::as_i64).unwrap_or(1).clamp(0, 1000);
                let templates = obj.at("/spec/volumeClaimTemplates").and_then(Json::as_array);
                for t in templates.into_iter().flatten() {
                    let Some(tname) = t.pointer("/metadata/name").and_then(Json::as_str) else { continue };
                    for i in 0..replicas {
                        let pvc = ObjectRef::new(
                            "",
                            "PersistentVolumeClaim",
                            &id.namespace,
                            &format!("{tname}-{}-{i}", id.name),
                        );
                        self.edge(snapshot, id, pvc, Relation::ClaimTemplate, false);
                    }
                }
            }
            ("", "Pod") => {
                for v in obj.at("/spec/volumes").and_then(Json::as_array).into_iter().flatten() {
                    let s = |p: &str| v.pointer(p).and_then(Json::as_str);
                    let optional = |p: &str| v.pointer(p).and_then(Json::as_bool) == Some(true);
                    if let Some(claim) = s("/persistentVolumeClaim/claimName") {
                        let pvc = ObjectRef::new("", "PersistentVolumeClaim", &id.namespace, claim);
                        self.edge(snapshot, id, pvc, Relation::MountsClaim, false);
                    }
                    if let Some(cm) = s("/configMap/name").filter(|_| !optional("/configMap/optional")) {
                        self.edge(
                            snapshot,
                            id,
                            ObjectRef::new("", "ConfigMap", &id.namespace, cm),
                            Relation::MountsConfig,
                            false,
                        );
                    }
                    if let Some(secret) = s("/secret/secretName").filter(|_| !optional("/secret/optional")) {
                        self.edge(
                            snapshot,
                            id,
                            ObjectRef::new("", "Secret", &id.namespace, secret),
                            Relation::MountsConfig,
                            false,
                        );
                    }
                }
                for c in obj.at("/spec/containers").and_then(Json::as_array).into_iter().flatten() {
                    for from in c.get("envFrom").and_then(Json::as_array).into_iter().flatten() {
                        for (key, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
                            let r = from.get(key);
                            let name = r.and_then(|r| r.get("name")).and_then(Json::as_str);
                            let optional = r.and_then(|r| r.get("optional")).and_then(Json::as_bool) == Some(true);
                            if let (Some(name), false) = (name, optional) {
                                self.edge(
                                    snapshot,
                                    id,
                                    ObjectRef::new("", kind, &id.namespace, name),
                                    Relation::MountsConfig,
                                    false,
                                );
                            }
                        }
                    }
                }
            }
            ("", "PersistentVolumeClaim") => {
                if let Some(pv) = obj.str_at("/spec/volumeName").filter(|s| !s.is_empty()) {
                    self.edge(
                        snapshot,
                        id,
                        ObjectRef::new("", "PersistentVolume", "", pv),
                        Relation::BoundVolume,
                        false,
                    );
                }
                if let Some(sc) = obj.str_at("/spec/storageClassName").filter(|s| !s.is_empty()) {
                    self.edge(
                        snapshot,
                        id,
                        ObjectRef::new("storage.k8s.io", "StorageClass", "", sc),
                        Relation::StorageClass,
                        false,
                    );
                }
            }
            ("", "PersistentVolume") => {
                if let Some(sc) = obj.str_at("/spec/storageClassName").filter(|s| !s.is_empty()) {
                    self.edge(
                        snapshot,
                        id,
                        ObjectRef::new("storage.k8s.io", "StorageClass", "", sc),
                        Relation::StorageClass,
                        false,
                    );
                }
            }
            _ => {}
        }
    }

    /// Objects labelled as applied by a Kustomization, a HelmRelease or a flux-operator
    /// ResourceSet or FluxInstance that the manager's inventory does not list: a state-corruption
    /// finding, still drawn as managed.
    fn add_label_edges(&mut self, snapshot: &Snapshot, obj: &Object, listed: &PairSet) {
        for manager in flux::labelled_managers(obj) {
            let in_inventory = self.find(&manager).zip(self.find(&obj.id)).is_some_and(|pair| listed.contains(&pair));
            if !in_inventory {
                self.edge(snapshot, &manager, obj.id.clone(), Relation::ManagedLabel, false);
            }
        }
    }
}
