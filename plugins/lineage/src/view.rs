//! What an answer shows, decided from the relationship graph before any Event is read: the
//! cycles, the root-cause chains or the tree sections, and so the namespaces whose Events the
//! answer needs.

use crate::cycles::{self, Cycle};
use crate::traverse::{self, Direction, Line};
use crate::why::{self, Chain};
use kubectl_flux_graph::graph::Graph;
use kubectl_flux_source::Want;
use std::collections::BTreeSet;

/// Above this many namespaces, Events are listed in one cluster-wide request rather than one
/// request per namespace: the number of requests stays constant whatever the answer's size.
pub const EVENT_NAMESPACES_MAX: usize = 8;

/// The answer's content, by node index into the graph.
#[derive(Debug)]
pub enum View {
    /// `--cycles`: every deadlock cycle (through a selected object, with `-l`).
    Cycles(Vec<Cycle>),
    /// `--why`: the root-cause chains of the target and the cycles it can reach.
    Why {
        /// The target node.
        target: usize,
        /// Root-cause chains, most telling first.
        chains: Vec<Chain>,
        /// Cycles through a node of the chains.
        cycles: Vec<Cycle>,
    },
    /// The lineage tree: one section per direction.
    Tree {
        /// The target node.
        target: usize,
        /// Lines of each section.
        sections: Vec<(Direction, Vec<Line>)>,
    },
}

impl View {
    /// The `--why` answer for `target`: its chains, and the cycles any node of them is on.
    pub fn why(graph: &Graph, target: usize) -> View {
        let chains = why::chains(graph, target);
        let reachable: std::collections::BTreeSet<usize> =
            chains.iter().flat_map(|c| c.hops.iter().map(|h| h.node)).chain([target]).collect();
        let cycles = cycles::through(graph, &reachable.into_iter().collect::<Vec<_>>());
        View::Why { target, chains, cycles }
    }

    /// The tree around `target` in the given directions, to `depth` levels.
    pub fn tree(graph: &Graph, target: usize, directions: Vec<Direction>, depth: Option<usize>) -> View {
        let sections = directions.into_iter().map(|d| (d, traverse::tree(graph, target, d, depth))).collect();
        View::Tree { target, sections }
    }

    /// Every node the answer shows.
    pub fn nodes(&self) -> BTreeSet<usize> {
        let steps = |cycles: &[Cycle]| -> Vec<usize> {
            cycles.iter().flat_map(|c| c.steps.iter().flat_map(|s| [s.from, s.to])).collect()
        };
        match self {
            View::Cycles(cycles) => steps(cycles).into_iter().collect(),
            View::Why { target, chains, cycles } => chains
                .iter()
                .flat_map(|c| c.hops.iter().map(|h| h.node))
                .chain(steps(cycles))
                .chain([*target])
                .collect(),
            View::Tree { target, sections } => {
                sections.iter().flat_map(|(_, lines)| lines.iter().map(|l| l.node)).chain([*target]).collect()
            }
        }
    }

    /// The Event lists the answer needs: one per namespace of its nodes, or one cluster-wide
    /// list above [`EVENT_NAMESPACES_MAX`] namespaces. Events about a cluster-scoped object are
    /// recorded in `default` (client-go's `tools/record` and `tools/events` recorders put them
    /// there when the object has no namespace).
    pub fn event_wants(&self, graph: &Graph) -> Vec<Want> {
        let event = Want::events();
        let namespaces: BTreeSet<&str> = self
            .nodes()
            .into_iter()
            .map(|n| graph.nodes[n].id.namespace.as_str())
            .map(|ns| if ns.is_empty() { "default" } else { ns })
            .collect();
        if namespaces.len() > EVENT_NAMESPACES_MAX {
            return vec![event];
        }
        namespaces.into_iter().map(|ns| event.clone().in_namespace(ns)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubectl_flux_model::{ObjectRef, Snapshot};
    use kubectl_flux_source::offline::read_bytes;

    /// A Kustomization in flux-system applying a ConfigMap in each of `namespaces` and a
    /// cluster-scoped StorageClass.
    fn graph(namespaces: &[&str]) -> (Graph, usize) {
        let mut entries: Vec<String> =
            namespaces.iter().map(|ns| format!("    - id: {ns}_settings__ConfigMap\n      v: v1\n")).collect();
        entries.push("    - id: _fast_storage.k8s.io_StorageClass\n      v: v1\n".to_string());
        let text = format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\nstatus:\n  inventory:\n    entries:\n{}",
            entries.concat()
        );
        let mut snapshot = Snapshot::new();
        read_bytes("apps.yaml", text.as_bytes(), &mut snapshot).unwrap();
        let graph = Graph::build(&snapshot);
        let target =
            graph.find(&ObjectRef::new("kustomize.toolkit.fluxcd.io", "Kustomization", "flux-system", "apps")).unwrap();
        (graph, target)
    }

    fn namespaces(wants: &[Want]) -> Vec<Option<&str>> {
        wants.iter().map(|w| w.namespace.as_deref()).collect()
    }

    #[test]
    fn events_are_listed_in_the_namespaces_the_answer_shows() {
        let (g, target) = graph(&["apps", "shop"]);
        let plan = View::tree(&g, target, vec![Direction::Downstream], None);
        let wants = plan.event_wants(&g);
        assert!(wants.iter().all(|w| w.kind.kind == "Event" && w.label_selector.is_none()));
        // The StorageClass is cluster-scoped: its Events are in default.
        assert_eq!(namespaces(&wants), [Some("apps"), Some("default"), Some("flux-system"), Some("shop")]);
        // Upstream only: the Kustomization and its GitRepository, both in flux-system.
        let plan = View::tree(&g, target, vec![Direction::Upstream], None);
        assert_eq!(namespaces(&plan.event_wants(&g)), [Some("flux-system")]);
    }

    #[test]
    fn above_the_cap_events_are_listed_once_cluster_wide() {
        let many: Vec<String> = (0..EVENT_NAMESPACES_MAX).map(|i| format!("ns-{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let (g, target) = graph(&many);
        let wants = View::tree(&g, target, vec![Direction::Downstream], None).event_wants(&g);
        assert_eq!(namespaces(&wants), [None], "{} namespaces plus default and flux-system", many.len());
        let (g, target) = graph(&many[..EVENT_NAMESPACES_MAX - 2]);
        let wants = View::tree(&g, target, vec![Direction::Downstream], None).event_wants(&g);
        assert_eq!(wants.len(), EVENT_NAMESPACES_MAX, "at the cap, one list per namespace");
    }
}
