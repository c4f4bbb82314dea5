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
//!   Kustomization and HelmRelease is listed, with every Helm storage Secret. So is everything
//!   Flux when the target's namespace is not known before reading, or the chain spreads over more
//!   than [`NAMESPACES_MAX`] namespaces or [`ROUNDS_MAX`] rounds.
//! - Kubernetes objects find their owners, claims, mounts and volumes in their own namespace or
//!   among cluster-scoped objects. An object's children (owner references) lie in its own
//!   namespace, unless it is cluster-scoped: then, as past the same bounds, every kind is listed
//!   everywhere.
//! - A missing object is shown with every object that refers to it: those lie in its namespace,
//!   or anywhere for a cluster-scoped one (listed everywhere, as above).
//!
//! An object that two Kustomizations both list in their inventories names only the last one to
//! apply it; the other is found only if the chain leads to it otherwise.

use kubectl_flux_graph::flux;
use kubectl_flux_graph::graph::Graph;
use kubectl_flux_model::kinds::{self, CORE_KINDS, FLUX_KINDS, KindInfo};
use kubectl_flux_model::{ObjectRef, Snapshot};
use kubectl_flux_source::Want;
use std::collections::{BTreeSet, VecDeque};

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

/// The namespaced Kubernetes kinds in one namespace.
fn in_namespace(namespace: &str) -> impl Iterator<Item = Want> + '_ {
    kube_kinds(true).map(move |k| kube_want(k).in_namespace(namespace))
}

/// The Flux kinds and Helm storage Secrets in one namespace, or in every namespace.
fn flux_wants(namespace: Option<&str>) -> Vec<Want> {
    let secret = kinds::find("", "Secret").expect("Secret is a known kind");
    let in_place = |w: Want| match namespace {
        Some(ns) => w.in_namespace(ns),
        None => w,
    };
    FLUX_KINDS.iter().map(Want::all).chain([Want::labelled(secret, "owner=helm")]).map(in_place).collect()
}

/// The first round: the Flux kinds and Helm storage in `namespace` (the target's, when `-n`
/// names it; else everywhere), the cluster-scoped kinds, and the namespaced kinds in `namespace`.
pub fn first_wants(namespace: Option<&str>) -> Vec<Want> {
    let mut wants = flux_wants(namespace);
    wants.extend(kube_kinds(false).map(Want::all));
    wants.extend(namespace.into_iter().flat_map(in_namespace));
    wants
}

/// Every node the target can reach along waits-for edges and from an object to its producer:
/// the nodes chains and cycles ([`crate::why`], [`crate::cycles`]) may pass through.
pub fn closure(g: &Graph, target: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::from([target]);
    let mut queue = VecDeque::from([target]);
    while let Some(u) = queue.pop_front() {
        let waited = g.outgoing(u).filter(|e| e.waits(g).is_some()).map(|e| e.to);
        let producers = g.incoming(u).filter(|e| e.relation.produces()).map(|e| e.from);
        for v in waited.chain(producers).collect::<Vec<_>>() {
            if seen.insert(v) {
                queue.push_back(v);
            }
        }
    }
    seen
}

/// The rounds of one answer: which namespaces were asked for, and whether everything was, for
/// the Kubernetes kinds and for the Flux kinds.
#[derive(Debug, Default)]
pub struct Reach {
    asked: BTreeSet<String>,
    everywhere: bool,
    flux_asked: BTreeSet<String>,
    flux_everywhere: bool,
    rounds: usize,
}

/// What one round found missing from what was read: namespaces, or everywhere.
#[derive(Debug, Default)]
struct Needed {
    kube: BTreeSet<String>,
    kube_everywhere: bool,
    flux: BTreeSet<String>,
    flux_everywhere: bool,
}

impl Reach {
    /// Rounds after a first one that read `namespace` ([`first_wants`]), or every Flux object.
    pub fn new(namespace: Option<&str>) -> Self {
        let asked: BTreeSet<String> = namespace.into_iter().map(str::to_string).collect();
        Reach { flux_everywhere: asked.is_empty(), flux_asked: asked.clone(), asked, everywhere: false, rounds: 0 }
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
                    for n in closure(graph, node) {
                        Self::needs(graph, snapshot, n, &mut needed);
                    }
                }
            }
        }
        needed.kube.retain(|ns| !self.asked.contains(ns));
        needed.flux.retain(|ns| !self.flux_asked.contains(ns));
        let kube_more = !self.everywhere && (needed.kube_everywhere || !needed.kube.is_empty());
        let flux_more = !self.flux_everywhere && (needed.flux_everywhere || !needed.flux.is_empty());
        if !kube_more && !flux_more {
            return Vec::new();
        }
        self.rounds += 1;
        let past_bounds = self.rounds > ROUNDS_MAX;
        let mut wants = Vec::new();
        if flux_more {
            if needed.flux_everywhere || past_bounds || self.flux_asked.len() + needed.flux.len() > NAMESPACES_MAX {
                self.flux_everywhere = true;
                wants.extend(flux_wants(None));
            } else {
                wants.extend(needed.flux.iter().flat_map(|ns| flux_wants(Some(ns))));
                self.flux_asked.extend(needed.flux);
            }
        }
        if kube_more {
            if needed.kube_everywhere || past_bounds || self.asked.len() + needed.kube.len() > NAMESPACES_MAX {
                self.everywhere = true;
                wants.extend(kube_kinds(true).map(kube_want));
            } else {
                wants.extend(needed.kube.iter().flat_map(|ns| in_namespace(ns)));
                self.asked.extend(needed.kube);
            }
        }
        wants
    }

    /// What node `n` of the closure needs read: its namespace (for both families of kinds),
    /// its producer's namespace, a HelmRelease's storage namespace; every producer when it is
    /// missing where it was looked for.
    fn needs(graph: &Graph, snapshot: &Snapshot, n: usize, needed: &mut Needed) {
        let id = &graph.nodes[n].id;
        if !id.namespace.is_empty() {
            needed.kube.insert(id.namespace.to_string());
            needed.flux.insert(id.namespace.to_string());
        } else if !kinds::is_flux_group(&id.group) {
            needed.kube_everywhere = true;
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
            // Missing where it was listed: whoever would produce it must be named.
            None if snapshot.is_listed_at(&id.group, &id.kind, &id.namespace) => needed.flux_everywhere = true,
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
        let reached: BTreeSet<String> = closure(&g, apps).iter().map(|&n| g.nodes[n].id.to_string()).collect();
        // Its source, and what it waits for (wait: true); not the other Kustomization's objects.
        assert_eq!(
            reached.into_iter().collect::<Vec<_>>(),
            ["Deployment shop/web", "GitRepository sources/repo", "Kustomization flux-system/apps"]
        );
        // An applied object reaches back to whoever produces it.
        let web = id("deploy", "shop", "web");
        assert!(closure(&g, web).contains(&apps));
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
