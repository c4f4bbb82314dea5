//! `--why`: from the target along waits-for edges to the deepest failing or missing objects,
//! each root cause with the shortest chain that leads to it.

use kubectl_flux_graph::graph::{Graph, Relation};
use std::collections::{HashMap, VecDeque};

/// A hop of a waits-for chain: the node waited for and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// The node.
    pub node: usize,
    /// The relation from the previous node, `None` for the target.
    pub relation: Option<Relation>,
    /// True when the previous node waits for this one to produce it (it is missing).
    pub produced_by: bool,
}

/// One root-cause chain: the target first, the root cause last.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The hops.
    pub hops: Vec<Hop>,
}

impl Chain {
    /// The root cause.
    pub fn root(&self) -> usize {
        self.hops[self.hops.len() - 1].node
    }
}

/// What a node waits for: its waits-for edges, plus, when it is missing, whoever would produce it.
pub fn waits_for(g: &Graph, node: usize) -> Vec<(usize, Relation, bool)> {
    let mut out: Vec<(usize, Relation, bool)> =
        g.outgoing(node).filter(|e| e.waits(g).is_some()).map(|e| (e.to, e.relation, false)).collect();
    if !g.nodes[node].exists {
        out.extend(g.incoming(node).filter(|e| e.relation.produces()).map(|e| (e.from, e.relation, true)));
    }
    out
}

/// The root-cause chains of a target, most telling first: missing objects, then the longest
/// chains, then by name.
pub fn chains(g: &Graph, target: usize) -> Vec<Chain> {
    let problem = |n: usize| g.nodes[n].health.state.is_problem();
    let mut parent: HashMap<usize, Hop> = HashMap::new();
    let mut prev: HashMap<usize, usize> = HashMap::new();
    parent.insert(target, Hop { node: target, relation: None, produced_by: false });
    let mut queue = VecDeque::from([target]);
    let mut roots = Vec::new();
    while let Some(u) = queue.pop_front() {
        let deps = waits_for(g, u);
        let failing: Vec<_> = deps.iter().filter(|(v, _, _)| problem(*v)).collect();
        if failing.is_empty() && problem(u) {
            roots.push(u);
        }
        for &&(v, relation, produced_by) in &failing {
            if let std::collections::hash_map::Entry::Vacant(slot) = parent.entry(v) {
                slot.insert(Hop { node: v, relation: Some(relation), produced_by });
                prev.insert(v, u);
                queue.push_back(v);
            }
        }
    }
    let mut out: Vec<Chain> = roots
        .into_iter()
        .map(|r| {
            let mut hops = vec![parent[&r]];
            let mut n = r;
            while let Some(&p) = prev.get(&n) {
                hops.push(parent[&p]);
                n = p;
            }
            hops.reverse();
            Chain { hops }
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |c: &Chain| (g.nodes[c.root()].exists, std::cmp::Reverse(c.hops.len()), g.nodes[c.root()].id.clone());
        key(a).cmp(&key(b))
    });
    out
}
