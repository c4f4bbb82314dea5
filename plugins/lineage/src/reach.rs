//! What a live `--why` answer must read, and no more: the target's own chain first, as `flux
//! tree` reads it, then more only where the chain leads, in rounds, until those namespaces stop
//! growing.
//!
//! The answer then equals the one a whole cluster gives. Its chains and cycles follow two kinds
//! of edges from the target ([`closure`]): waits-for edges, and from an object to whoever
//! produces it. Every such edge is found once the objects at both ends are read where they lie:
//! - Flux objects are listed in the namespaces the chain reaches (the target's first): sources,
//!   `dependsOn` and health checks name their namespace, and whoever produces an object names
//!   itself on it: kustomize-controller labels what it applies with
//!   `kustomize.toolkit.fluxcd.io/name` and `/namespace`, helm-controller with
//!   `helm.toolkit.fluxcd.io/name` and `/namespace` (FLUX-FACTS), the flux-operator with
//!   `resourceset.fluxcd.controlplane.io/*` and `fluxcd.controlplane.io/*`
//!   ([`flux::MANAGER_LABELS`]). Helm storage Secrets are read
//!   with the Flux kinds of a namespace, and in a HelmRelease's storage namespace.
//! - A missing object is shown with whoever would produce it, which no label can name: then every
//!   Kustomization, HelmRelease, ResourceSet and FluxInstance is listed, with every Helm storage
//!   Secret ([`KUBERNETES_PRODUCERS`]: the only Flux kinds that produce a Kubernetes object or
//!   name one outside their namespace). A missing Flux object lists every Flux kind, as Flux
//!   objects name each other across namespaces. So is everything
//!   Flux when the target's namespace is not known before reading, or the chain spreads over more
//!   than [`NAMESPACES_MAX`] namespaces or [`ROUNDS_MAX`] rounds.
//! - Kubernetes objects find their owners, claims, mounts and volumes in their own namespace or
//!   among cluster-scoped objects. An object's children (owner references) lie in its own
//!   namespace, unless it is cluster-scoped: then, as past the same bounds, every kind is listed
//!   everywhere, if the object is reached at its Ready phase (an owner waits for what it owns to
//!   be ready). A healthy cluster-scoped object waited for only to exist (a PVC's StorageClass,
//!   a PVC's volume) is not followed further, as neither chains nor cycles pass through it.
//! - A missing object is shown with every object that refers to it: those lie in its namespace,
//!   or, for a cluster-scoped one, anywhere: the kinds that can name it (a PVC names its
//!   StorageClass and its volume, [`namespaced_referrers`]) are listed in every namespace. What
//!   a missing object would own is not looked for: Kubernetes' garbage collector deletes a
//!   dependent once all its owners are verified absent (kubernetes.io, Garbage Collection,
//!   "Owners and dependents"); a dependent that keeps another owner is not found this way.
//!
//! An object that two Kustomizations both list in their inventories names only the last one to
//! apply it; the other is found only if the chain leads to it otherwise.

use kubectl_flux_graph::flux;
use kubectl_flux_graph::graph::{Graph, KUBERNETES_PRODUCERS, Phase, namespaced_referrers};
use kubectl_flux_model::kinds::{self, CORE_KINDS, FLUX_KINDS, KindInfo};
use kubectl_flux_model::{ObjectRef, Snapshot};
use kubectl_flux_source::Want;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Above this many namespaces, the Kubernetes kinds are listed once in every namespace.
pub const NAMESPACES_MAX: usize = 8;
/// After this many rounds of namespaces, the Kubernetes kinds are listed everywhere.
pub const ROUNDS_MAX: usize = 3;

/// The Kubernetes kinds chains run through, in the kinds table's order: every one but Nodes,
/// CRDs and Events (those come in the answer's namespaces, [`crate::view::View::event_wants`]).
pub fn chain_kinds() -> impl Iterator<Item = &'static KindInfo> {
    CORE_KINDS.iter().filter(|k| !matches!(k.kind, "Node" | "CustomResourceDefinition" | "Event"))
}

/// The chain kinds that are namespaced, or those that are not.
fn kube_kinds(namespaced: bool) -> impl Iterator<Item = &'static KindInfo> {
    chain_kinds().filter(move |k| k.namespaced == namespaced)
}

/// One list of a Kubernetes kind chains run through: Secrets as metadata only.
pub fn kube_want(k: &'static KindInfo) -> Want {
    if k.kind == "Secret" { Want::metadata(k, None) } else { Want::all(k) }
}

/// A kind as (group, kind).
type KindKey = (&'static str, &'static str);

/// The namespaced Kubernetes kinds in one namespace, but those already listed everywhere.
fn in_namespace<'a>(namespace: &'a str, everywhere: &'a BTreeSet<KindKey>) -> impl Iterator<Item = Want> + 'a {
    kube_kinds(true)
        .filter(|k| !everywhere.contains(&(k.group, k.kind)))
        .map(move |k| kube_want(k).in_namespace(namespace))
}

/// The Flux kinds and Helm storage Secrets in one namespace, or in every namespace; without the
/// producers of Kubernetes objects and Helm storage when those were listed everywhere.
fn flux_wants(namespace: Option<&str>, producers_everywhere: bool) -> Vec<Want> {
    let in_place = |w: Want| match namespace {
        Some(ns) => w.in_namespace(ns),
        None => w,
    };
    let kinds =
        FLUX_KINDS.iter().filter(|k| !(producers_everywhere && KUBERNETES_PRODUCERS.contains(&(k.group, k.kind))));
    let storage = (!producers_everywhere).then(Want::helm_storage);
    kinds.map(Want::all).chain(storage).map(in_place).collect()
}

/// Every object that may produce a Kubernetes object or name one from another namespace
/// ([`KUBERNETES_PRODUCERS`]), with every Helm storage Secret: who a missing Kubernetes object
/// is shown with.
fn producer_wants() -> Vec<Want> {
    let producers = KUBERNETES_PRODUCERS.iter().filter_map(|(group, kind)| kinds::find(group, kind));
    producers.map(Want::all).chain([Want::helm_storage()]).collect()
}

/// The first round: the Flux kinds and Helm storage in `namespace` (the target's, when `-n`
/// names it; else everywhere), the cluster-scoped kinds, and the namespaced kinds in `namespace`.
pub fn first_wants(namespace: Option<&str>) -> Vec<Want> {
    let mut wants = flux_wants(namespace, false);
    wants.extend(kube_kinds(false).map(Want::all));
    static NONE: BTreeSet<KindKey> = BTreeSet::new();
    wants.extend(namespace.into_iter().flat_map(|ns| in_namespace(ns, &NONE)));
    wants
}

/// Every node the target can reach along waits-for edges and from an object to its producer,
/// with the latest phase it is reached at: the nodes chains and cycles ([`crate::why`],
/// [`crate::cycles`]) may pass through. The walk is over phases, as cycles are searched: an
/// object waited for only to exist (the StorageClass a PVC names, the ConfigMap a Pod mounts)
/// is reached at [`Phase::Exists`], and what it would wait for to be ready is not followed.
/// Both phases of the target, and of every object that holds something up (failing,
/// progressing, missing or not read yet), are walked: a chain may pass through it, and the
/// cycles of an answer are searched from both phases of every object on its chains.
pub fn closure(g: &Graph, target: usize) -> BTreeMap<usize, Phase> {
    let mut seen: BTreeSet<(usize, Phase)> = BTreeSet::new();
    let mut queue = VecDeque::new();
    let mut visit = |v: (usize, Phase), queue: &mut VecDeque<(usize, Phase)>| {
        if seen.insert(v) {
            queue.push_back(v);
        }
    };
    visit((target, Phase::Ready), &mut queue);
    while let Some((u, phase)) = queue.pop_front() {
        match phase {
            Phase::Ready => visit((u, Phase::Exists), &mut queue),
            Phase::Exists if g.nodes[u].health.state.is_problem() => visit((u, Phase::Ready), &mut queue),
            Phase::Exists => {}
        }
        let waited =
            g.outgoing(u).filter_map(|e| e.waits(g).filter(|(from, _)| *from == phase).map(|(_, to)| (e.to, to)));
        let producers =
            g.incoming(u).filter(|e| phase == Phase::Exists && e.relation.produces()).map(|e| (e.from, Phase::Exists));
        for v in waited.chain(producers).collect::<Vec<_>>() {
            visit(v, &mut queue);
        }
    }
    let mut reached = BTreeMap::new();
    for (n, phase) in seen {
        let latest = reached.entry(n).or_insert(phase);
        *latest = (*latest).max(phase);
    }
    reached
}

/// The rounds of one answer: which namespaces were asked for, and whether everything was, for
/// the Kubernetes kinds and for the Flux kinds.
#[derive(Debug, Default)]
pub struct Reach {
    asked: BTreeSet<String>,
    everywhere: bool,
    /// Namespaced Kubernetes kinds listed in every namespace on their own.
    kinds_everywhere: BTreeSet<KindKey>,
    flux_asked: BTreeSet<String>,
    flux_everywhere: bool,
    /// The producers of Kubernetes objects (and Helm storage) listed everywhere.
    producers_everywhere: bool,
    rounds: usize,
}

/// What one round found missing from what was read: namespaces, or everywhere.
#[derive(Debug, Default)]
struct Needed {
    kube: BTreeSet<String>,
    kube_everywhere: bool,
    kinds_everywhere: BTreeSet<KindKey>,
    flux: BTreeSet<String>,
    flux_everywhere: bool,
    producers_everywhere: bool,
}

impl Reach {
    /// Rounds after a first one that read `namespace` ([`first_wants`]), or every Flux object.
    pub fn new(namespace: Option<&str>) -> Self {
        let asked: BTreeSet<String> = namespace.into_iter().map(str::to_string).collect();
        Reach { flux_everywhere: asked.is_empty(), flux_asked: asked.clone(), asked, ..Reach::default() }
    }

    /// The lists still needed before the answer for `target` (its kind resolved, its namespace
    /// filled in; `namespaced` as [`kinds`] knows it) is the whole cluster's; empty once every
    /// object it can reach has been read where it lies.
    pub fn more(
        &mut self,
        graph: &Graph,
        snapshot: &Snapshot,
        target: &ObjectRef,
        namespaced: Option<bool>,
    ) -> Vec<Want> {
        let mut needed = Needed { kube_everywhere: namespaced != Some(true), ..Needed::default() };
        if namespaced == Some(true) {
            match graph.find(target) {
                None if kinds::is_flux_group(&target.group) => {
                    needed.flux.insert(target.namespace.to_string());
                }
                None => {
                    needed.kube.insert(target.namespace.to_string());
                }
                Some(node) => {
                    for (n, phase) in closure(graph, node) {
                        Self::needs(graph, snapshot, n, phase, &mut needed);
                    }
                }
            }
        }
        needed.kube.retain(|ns| !self.asked.contains(ns));
        needed.flux.retain(|ns| !self.flux_asked.contains(ns));
        needed.kinds_everywhere.retain(|k| !self.kinds_everywhere.contains(k));
        let kube_more = !self.everywhere
            && (needed.kube_everywhere || !needed.kube.is_empty() || !needed.kinds_everywhere.is_empty());
        let producers_more = !self.flux_everywhere && !self.producers_everywhere && needed.producers_everywhere;
        let flux_more = !self.flux_everywhere && (needed.flux_everywhere || !needed.flux.is_empty() || producers_more);
        if !kube_more && !flux_more {
            return Vec::new();
        }
        self.rounds += 1;
        let past_bounds = self.rounds > ROUNDS_MAX;
        let mut wants = Vec::new();
        if flux_more {
            if needed.flux_everywhere || past_bounds || self.flux_asked.len() + needed.flux.len() > NAMESPACES_MAX {
                self.flux_everywhere = true;
                wants.extend(flux_wants(None, self.producers_everywhere));
            } else {
                if producers_more {
                    self.producers_everywhere = true;
                    wants.extend(producer_wants());
                }
                wants.extend(needed.flux.iter().flat_map(|ns| flux_wants(Some(ns), self.producers_everywhere)));
                self.flux_asked.extend(needed.flux);
            }
        }
        if kube_more {
            if needed.kube_everywhere || past_bounds || self.asked.len() + needed.kube.len() > NAMESPACES_MAX {
                self.everywhere = true;
                wants.extend(kube_kinds(true).map(kube_want));
            } else {
                for k in needed.kinds_everywhere.iter().filter_map(|(group, kind)| kinds::find(group, kind)) {
                    wants.push(kube_want(k));
                }
                self.kinds_everywhere.extend(needed.kinds_everywhere);
                wants.extend(needed.kube.iter().flat_map(|ns| in_namespace(ns, &self.kinds_everywhere)));
                self.asked.extend(needed.kube);
            }
        }
        wants
    }

    /// What node `n` of the closure, reached at `phase`, needs read: its namespace (for both
    /// families of kinds), its producer's namespace, a HelmRelease's storage namespace; every
    /// producer when it is missing where it was looked for. A cluster-scoped object reached at
    /// its Ready phase may wait for objects it owns in any namespace: every namespace, then.
    /// Reached only to exist, it waits for nothing but what it names itself. Missing, it is shown
    /// with whoever refers to it: the kinds that can, everywhere.
    fn needs(graph: &Graph, snapshot: &Snapshot, n: usize, phase: Phase, needed: &mut Needed) {
        let id = &graph.nodes[n].id;
        if !id.namespace.is_empty() {
            needed.kube.insert(id.namespace.to_string());
            needed.flux.insert(id.namespace.to_string());
        } else if !kinds::is_flux_group(&id.group) {
            if !graph.nodes[n].exists {
                needed.kinds_everywhere.extend(namespaced_referrers(&id.group, &id.kind));
            } else if phase == Phase::Ready {
                needed.kube_everywhere = true;
            }
        }
        match snapshot.get(id) {
            Some(object) => {
                for producer in flux::labelled_managers(object) {
                    needed.flux.insert(producer.namespace.to_string());
                }
                if id.group == kinds::HELM_GROUP && id.kind == "HelmRelease" {
                    needed.flux.insert(flux::helm_release_storage(object).0);
                }
            }
            // Missing where it was listed: whoever would produce it, or refers to it from another
            // namespace, must be named. For a Kubernetes object those are of a few Flux kinds.
            None if snapshot.is_listed_at(&id.group, &id.kind, &id.namespace) => {
                if kinds::is_flux_group(&id.group) {
                    needed.flux_everywhere = true;
                } else {
                    needed.producers_everywhere = true;
                }
            }
            // Not read yet: its namespace (above) comes next.
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubectl_flux_model::Snapshot;
    use kubectl_flux_source::offline::read_bytes;

    fn graph(text: &str) -> (Graph, Snapshot) {
        let mut snapshot = Snapshot::new();
        read_bytes("objects.yaml", text.as_bytes(), &mut snapshot).unwrap();
        (Graph::build(&snapshot), snapshot)
    }

    fn namespaces(wants: &[Want]) -> BTreeSet<Option<&str>> {
        wants.iter().map(|w| w.namespace.as_deref()).collect()
    }

    const APPS: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  sourceRef: {kind: GitRepository, name: repo, namespace: sources}
  wait: true
status:
  inventory:
    entries:
    - {id: shop_web_apps_Deployment, v: v1}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: other, namespace: flux-system}
spec:
  sourceRef: {kind: GitRepository, name: repo, namespace: sources}
status:
  inventory:
    entries:
    - {id: blog_web_apps_Deployment, v: v1}
";

    #[test]
    fn the_closure_follows_waits_and_producers_not_bystanders() {
        let (g, _) = graph(APPS);
        let id = |k: &str, ns: &str, n: &str| {
            g.find(&ObjectRef::new(kinds::resolve(k).unwrap().group, kinds::resolve(k).unwrap().kind, ns, n)).unwrap()
        };
        let apps = id("ks", "flux-system", "apps");
        let reached: BTreeSet<String> = closure(&g, apps).keys().map(|&n| g.nodes[n].id.to_string()).collect();
        // Its source, and what it waits for (wait: true); not the other Kustomization's objects.
        assert_eq!(
            reached.into_iter().collect::<Vec<_>>(),
            ["Deployment shop/web", "GitRepository sources/repo", "Kustomization flux-system/apps"]
        );
        // An applied object reaches back to whoever produces it.
        let web = id("deploy", "shop", "web");
        assert!(closure(&g, web).contains_key(&apps));
    }

    const CLAIM: &str = "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec: {storageClassName: fast}
status: {phase: Pending}
";

    const FAST: &str = "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: ebs.csi.aws.com
";

    #[test]
    fn an_object_waited_for_only_to_exist_is_not_followed_to_what_it_owns() {
        // The PVC waits for its StorageClass to exist: the class is reached at Exists, and what
        // it might own in other namespaces (what it would wait for to be ready) is not needed.
        let (g, snapshot) = graph(&format!("{CLAIM}---\n{FAST}"));
        let pvc = g.find(&ObjectRef::new("", "PersistentVolumeClaim", "shop", "data")).unwrap();
        let class = g.find(&ObjectRef::new("storage.k8s.io", "StorageClass", "", "fast")).unwrap();
        let reached = closure(&g, pvc);
        assert_eq!(reached.get(&class), Some(&Phase::Exists));
        let target = ObjectRef::new("", "PersistentVolumeClaim", "shop", "data");
        let mut reach = Reach::new(Some("shop"));
        assert!(reach.more(&g, &snapshot, &target, Some(true)).is_empty(), "nothing beyond shop");
        // Missing (StorageClasses were listed), the class holds the claim up: a chain passes
        // through it, and its cycles are searched from its Ready phase too.
        let (_, mut snapshot) = graph(CLAIM);
        snapshot.listed_kinds.insert(("storage.k8s.io".into(), "StorageClass".into()));
        let g = Graph::build(&snapshot);
        let class = g.find(&ObjectRef::new("storage.k8s.io", "StorageClass", "", "fast")).unwrap();
        let pvc = g.find(&target).unwrap();
        assert_eq!(closure(&g, pvc).get(&class), Some(&Phase::Ready));
        // Who would produce it and who refers to it are shown, from any namespace: every
        // Kustomization, HelmRelease (with Helm storage), ResourceSet and FluxInstance, and every
        // PVC, are listed; no other kind (what it would own, the garbage collector deleted).
        let mut reach = Reach::new(Some("shop"));
        let wants = reach.more(&g, &snapshot, &target, Some(true));
        assert!(wants.iter().all(|w| w.namespace.is_none()), "{wants:?}");
        let lists: Vec<(&str, Option<&str>)> = wants.iter().map(|w| (w.kind.kind, w.label_selector)).collect();
        assert_eq!(
            lists,
            [
                ("Kustomization", None),
                ("HelmRelease", None),
                ("ResourceSet", None),
                ("FluxInstance", None),
                ("Secret", Some("owner=helm")),
                ("PersistentVolumeClaim", None)
            ]
        );
        assert!(reach.more(&g, &snapshot, &target, Some(true)).is_empty());
    }

    /// Every edge of every bundled scenario, with the scenario's name.
    fn scenario_edges() -> Vec<(String, ObjectRef, ObjectRef, &'static str, bool)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut edges = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let (g, _) = graph(&std::fs::read_to_string(&path).unwrap());
            for e in &g.edges {
                let (from, to) = (g.nodes[e.from].id.clone(), g.nodes[e.to].id.clone());
                edges.push((path.display().to_string(), from, to, e.relation.label(), e.relation.produces()));
            }
        }
        edges
    }

    #[test]
    fn only_the_producer_kinds_produce_or_name_a_kubernetes_object_across_namespaces() {
        // What a missing Kubernetes object is shown with, from other namespaces, comes from the
        // kinds listed everywhere for it.
        let mut seen = 0;
        for (file, from, to, relation, produces) in scenario_edges() {
            if !kinds::is_flux_group(&from.group) || kinds::is_flux_group(&to.group) {
                continue;
            }
            if produces || from.namespace != to.namespace {
                assert!(
                    KUBERNETES_PRODUCERS.contains(&(from.group.as_str(), from.kind.as_str())),
                    "{file}: {from} -> {to} ({relation})"
                );
                seen += 1;
            }
        }
        assert!(seen > 0, "the scenarios have inventories");
    }

    #[test]
    fn the_kinds_that_name_a_cluster_scoped_object_are_its_namespaced_referrers() {
        // Every bundled scenario: an edge from a namespaced Kubernetes object to a cluster-scoped
        // one (but an owner's, which points the other way) comes from a kind
        // `namespaced_referrers` gives, so listing those everywhere finds every referrer.
        let mut seen = 0;
        for (file, from, to, relation, _) in scenario_edges() {
            if kinds::is_flux_group(&from.group) || from.namespace.is_empty() || !to.namespace.is_empty() {
                continue;
            }
            assert!(
                namespaced_referrers(&to.group, &to.kind).contains(&(from.group.as_str(), from.kind.as_str())),
                "{file}: {from} -> {to} ({relation})"
            );
            seen += 1;
        }
        assert!(seen > 0, "the scenarios have PVCs naming StorageClasses");
    }

    #[test]
    fn namespaces_are_asked_for_once_then_everything_when_too_many() {
        let (g, snapshot) = graph(APPS);
        let target = ObjectRef::new(kinds::KUSTOMIZE_GROUP, "Kustomization", "flux-system", "apps");
        let mut reach = Reach::new(Some("flux-system"));
        let wants = reach.more(&g, &snapshot, &target, Some(true));
        assert_eq!(namespaces(&wants), BTreeSet::from([Some("shop"), Some("sources")]));
        // The Flux kinds (with Helm storage) and the namespaced Kubernetes kinds, in each.
        let in_shop: Vec<&str> =
            wants.iter().filter(|w| w.namespace.as_deref() == Some("shop")).map(|w| w.kind.kind).collect();
        assert!(in_shop.contains(&"GitRepository") && in_shop.contains(&"Deployment") && in_shop.contains(&"Secret"));
        assert!(wants.iter().all(|w| w.kind.namespaced));
        assert!(reach.more(&g, &snapshot, &target, Some(true)).is_empty(), "nothing new to ask");
        // A cluster-scoped target's children may lie anywhere: every namespace at once, once.
        let mut reach = Reach::new(None);
        let class = ObjectRef::new("storage.k8s.io", "StorageClass", "", "fast");
        assert_eq!(namespaces(&reach.more(&g, &snapshot, &class, Some(false))), BTreeSet::from([None]));
        assert!(reach.more(&g, &snapshot, &class, Some(false)).is_empty());
        // Too many namespaces: everywhere.
        let mut reach = Reach::new(None);
        reach.asked = (0..NAMESPACES_MAX - 1).map(|i| format!("ns-{i}")).collect();
        assert_eq!(namespaces(&reach.more(&g, &snapshot, &target, Some(true))), BTreeSet::from([None]));
    }

    #[test]
    fn a_target_not_yet_read_asks_for_its_namespace() {
        let (g, snapshot) = graph(APPS);
        let mut reach = Reach::new(None);
        let pod = ObjectRef::new("", "Pod", "blog", "web-1");
        assert_eq!(namespaces(&reach.more(&g, &snapshot, &pod, Some(true))), BTreeSet::from([Some("blog")]));
        // Flux kinds were read everywhere in the first round: an absent one needs no more.
        let absent = ObjectRef::new(kinds::KUSTOMIZE_GROUP, "Kustomization", "blog", "nope");
        assert!(reach.more(&g, &snapshot, &absent, Some(true)).is_empty());
        // Read in its namespace only: that namespace is where it would be.
        let mut reach = Reach::new(Some("shop"));
        let wants = reach.more(&g, &snapshot, &absent, Some(true));
        assert_eq!(namespaces(&wants), BTreeSet::from([Some("blog")]));
        assert!(wants.iter().all(|w| kinds::is_flux_group(w.kind.group) || w.label_selector == Some("owner=helm")));
    }

    #[test]
    fn what_a_resource_set_generated_names_the_resource_sets_namespace() {
        let generated = "apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: preview-1
  namespace: previews
  labels: {resourceset.fluxcd.controlplane.io/name: previews, resourceset.fluxcd.controlplane.io/namespace: platform}
spec: {url: 'https://example.com/x.git'}
";
        let (g, snapshot) = graph(generated);
        let target = ObjectRef::new(kinds::SOURCE_GROUP, "GitRepository", "previews", "preview-1");
        let mut reach = Reach::new(Some("previews"));
        let wants = reach.more(&g, &snapshot, &target, Some(true));
        assert!(namespaces(&wants).contains(&Some("platform")), "{:?}", namespaces(&wants));
        assert!(wants.iter().any(|w| w.namespace.as_deref() == Some("platform") && w.kind.kind == "ResourceSet"));
    }

    #[test]
    fn an_applied_object_names_its_producer_and_a_missing_one_asks_for_every_producer() {
        let web = "apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: {kustomize.toolkit.fluxcd.io/name: apps, kustomize.toolkit.fluxcd.io/namespace: flux-system}
spec:
  containers: [{name: web, envFrom: [{configMapRef: {name: settings}}]}]
";
        let (g, snapshot) = graph(web);
        let target = ObjectRef::new("", "Pod", "shop", "web");
        let mut reach = Reach::new(Some("shop"));
        let wants = reach.more(&g, &snapshot, &target, Some(true));
        // Its producer's namespace, for the Flux kinds only (nothing else of it is on the chain).
        assert_eq!(namespaces(&wants), BTreeSet::from([Some("flux-system")]));
        assert!(wants.iter().all(|w| kinds::is_flux_group(w.kind.group) || w.label_selector == Some("owner=helm")));
        // The ConfigMap it mounts is missing where ConfigMaps were listed: whoever should produce
        // it is named only by reading every Kustomization and HelmRelease.
        let mut snapshot = snapshot;
        snapshot.mark_listed_in("", "ConfigMap", "shop");
        let g = Graph::build(&snapshot);
        let mut reach = Reach::new(Some("shop"));
        let wants = reach.more(&g, &snapshot, &target, Some(true));
        assert!(wants.iter().any(|w| w.kind.kind == "Kustomization" && w.namespace.is_none()), "{wants:?}");
        assert!(reach.more(&g, &snapshot, &target, Some(true)).is_empty());
    }
}
