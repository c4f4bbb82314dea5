//! Printing `--why` (root-cause chains and evidence) and `--cycles` (loops and how to break them).

use crate::cycles::{Cycle, Step};
use crate::node::{NodeInfo, node_ref, rfc3339};
use crate::why::Chain;
use kubectl_flux_graph::flux;
use kubectl_flux_graph::graph::{Graph, Relation};
use kubectl_flux_model::event::Event;
use kubectl_flux_model::kinds;
use kubectl_flux_model::{ObjectRef, Snapshot};
use kubectl_flux_output::color::Palette;
use kubectl_flux_output::table::Table;
use serde_json::{Value, json};
use std::io::Write;

/// Chains that differ only in their root, where the roots are siblings of one kind failing the
/// same way (the Pods of one ReplicaSet crash-looping), grouped so they print as one line.
pub fn group_chains<'c>(g: &Graph, chains: &'c [Chain]) -> Vec<Vec<&'c Chain>> {
    let mut groups: Vec<Vec<&Chain>> = Vec::new();
    for chain in chains {
        let key = |c: &Chain| {
            let root = &g.nodes[c.root()];
            let prefix: Vec<usize> = c.hops[..c.hops.len() - 1].iter().map(|h| h.node).collect();
            (prefix, root.id.kind.clone(), root.health.state, root.health.reason.clone())
        };
        match groups.iter_mut().find(|grp| key(grp[0]) == key(chain)) {
            Some(grp) => grp.push(chain),
            None => groups.push(vec![chain]),
        }
    }
    groups
}

/// How many warning events are shown per object as evidence.
const EVIDENCE_EVENTS: usize = 3;

/// Context shared by both reports.
pub struct Report<'a> {
    /// The graph.
    pub graph: &'a Graph,
    /// The snapshot (for conditions and events).
    pub snapshot: &'a Snapshot,
    /// "now".
    pub now: chrono::DateTime<chrono::Utc>,
    /// Colours.
    pub palette: Palette,
}

impl Report<'_> {
    fn info(&self, node: usize) -> NodeInfo {
        NodeInfo::of(self.snapshot, &self.graph.nodes[node])
    }

    fn painted_summary(&self, node: usize) -> String {
        let info = self.info(node);
        self.palette.state(info.state, &info.summary())
    }

    /// One line per chain: `A not ready <- B 0/1 ready <- C NotFound`.
    pub fn write_chains(
        &self,
        out: &mut dyn Write,
        target: usize,
        chains: &[Chain],
        cycles: &[Cycle],
    ) -> std::io::Result<()> {
        let target_info = self.info(target);
        if chains.is_empty() && cycles.is_empty() {
            let text = if target_info.state.is_problem() {
                format!("{}; nothing it waits for is failing", target_info.summary())
            } else {
                format!("{} is {:?}; nothing it waits for is failing", target_info.id, target_info.state)
            };
            writeln!(out, "{}", self.palette.state(target_info.state, &text))?;
            return Ok(());
        }
        if !chains.is_empty() {
            writeln!(out, "{}", self.palette.bold("Root cause:"))?;
        }
        for group in group_chains(self.graph, chains) {
            let chain = group[0];
            let mut parts: Vec<String> =
                chain.hops[..chain.hops.len() - 1].iter().map(|h| self.painted_summary(h.node)).collect();
            let root = self.info(chain.root());
            let names: Vec<String> = group.iter().map(|c| self.graph.nodes[c.root()].id.namespaced_name()).collect();
            let what = root.summary().trim_start_matches(&root.id.to_string()).to_string();
            let last = match group.len() {
                1 => root.summary(),
                n => format!("{n} {}s {}{what}", root.id.kind, names.join(", ")),
            };
            parts.push(self.palette.state(root.state, &last));
            writeln!(out, "  {}", parts.join(&self.palette.dim(" <- ")))?;
        }
        if !cycles.is_empty() {
            writeln!(out, "{}", self.palette.bold("Deadlocked in a cycle:"))?;
            for cycle in cycles {
                self.write_cycle_steps(out, cycle)?;
            }
        }
        Ok(())
    }

    /// Evidence for every object on the chains: the Ready condition and the newest warnings.
    pub fn write_evidence(&self, out: &mut dyn Write, nodes: &[usize]) -> std::io::Result<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        writeln!(out)?;
        writeln!(out, "{}", self.palette.bold("Evidence:"))?;
        for &node in nodes {
            let info = self.info(node);
            writeln!(out, "  {}", self.palette.state(info.state, &info.id.to_string()))?;
            for line in self.evidence_lines(node) {
                writeln!(out, "    {line}")?;
            }
        }
        Ok(())
    }

    fn evidence_lines(&self, node: usize) -> Vec<String> {
        let n = &self.graph.nodes[node];
        let mut lines = Vec::new();
        if !n.exists {
            lines.push(match n.health.state {
                kubectl_flux_graph::health::State::Missing => format!("{} does not exist; referenced by:", n.id),
                _ => format!("{} was not read (its kind is not in the snapshot); referenced by:", n.id),
            });
            for e in self.graph.incoming(node) {
                lines.push(format!("  {} ({})", self.graph.nodes[e.from].id, e.relation.label()));
            }
            lines.extend(self.unproduced(node));
        }
        let mut shown: Vec<String> = Vec::new();
        if let Some(obj) = self.snapshot.get(&n.id) {
            for c in flux::conditions(obj) {
                let telling = c.kind == "Ready"
                    || (c.status == "False" && c.kind != "Reconciling")
                    || (c.kind == "Stalled" && c.status == "True");
                if telling && !shown.contains(&c.message) {
                    lines.push(format!("condition {}={} {}: {}", c.kind, c.status, c.reason, c.message));
                    shown.push(c.message);
                }
            }
            if !kubectl_flux_model::kinds::is_flux_group(&n.id.group) {
                lines.push(match n.health.message.as_str() {
                    m if m.is_empty() || shown.iter().any(|s| s == m) => format!("status: {}", n.health.reason),
                    message => format!("status: {}: {message}", n.health.reason),
                });
            }
        }
        for e in self.warnings(&n.id) {
            lines.push(self.event_line(&e));
        }
        lines
    }

    fn warnings(&self, id: &ObjectRef) -> Vec<Event> {
        let mut events: Vec<Event> = self.snapshot.events_for(id).filter(|e| e.is_warning()).cloned().collect();
        events.sort_by(|a, b| b.last.cmp(&a.last).then(a.reason.cmp(&b.reason)));
        events.dedup_by(|a, b| a.reason == b.reason && a.message == b.message);
        events.truncate(EVIDENCE_EVENTS);
        events
    }

    fn event_line(&self, e: &Event) -> String {
        let age = e.last.map(|t| kubectl_flux_model::time::age(self.now, t)).unwrap_or_else(|| "?".into());
        let count = if e.count > 1 { format!(" x{}", e.count) } else { String::new() };
        let source = if e.source.is_empty() { String::new() } else { format!(" from {}", e.source) };
        format!("event Warning {}{count}, {age} ago{source}: {}", e.reason, e.message)
    }

    /// The `RootCause` JSON document.
    pub fn why_json(&self, target: usize, chains: &[Chain], cycles: &[Cycle], notes: &[String]) -> Value {
        let mut involved: Vec<usize> = chains.iter().flat_map(|c| c.hops.iter().map(|h| h.node)).collect();
        involved.extend(cycles.iter().flat_map(|c| c.steps.iter().map(|s| s.from)));
        involved.push(target);
        involved.sort_unstable();
        involved.dedup();
        let chains: Vec<Value> = chains
            .iter()
            .map(|c| {
                json!({
                    "rootCause": node_ref(&self.graph.nodes[c.root()].id),
                    "hops": c.hops.iter().map(|h| json!({
                        "ref": node_ref(&self.graph.nodes[h.node].id),
                        "relation": h.relation.map(Relation::label),
                        "producedBy": h.produced_by,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let nodes: Vec<Value> = involved
            .iter()
            .map(|&n| {
                let mut v = self.info(n).to_json();
                v["evidence"] = json!(self.evidence_json(n));
                v
            })
            .collect();
        let mut fields = serde_json::Map::new();
        fields.insert("target".into(), json!(node_ref(&self.graph.nodes[target].id)));
        fields.insert("chains".into(), Value::Array(chains));
        fields.insert("cycles".into(), Value::Array(cycles.iter().map(|c| self.cycle_json(c)).collect()));
        fields.insert("nodes".into(), Value::Array(nodes));
        fields.insert("notes".into(), json!(notes));
        kubectl_flux_output::envelope("RootCause", fields)
    }

    fn evidence_json(&self, node: usize) -> Value {
        let n = &self.graph.nodes[node];
        let conditions: Vec<Value> = self
            .snapshot
            .get(&n.id)
            .map(|o| {
                flux::conditions(o)
                    .into_iter()
                    .map(|c| json!({"type": c.kind, "status": c.status, "reason": c.reason, "message": c.message, "lastTransitionTime": c.last_transition}))
                    .collect()
            })
            .unwrap_or_default();
        let events: Vec<Value> = self
            .warnings(&n.id)
            .into_iter()
            .map(|e| json!({"type": e.kind, "reason": e.reason, "message": e.message, "count": e.count, "firstSeen": e.first.map(rfc3339), "lastSeen": e.last.map(rfc3339), "source": e.source}))
            .collect();
        let mut evidence = json!({"conditions": conditions, "events": events});
        if let Some(why) = self.unproduced(node) {
            evidence["unproduced"] = json!(why);
        }
        evidence
    }

    /// For a missing ExternalArtifact that no ArtifactGenerator in the snapshot generates, why:
    /// none of them names it, or the cluster does not serve the generator's kind (source-watcher
    /// is not installed), or the generators were not read. `None` for any other node.
    fn unproduced(&self, node: usize) -> Option<String> {
        let n = &self.graph.nodes[node];
        let produced = self.graph.incoming(node).any(|e| e.relation.produces());
        if n.exists || produced || n.id.group != kinds::SOURCE_GROUP || n.id.kind != "ExternalArtifact" {
            return None;
        }
        let (group, kind) = (kinds::SOURCE_EXTENSIONS_GROUP, "ArtifactGenerator");
        Some(if self.snapshot.is_not_served(group, kind) {
            format!(
                "no {kind} can generate it: the cluster does not serve {kind} ({group}); source-watcher is not installed"
            )
        } else if self.snapshot.is_listed_at(group, kind, &n.id.namespace) {
            format!("no {kind} in {} generates it (spec.artifacts names it nowhere)", n.id.namespace)
        } else {
            format!("{kind}s were not read: which one should generate it is unknown")
        })
    }

    fn step_words(&self, s: &Step) -> String {
        if s.produced_by { format!("produced by ({})", s.relation.label()) } else { s.relation.label().to_string() }
    }

    fn write_cycle_steps(&self, out: &mut dyn Write, cycle: &Cycle) -> std::io::Result<()> {
        let last = cycle.steps.len() - 1;
        for (i, s) in cycle.steps.iter().enumerate() {
            let closes = if i == last { self.palette.bold("   <- closes the loop") } else { String::new() };
            writeln!(
                out,
                "  {} --{}--> {}{closes}",
                self.painted_summary(s.from),
                self.step_words(s),
                self.painted_summary(s.to)
            )?;
        }
        writeln!(out, "  {} {}", self.palette.bold("break it:"), self.break_hint(cycle))
    }

    /// `--cycles` as text.
    pub fn write_cycles(&self, out: &mut dyn Write, cycles: &[Cycle]) -> std::io::Result<()> {
        if cycles.is_empty() {
            return writeln!(out, "No cycles: every waits-for chain ends.");
        }
        for (i, cycle) in cycles.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(out, "{}", self.palette.bold(&format!("Cycle {} ({} objects):", i + 1, cycle.steps.len())))?;
            self.write_cycle_steps(out, cycle)?;
        }
        Ok(())
    }

    /// `--cycles` as a table: one row per step.
    pub fn cycles_table(&self, cycles: &[Cycle]) -> Table {
        let mut t = Table::new(&["CYCLE", "STEP", "FROM", "RELATION", "TO", "CLOSES", "BREAK+"]);
        for (i, cycle) in cycles.iter().enumerate() {
            let hint = self.break_hint(cycle);
            for (j, s) in cycle.steps.iter().enumerate() {
                let closes = j + 1 == cycle.steps.len();
                t.row(vec![
                    (i + 1).to_string(),
                    (j + 1).to_string(),
                    self.graph.nodes[s.from].id.to_string(),
                    self.step_words(s),
                    self.graph.nodes[s.to].id.to_string(),
                    if closes { "yes".into() } else { "no".into() },
                    if closes { hint.clone() } else { String::new() },
                ]);
            }
        }
        t
    }

    /// One cycle as JSON.
    pub fn cycle_json(&self, cycle: &Cycle) -> Value {
        let r = |n: usize| node_ref(&self.graph.nodes[n].id);
        json!({
            "objects": cycle.steps.iter().map(|s| r(s.from)).collect::<Vec<_>>(),
            "steps": cycle.steps.iter().map(|s| json!({
                "from": r(s.from), "to": r(s.to), "relation": s.relation.label(), "producedBy": s.produced_by,
            })).collect::<Vec<_>>(),
            "closingEdge": cycle.steps.last().map(|s| json!({"from": r(s.from), "to": r(s.to), "relation": s.relation.label()})),
            "breakWith": self.break_hint(cycle),
        })
    }

    /// The `CycleReport` JSON document.
    pub fn cycles_json(&self, cycles: &[Cycle], notes: &[String]) -> Value {
        let mut fields = serde_json::Map::new();
        fields.insert("cycles".into(), Value::Array(cycles.iter().map(|c| self.cycle_json(c)).collect()));
        fields.insert("notes".into(), json!(notes));
        kubectl_flux_output::envelope("CycleReport", fields)
    }

    /// The cheapest edge to remove, in words: a health check first, then a dependsOn, then a
    /// values reference, then where a produced object comes from, then anything else.
    pub fn break_hint(&self, cycle: &Cycle) -> String {
        let rank = |s: &Step| match (s.relation, s.produced_by) {
            (Relation::HealthCheck, false) => 0,
            (Relation::DependsOn, false) => 1,
            (Relation::ValuesFrom | Relation::SubstituteFrom, false) => 2,
            (_, true) => 3,
            _ => 4,
        };
        let Some(s) = cycle.steps.iter().min_by_key(|s| rank(s)) else { return String::new() };
        let (from, to) = (&self.graph.nodes[s.from].id, &self.graph.nodes[s.to].id);
        match (s.relation, s.produced_by) {
            (Relation::HealthCheck, false) => format!(
                "remove {to} from spec.healthChecks of {from} (it can only become healthy after {from} is ready)"
            ),
            (Relation::DependsOn, false) => format!("remove {} from spec.dependsOn of {from}", to.namespaced_name()),
            (Relation::ValuesFrom, false) => format!(
                "apply {to} outside this loop (a Kustomization that does not wait for {from}), or mark it optional: true in spec.valuesFrom of {from}"
            ),
            (Relation::SubstituteFrom, false) => format!(
                "apply {to} outside this loop, or mark it optional: true in spec.postBuild.substituteFrom of {from}"
            ),
            (_, true) => format!("apply {from} from a Kustomization that does not wait on this loop, instead of {to}"),
            (relation, false) => format!("remove the {} edge from {from} to {to}", relation.label()),
        }
    }
}
