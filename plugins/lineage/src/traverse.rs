//! Walking the graph from the target: upstream (what it waits for, who manages or owns it) and
//! downstream (what it produces or owns, who uses it), as a tree with each node expanded once.

use kubectl_flux_graph::graph::{Category, Graph, Relation};

/// The sections of a lineage tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What the target needs (sources, dependencies, values) and who holds it (the
    /// Kustomization or HelmRelease that applied it, its owners), transitively.
    Upstream,
    /// What the target holds (inventory, Helm objects, owned objects) and uses (PVCs, volumes,
    /// storage classes, health-checked objects), transitively.
    Downstream,
    /// Who needs or uses the target, and who needs those: what breaks when it breaks.
    UsedBy,
}

impl Direction {
    /// `upstream`, `downstream` or `usedBy`.
    pub fn word(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
            Direction::UsedBy => "usedBy",
        }
    }
}

/// How a child hangs from its parent: the relation and whether the edge runs parent -> child
/// (forward) or child -> parent (reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The relation.
    pub relation: Relation,
    /// True when the edge is child -> parent (the child holds or needs the parent).
    pub reverse: bool,
}

impl Link {
    /// Words for a tree line: `sourceRef`, `applied by`, `owned by`, `source of`.
    pub fn words(self) -> &'static str {
        use Relation::*;
        if !self.reverse {
            return self.relation.label();
        }
        match self.relation {
            Inventory => "applied by",
            HelmManifest => "installed by",
            ManagedLabel => "labelled by",
            Owns => "owned by",
            ClaimTemplate => "claimed by",
            MountsClaim | MountsConfig => "mounted by",
            BoundVolume => "bound by",
            StorageClass => "class of",
            HealthCheck => "health-checked by",
            SourceRef => "source of",
            ChartRef | HelmChart => "chart of",
            DependsOn => "dependency of",
            ValuesFrom => "values of",
            SubstituteFrom => "substitutions of",
            ServiceAccount => "account of",
            SecretRef => "secret of",
            ProviderRef => "provider of",
        }
    }
}

impl Line {
    /// The relations in words, joined: `inventory, healthCheck`.
    pub fn words(&self) -> String {
        self.links.iter().map(|l| l.words()).collect::<Vec<_>>().join(", ")
    }
}

/// One line of the tree.
#[derive(Debug, Clone)]
pub struct Line {
    /// Node index.
    pub node: usize,
    /// Depth below the target (1 = direct neighbour).
    pub depth: usize,
    /// How it hangs from its parent (every relation between them, most telling first).
    pub links: Vec<Link>,
    /// Parent node index.
    pub parent: usize,
    /// Whether this node was already expanded earlier in the tree.
    pub repeated: bool,
    /// Whether this is the last child of its parent (for tree glyphs).
    pub last: bool,
    /// For each ancestor level, whether that ancestor was a last child (for tree glyphs).
    pub trail: Vec<bool>,
}

/// The neighbours of a node in one direction, each with every link that joins them (a
/// Kustomization may both apply and health-check a StatefulSet), sorted for stable output.
pub fn neighbours(g: &Graph, node: usize, dir: Direction) -> Vec<(usize, Vec<Link>)> {
    let (forward, reverse): (&[Category], &[Category]) = match dir {
        Direction::Upstream => (&[Category::Needs], &[Category::Holds]),
        Direction::Downstream => (&[Category::Holds, Category::Uses], &[]),
        Direction::UsedBy => (&[], &[Category::Needs, Category::Uses]),
    };
    let mut out: Vec<(usize, Link)> = Vec::new();
    for e in g.outgoing(node) {
        if forward.contains(&e.relation.category()) {
            out.push((e.to, Link { relation: e.relation, reverse: false }));
        }
    }
    for e in g.incoming(node) {
        if reverse.contains(&e.relation.category()) {
            out.push((e.from, Link { relation: e.relation, reverse: true }));
        }
    }
    out.sort_by(|a, b| {
        (&g.nodes[a.0].id, a.1.reverse, a.1.relation).cmp(&(&g.nodes[b.0].id, b.1.reverse, b.1.relation))
    });
    let mut merged: Vec<(usize, Vec<Link>)> = Vec::new();
    for (node, link) in out {
        match merged.last_mut() {
            Some((last, links)) if *last == node => links.push(link),
            _ => merged.push((node, vec![link])),
        }
    }
    merged.sort_by(|a, b| {
        (a.1[0].reverse, a.1[0].relation, &g.nodes[a.0].id).cmp(&(b.1[0].reverse, b.1[0].relation, &g.nodes[b.0].id))
    });
    merged
}

/// The tree in one direction from `root`, depth-first, each node expanded once.
pub fn tree(g: &Graph, root: usize, dir: Direction, max_depth: Option<usize>) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut expanded = std::collections::HashSet::from([root]);
    walk(g, root, dir, 1, max_depth, &mut Vec::new(), &mut expanded, &mut lines);
    lines
}

#[allow(clippy::too_many_arguments)]
fn walk(
    g: &Graph,
    node: usize,
    dir: Direction,
    depth: usize,
    max_depth: Option<usize>,
    trail: &mut Vec<bool>,
    expanded: &mut std::collections::HashSet<usize>,
    lines: &mut Vec<Line>,
) {
    if max_depth.is_some_and(|m| depth > m) {
        return;
    }
    let children = neighbours(g, node, dir);
    let count = children.len();
    for (i, (child, links)) in children.into_iter().enumerate() {
        let last = i + 1 == count;
        let repeated = !expanded.insert(child);
        lines.push(Line { node: child, depth, links, parent: node, repeated, last, trail: trail.clone() });
        if !repeated {
            trail.push(last);
            walk(g, child, dir, depth + 1, max_depth, trail, expanded, lines);
            trail.pop();
        }
    }
}
