//! `--cycles`: every loop of waits-for edges across kinds.
//!
//! Each object has two phases: it exists (a Flux object: it has applied) and it is ready.
//! A Kustomization applies once its source is ready, its dependsOn are ready and its
//! substituteFrom objects exist; it is ready once it applied and its health checks (or, with
//! `wait: true`, everything it applied) are ready. A HelmRelease installs once its chart source
//! is ready and its valuesFrom objects exist, and is ready once its objects are (helm waits by
//! default). An object that a Kustomization or HelmRelease applies cannot exist before its
//! producer applied. Cycles are found on these phase vertices (Tarjan), so a Kustomization that
//! health-checks what it applies is no cycle, while HelmRelease -> valuesFrom ConfigMap ->
//! produced by Kustomization -> dependsOn Kustomization -> healthCheck HelmRelease is one.

use kubectl_flux_graph::graph::{Graph, Phase, Relation};
use std::collections::{BTreeSet, HashMap};

/// One edge of a cycle between two objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Step {
    /// The object that waits.
    pub from: usize,
    /// The object waited for.
    pub to: usize,
    /// Why.
    pub relation: Relation,
    /// True for "from cannot exist until to applies it" (the reverse of a holds edge).
    pub produced_by: bool,
}

/// A cycle: steps in order, the last one closing the loop back to the first object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The steps.
    pub steps: Vec<Step>,
}

/// Enumerated cycles per strongly connected component at most.
const MAX_CYCLES_PER_COMPONENT: usize = 32;
/// Search steps per component at most (the enumeration is exponential in the worst case).
const MAX_STEPS_PER_COMPONENT: usize = 200_000;

fn vertex(node: usize, phase: Phase) -> usize {
    node * 2 + usize::from(phase == Phase::Ready)
}

/// Every cycle in the graph, deduplicated, in a stable order.
pub fn find(g: &Graph) -> Vec<Cycle> {
    search(g, None)
}

/// The cycles through any of `nodes`, as [`find`] gives them: only what the nodes lead to is
/// searched, since a cycle through a node lies within what that node reaches.
pub fn through(g: &Graph, nodes: &[usize]) -> Vec<Cycle> {
    let starts: Vec<usize> = nodes.iter().flat_map(|&n| [vertex(n, Phase::Exists), vertex(n, Phase::Ready)]).collect();
    let mut cycles = search(g, Some(&starts));
    let wanted: std::collections::HashSet<usize> = nodes.iter().copied().collect();
    cycles.retain(|c| c.steps.iter().any(|s| wanted.contains(&s.from)));
    cycles
}

/// The cycles among the vertices reachable from `starts` (every vertex without them).
fn search(g: &Graph, starts: Option<&[usize]>) -> Vec<Cycle> {
    let n = g.nodes.len() * 2;
    let mut adj: Vec<Vec<(usize, Option<Step>)>> = vec![Vec::new(); n];
    for node in 0..g.nodes.len() {
        adj[vertex(node, Phase::Ready)].push((vertex(node, Phase::Exists), None));
    }
    for e in &g.edges {
        if let Some((pf, pt)) = e.waits(g) {
            let step = Step { from: e.from, to: e.to, relation: e.relation, produced_by: false };
            adj[vertex(e.from, pf)].push((vertex(e.to, pt), Some(step)));
        }
        if e.relation.produces() {
            let step = Step { from: e.to, to: e.from, relation: e.relation, produced_by: true };
            adj[vertex(e.to, Phase::Exists)].push((vertex(e.from, Phase::Exists), Some(step)));
        }
    }
    let mut seen = BTreeSet::new();
    let mut cycles = Vec::new();
    let all: Vec<usize>;
    let roots = match starts {
        Some(starts) => starts,
        None => {
            all = (0..n).collect();
            &all
        }
    };
    for component in strongly_connected(&adj, roots) {
        if component.len() < 2 {
            continue;
        }
        for raw in enumerate(&adj, &component) {
            let steps: Vec<Step> = raw.into_iter().flatten().collect();
            if steps.is_empty() || !blocks(g, &steps) {
                continue;
            }
            let cycle = canonical(g, steps);
            if seen.insert(cycle.steps.clone()) {
                cycles.push(cycle);
            }
        }
    }
    cycles.sort_by(|a, b| {
        let key = |c: &Cycle| c.steps.iter().map(|s| g.nodes[s.from].id.clone()).collect::<Vec<_>>();
        key(a).cmp(&key(b))
    });
    cycles
}

/// A loop that closes only through "produced by" edges among objects that are all fine is a
/// bootstrap (a Kustomization applying its own source), not a deadlock.
fn blocks(g: &Graph, steps: &[Step]) -> bool {
    let produced = steps.iter().any(|s| s.produced_by);
    !produced || steps.iter().any(|s| g.nodes[s.from].health.state.is_problem())
}

/// Rotates a cycle to start at its first Flux object (by kind, namespace, name), so the closing
/// edge is the one back to it.
fn canonical(g: &Graph, steps: Vec<Step>) -> Cycle {
    let key = |s: &Step| {
        let id = &g.nodes[s.from].id;
        (!kubectl_flux_model::kinds::is_flux_group(&id.group), id.clone())
    };
    let start = (0..steps.len()).min_by_key(|&i| key(&steps[i])).unwrap_or(0);
    let mut rotated = steps[start..].to_vec();
    rotated.extend_from_slice(&steps[..start]);
    Cycle { steps: rotated }
}

/// Tarjan's strongly connected components of what `roots` reach, iterative (graphs of
/// 100,000+ vertices). Each component is whole: every vertex of it is reached from its first.
fn strongly_connected(adj: &[Vec<(usize, Option<Step>)>], roots: &[usize]) -> Vec<Vec<usize>> {
    let n = adj.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for &root in roots {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if *i == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if *i < adj[v].len() {
                let w = adj[v][*i].0;
                *i += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                component.sort_unstable();
                out.push(component);
            }
        }
    }
    out
}

/// Simple cycles within one component, bounded in count and search steps: for each start vertex,
/// a depth-first search through higher vertices back to the start.
fn enumerate(adj: &[Vec<(usize, Option<Step>)>], component: &[usize]) -> Vec<Vec<Option<Step>>> {
    let position: HashMap<usize, usize> = component.iter().enumerate().map(|(i, &v)| (v, i)).collect();
    let mut cycles = Vec::new();
    let mut steps = 0;
    for (si, &start) in component.iter().enumerate() {
        let mut path: Vec<Option<Step>> = Vec::new();
        let mut on_path = vec![false; component.len()];
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        on_path[si] = true;
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            steps += 1;
            if steps > MAX_STEPS_PER_COMPONENT || cycles.len() >= MAX_CYCLES_PER_COMPONENT {
                return cycles;
            }
            if *i >= adj[v].len() {
                work.pop();
                on_path[position[&v]] = false;
                path.pop();
                continue;
            }
            let (w, step) = adj[v][*i];
            *i += 1;
            let Some(&wi) = position.get(&w) else { continue };
            if w == start {
                let mut cycle = path.clone();
                cycle.push(step);
                cycles.push(cycle);
            } else if wi > si && !on_path[wi] {
                on_path[wi] = true;
                path.push(step);
                work.push((w, 0));
            }
        }
    }
    cycles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_through_a_node_are_those_of_the_whole_search_that_pass_it() {
        let path = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/cycle.yaml"));
        let snapshot = kubectl_flux_source::offline::read_paths(&[path]).unwrap();
        let g = Graph::build(&snapshot);
        let all = find(&g);
        assert_eq!(all.len(), 2, "the example holds two loops");
        let mut on_a_cycle = 0;
        for node in 0..g.nodes.len() {
            let expected: Vec<&Cycle> = all.iter().filter(|c| c.steps.iter().any(|s| s.from == node)).collect();
            on_a_cycle += usize::from(!expected.is_empty());
            assert_eq!(through(&g, &[node]).iter().collect::<Vec<_>>(), expected, "{}", g.nodes[node].id);
        }
        assert!(on_a_cycle >= 4, "only {on_a_cycle} nodes on a cycle");
        let both: Vec<usize> = all.iter().map(|c| c.steps[0].from).collect();
        assert_eq!(through(&g, &both), all);
    }
}
