//! What a live `--why` answer must read, and no more: every Flux kind and every cluster-scoped
//! kind in full, and the other kinds only in the namespaces of the objects the target can wait
//! for, listed in rounds until those namespaces stop growing.
//!
//! The answer then equals the one a whole cluster gives. Its chains and cycles follow two kinds
//! of edges from the target ([`closure`]): waits-for edges, and from an object to whoever
//! produces it. Every such edge is found once the objects at both ends are read where they lie:
//! - Flux objects refer across namespaces (sources, `dependsOn`, inventories), and any
//!   Kustomization or HelmRelease may be the producer of an object on the chain: all of them
//!   are read, with the Helm storage Secrets their releases come from.
//! - Kubernetes objects find their owners, claims, mounts and volumes in their own namespace or
//!   among cluster-scoped objects. An object's children (owner references) lie in its own
//!   namespace, unless it is cluster-scoped: then, as when more than [`NAMESPACES_MAX`]
//!   namespaces or [`ROUNDS_MAX`] rounds would be needed, every kind is listed everywhere.
//! - A missing object is shown with every object that refers to it: those lie in its namespace,
//!   or anywhere for a cluster-scoped one (listed everywhere, as above).

use kubectl_flux_graph::graph::Graph;
use kubectl_flux_model::ObjectRef;
use kubectl_flux_model::kinds::{self, CORE_KINDS, FLUX_KINDS, KindInfo};
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

/// The first round: every Flux kind, the cluster-scoped kinds, Helm storage Secrets, and the
/// namespaced kinds in `namespace` (the target's, when `-n` names it).
pub fn first_wants(namespace: Option<&str>) -> Vec<Want> {
    let secret = kinds::find("", "Secret").expect("Secret is a known kind");
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    wants.extend(kube_kinds(false).map(Want::all));
    wants.push(Want::labelled(secret, "owner=helm"));
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

/// The rounds of one answer: which namespaces were asked for, and whether everything was.
#[derive(Debug, Default)]
pub struct Reach {
    asked: BTreeSet<String>,
    everywhere: bool,
    rounds: usize,
}

impl Reach {
    /// Rounds after a first one that read the namespaced kinds in `namespace`, if any.
    pub fn new(namespace: Option<&str>) -> Self {
        Reach { asked: namespace.into_iter().map(str::to_string).collect(), everywhere: false, rounds: 0 }
    }

    /// The lists still needed before the answer for `target` (its kind resolved, its namespace
    /// filled in; `namespaced` as [`kinds`] knows it) is the whole cluster's; empty once every
    /// object it can reach has been read where it lies.
    pub fn more(&mut self, graph: &Graph, target: &ObjectRef, namespaced: Option<bool>) -> Vec<Want> {
        if self.everywhere {
            return Vec::new();
        }
        let mut needed: BTreeSet<&str> = BTreeSet::new();
        let mut everywhere = namespaced != Some(true);
        if !everywhere {
            match graph.find(target) {
                // Flux kinds were read everywhere: an absent one is not found.
                None if kinds::is_flux_group(&target.group) => {}
                None => {
                    needed.insert(&target.namespace);
                }
                Some(node) => {
                    for n in closure(graph, node) {
                        let id = &graph.nodes[n].id;
                        if !id.namespace.is_empty() {
                            needed.insert(&id.namespace);
                        } else if !kinds::is_flux_group(&id.group) {
                            everywhere = true;
                        }
                    }
                }
            }
        }
        needed.retain(|ns| !self.asked.contains(*ns));
        if needed.is_empty() && !everywhere {
            return Vec::new();
        }
        self.rounds += 1;
        if everywhere || self.rounds > ROUNDS_MAX || self.asked.len() + needed.len() > NAMESPACES_MAX {
            self.everywhere = true;
            return kube_kinds(true).map(kube_want).collect();
        }
        let wants = needed.iter().flat_map(|ns| in_namespace(ns)).collect();
        self.asked.extend(needed.into_iter().map(str::to_string));
        wants
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubectl_flux_model::Snapshot;
    use kubectl_flux_source::offline::read_bytes;

    fn graph(text: &str) -> Graph {
        let mut snapshot = Snapshot::new();
        read_bytes("objects.yaml", text.as_bytes(), &mut snapshot).unwrap();
        Graph::build(&snapshot)
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
        let g = graph(APPS);
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
        let g = graph(APPS);
        let target = ObjectRef::new(kinds::KUSTOMIZE_GROUP, "Kustomization", "flux-system", "apps");
        let mut reach = Reach::new(Some("flux-system"));
        let wants = reach.more(&g, &target, Some(true));
        assert_eq!(namespaces(&wants), BTreeSet::from([Some("shop"), Some("sources")]));
        assert!(wants.iter().all(|w| !kinds::is_flux_group(w.kind.group) && w.kind.namespaced));
        assert!(reach.more(&g, &target, Some(true)).is_empty(), "nothing new to ask");
        // A cluster-scoped target's children may lie anywhere: every namespace at once, once.
        let mut reach = Reach::new(None);
        let class = ObjectRef::new("storage.k8s.io", "StorageClass", "", "fast");
        assert_eq!(namespaces(&reach.more(&g, &class, Some(false))), BTreeSet::from([None]));
        assert!(reach.more(&g, &class, Some(false)).is_empty());
        // Too many namespaces: everywhere.
        let mut reach = Reach::new(None);
        reach.asked = (0..NAMESPACES_MAX - 1).map(|i| format!("ns-{i}")).collect();
        assert_eq!(namespaces(&reach.more(&g, &target, Some(true))), BTreeSet::from([None]));
    }

    #[test]
    fn a_target_not_yet_read_asks_for_its_namespace() {
        let g = graph(APPS);
        let mut reach = Reach::new(None);
        let pod = ObjectRef::new("", "Pod", "blog", "web-1");
        assert_eq!(namespaces(&reach.more(&g, &pod, Some(true))), BTreeSet::from([Some("blog")]));
        // Flux kinds are read everywhere in the first round: an absent one needs no more.
        let absent = ObjectRef::new(kinds::KUSTOMIZE_GROUP, "Kustomization", "blog", "nope");
        assert!(reach.more(&g, &absent, Some(true)).is_empty());
    }
}
