//! Printing a lineage: tree, flat table, tsv, names, dot, mermaid, and the JSON document.

use crate::node::{NodeInfo, node_ref};
use crate::traverse::{Direction, Line};
use kubectl_flux_graph::graph::Graph;
use kubectl_flux_graph::health::State;
use kubectl_flux_output::color::Palette;
use kubectl_flux_output::table::Table;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// A computed lineage: the target, each section's tree lines, node details.
pub struct Lineage<'g> {
    /// The graph.
    pub graph: &'g Graph,
    /// Target node.
    pub target: usize,
    /// Sections in print order, each with its lines.
    pub sections: Vec<(Direction, Vec<Line>)>,
    /// Details of every node that appears.
    pub info: BTreeMap<usize, NodeInfo>,
    /// "now", for ages.
    pub now: chrono::DateTime<chrono::Utc>,
    /// Notes about what the snapshot lacks.
    pub notes: Vec<String>,
}

impl Lineage<'_> {
    /// Every node that appears, target first, in tree order, once.
    pub fn nodes(&self) -> Vec<(usize, &'static str, usize)> {
        let mut seen = BTreeSet::from([self.target]);
        let mut out = vec![(self.target, "target", 0)];
        for (dir, lines) in &self.sections {
            for l in lines {
                if seen.insert(l.node) {
                    out.push((l.node, dir.word(), l.depth));
                }
            }
        }
        out
    }

    fn age(&self, info: &NodeInfo) -> String {
        info.last_success.map(|t| kubectl_flux_model::time::age(self.now, t)).unwrap_or_else(|| "-".to_string())
    }

    fn warning(&self, info: &NodeInfo) -> String {
        match &info.warning {
            Some(w) => {
                let age = w.last.map(|t| kubectl_flux_model::time::age(self.now, t)).unwrap_or_default();
                let count = if w.count > 1 { format!(" x{}", w.count) } else { String::new() };
                format!("{}{count} ({age} ago)", w.reason)
            }
            None => "-".to_string(),
        }
    }

    fn revision(info: &NodeInfo) -> String {
        match (&info.revisions.applied, &info.revisions.attempted) {
            (Some(a), Some(b)) if a != b => format!("{} (attempted {})", short_rev(a), short_rev(b)),
            (Some(a), _) => short_rev(a),
            (None, Some(b)) => format!("(attempted {})", short_rev(b)),
            (None, None) => "-".to_string(),
        }
    }

    fn status_cells(&self, info: &NodeInfo, palette: Palette, wide: bool) -> Vec<String> {
        let state = format!("{:?}", info.state);
        let mut cells = vec![palette.state(info.state, &state), info.reason.clone(), self.age(info)];
        if wide {
            cells.push(if info.suspended { "True".into() } else { "False".into() });
            cells.push(Self::revision(info));
            cells.push(self.warning(info));
        }
        cells
    }

    /// The tree: target, then one block per section with tree glyphs.
    pub fn write_tree(&self, out: &mut dyn Write, palette: Palette, wide: bool, headers: bool) -> std::io::Result<()> {
        let mut table =
            Table::new(&["OBJECT", "STATUS", "REASON", "LAST SUCCESS", "SUSPENDED+", "REVISION+", "WARNING+"]);
        let blank = |n: usize| vec![String::new(); n];
        let target = &self.info[&self.target];
        let mut row = vec![palette.bold(&target.id.to_string())];
        row.extend(self.status_cells(target, palette, true));
        table.row(row);
        for (dir, lines) in &self.sections {
            if lines.is_empty() {
                continue;
            }
            let title = match dir {
                Direction::Upstream => "upstream (what it waits for, who manages it)",
                Direction::Downstream => "downstream (what it holds and uses)",
                Direction::UsedBy => "used by (what breaks when it breaks)",
            };
            let mut row = vec![palette.dim(title)];
            row.extend(blank(6));
            table.row(row);
            for l in lines {
                let info = &self.info[&l.node];
                let mut prefix = String::new();
                for &ancestor_last in &l.trail {
                    prefix.push_str(if ancestor_last { "   " } else { "│  " });
                }
                prefix.push_str(if l.last { "└─ " } else { "├─ " });
                let seen = if l.repeated { " (see above)" } else { "" };
                let name = format!("{prefix}{}: {}{seen}", palette.dim(&l.words()), info.id);
                let mut row = vec![name];
                row.extend(self.status_cells(info, palette, true));
                table.row(row);
            }
        }
        table.write(out, wide, headers)
    }

    /// Every node as one row: direction, depth, identity and status.
    pub fn flat_table(&self, palette: Palette) -> Table {
        let mut table = Table::new(&[
            "DIRECTION",
            "DEPTH",
            "KIND",
            "NAMESPACE",
            "NAME",
            "STATUS",
            "REASON",
            "LAST SUCCESS",
            "SUSPENDED+",
            "REVISION+",
            "WARNING+",
        ]);
        for (node, dir, depth) in self.nodes() {
            let info = &self.info[&node];
            let mut row = vec![
                dir.to_string(),
                depth.to_string(),
                info.id.kind.to_string(),
                if info.id.namespace.is_empty() { "-".into() } else { info.id.namespace.to_string() },
                info.id.name.to_string(),
            ];
            row.extend(self.status_cells(info, palette, true));
            table.row(row);
        }
        table
    }

    /// A flat table of every node.
    pub fn write_table(&self, out: &mut dyn Write, palette: Palette, wide: bool, headers: bool) -> std::io::Result<()> {
        self.flat_table(palette).write(out, wide, headers)
    }

    /// Tab-separated rows, every column, no header.
    pub fn write_tsv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.flat_table(Palette::plain()).write_tsv(out)
    }

    /// `kind.group/name` per node, like `kubectl get -o name`.
    pub fn kubectl_names(&self) -> Vec<String> {
        self.nodes().into_iter().map(|(node, _, _)| kubectl_name(&self.info[&node])).collect()
    }

    /// [`Lineage::kubectl_names`], one per line.
    pub fn write_names(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.kubectl_names().iter().try_for_each(|name| writeln!(out, "{name}"))
    }

    fn edges(&self) -> Vec<(usize, usize, &'static str)> {
        let included: BTreeSet<usize> = self.nodes().into_iter().map(|(n, _, _)| n).collect();
        let mut out: Vec<(usize, usize, &'static str)> = self
            .graph
            .edges
            .iter()
            .filter(|e| included.contains(&e.from) && included.contains(&e.to))
            .map(|e| (e.from, e.to, e.relation.label()))
            .collect();
        out.dedup();
        out
    }

    /// Stable node names for dot and mermaid: the position in [`Lineage::nodes`].
    fn names(&self) -> BTreeMap<usize, String> {
        self.nodes().into_iter().enumerate().map(|(i, (node, _, _))| (node, format!("n{i}"))).collect()
    }

    /// Graphviz dot.
    pub fn write_dot(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let names = self.names();
        writeln!(out, "digraph lineage {{")?;
        writeln!(out, "  rankdir=LR;")?;
        writeln!(out, "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];")?;
        for (node, _, _) in self.nodes() {
            let info = &self.info[&node];
            let (fill, style) = match info.state {
                State::Ready => ("#d4edda", "rounded,filled"),
                State::Failed => ("#f8d7da", "rounded,filled"),
                State::Missing => ("#f8d7da", "rounded,filled,dashed"),
                State::Progressing => ("#fff3cd", "rounded,filled"),
                State::Suspended => ("#d6e4f0", "rounded,filled"),
                State::Unknown => ("#e2e3e5", "rounded,filled"),
            };
            let pen = if node == self.target { ", penwidth=3" } else { "" };
            let label = format!("{}\\n{}\\n{:?}: {}", info.id.kind, info.id.namespaced_name(), info.state, info.reason);
            writeln!(
                out,
                "  {} [label=\"{}\", fillcolor=\"{fill}\", style=\"{style}\"{pen}];",
                names[&node],
                dot_escape(&label)
            )?;
        }
        for (from, to, label) in self.edges() {
            writeln!(out, "  {} -> {} [label=\"{label}\"];", names[&from], names[&to])?;
        }
        writeln!(out, "}}")
    }

    /// Mermaid flowchart.
    pub fn write_mermaid(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let names = self.names();
        writeln!(out, "flowchart LR")?;
        for (node, _, _) in self.nodes() {
            let info = &self.info[&node];
            let label =
                format!("{}<br/>{}<br/>{:?}: {}", info.id.kind, info.id.namespaced_name(), info.state, info.reason);
            writeln!(
                out,
                "  {}[\"{}\"]:::{}",
                names[&node],
                label.replace('"', "#quot;"),
                format!("{:?}", info.state).to_lowercase()
            )?;
        }
        for (from, to, label) in self.edges() {
            writeln!(out, "  {} -->|{label}| {}", names[&from], names[&to])?;
        }
        for (class, style) in [
            ("ready", "fill:#d4edda,stroke:#28a745"),
            ("failed", "fill:#f8d7da,stroke:#dc3545"),
            ("missing", "fill:#f8d7da,stroke:#dc3545,stroke-dasharray: 5 5"),
            ("progressing", "fill:#fff3cd,stroke:#ffc107"),
            ("suspended", "fill:#d6e4f0,stroke:#007bff"),
            ("unknown", "fill:#e2e3e5,stroke:#6c757d"),
        ] {
            writeln!(out, "  classDef {class} {style}")?;
        }
        Ok(())
    }

    /// The JSON document (kind `Lineage`).
    pub fn to_json(&self) -> Value {
        let nodes: Vec<Value> = self
            .nodes()
            .into_iter()
            .map(|(node, dir, depth)| {
                let mut v = self.info[&node].to_json();
                v["direction"] = json!(dir);
                v["depth"] = json!(depth);
                v
            })
            .collect();
        let edges: Vec<Value> = self
            .edges()
            .into_iter()
            .map(|(from, to, relation)| {
                json!({"from": node_ref(&self.graph.nodes[from].id), "to": node_ref(&self.graph.nodes[to].id), "relation": relation})
            })
            .collect();
        let mut fields = serde_json::Map::new();
        fields.insert("target".into(), json!(node_ref(&self.graph.nodes[self.target].id)));
        fields.insert("nodes".into(), Value::Array(nodes));
        fields.insert("edges".into(), Value::Array(edges));
        fields.insert("notes".into(), json!(self.notes));
        kubectl_flux_output::envelope("Lineage", fields)
    }
}

/// `kubectl get -o name` form: `kustomization.kustomize.toolkit.fluxcd.io/userapp`.
pub fn kubectl_name(info: &NodeInfo) -> String {
    let kind = info.id.kind.to_ascii_lowercase();
    if info.id.group.is_empty() {
        format!("{kind}/{}", info.id.name)
    } else {
        format!("{kind}.{}/{}", info.id.group, info.id.name)
    }
}

/// Shortens `main@sha1:0123456789abcdef...` to `main@sha1:0123456`.
pub fn short_rev(rev: &str) -> String {
    match rev.split_once(':') {
        Some((head, digest)) if digest.len() > 12 && digest.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{head}:{}", &digest[..7])
        }
        _ => rev.to_string(),
    }
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace("\\\\n", "\\n").replace('"', "\\\"")
}
