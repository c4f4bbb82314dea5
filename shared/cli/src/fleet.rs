//! Fleet mode (DESIGN §3.1): one question asked of many clusters at once. Several `--context`,
//! `--all-contexts[=GLOB]` or `--cluster-from-dir` turn it on ([`crate::resolve`]); the clusters
//! are asked concurrently (at most `--parallel` at a time), each within its own `--request-timeout`; a
//! cluster that fails is reported in one summary line while the others answer.

use crate::resolve::{Member, Origin};
use kubectl_flux_model::error::{EXIT_FAILED, Error, Result};
use kubectl_flux_output::table::Table;
use kubectl_flux_source::Source;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one cluster answered.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The cluster.
    pub cluster: String,
    /// Its answer, or why there is none.
    pub result: Result<T>,
}

/// One answer, or one per cluster of a fleet: each stays a value until the plugin's renderer
/// prints them all.
#[derive(Debug)]
pub enum Answers<T> {
    /// The usual single cluster (or snapshot).
    One(T),
    /// Every cluster's outcome, in the order the user named them; at least one answered.
    Fleet(Vec<Outcome<T>>),
}

/// Asks the origin: its one source, or every member of the fleet ([`ask`]). For a fleet, the
/// clusters that failed are named in one line on stderr; when every one failed, that line is
/// all the command says (exit 1).
pub fn answers<T: Send>(origin: &Origin, answer: impl Fn(&Source) -> Result<T> + Sync) -> Result<Answers<T>> {
    match origin {
        Origin::One(source) => Ok(Answers::One(answer(source)?)),
        Origin::Fleet(fleet) => {
            let outcomes = ask(&fleet.members, fleet.parallel, |m| answer(&m.source));
            report(&outcomes)?;
            Ok(Answers::Fleet(outcomes))
        }
    }
}

/// Names the clusters that failed in one line on stderr; when every one failed, that line is
/// all the command says (exit 1).
pub fn report<T>(outcomes: &[Outcome<T>]) -> Result<()> {
    if let Some(line) = summary(outcomes) {
        eprintln!("{line}");
    }
    if all_failed(outcomes) {
        return Err(Error::Reported(EXIT_FAILED));
    }
    Ok(())
}

/// Asks every member with `ask`, at most `parallel` at a time; the outcomes in member order.
pub fn ask<T: Send>(members: &[Member], parallel: usize, ask: impl Fn(&Member) -> Result<T> + Sync) -> Vec<Outcome<T>> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Outcome<T>>>> = Mutex::new(members.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, members.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(member) = members.get(i) else { break };
                    let result = ask(member);
                    slots.lock().unwrap_or_else(|e| e.into_inner())[i] =
                        Some(Outcome { cluster: member.name.clone(), result });
                }
            });
        }
    });
    slots.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect()
}

/// One line saying which clusters failed and why, when any did.
pub fn summary<T>(outcomes: &[Outcome<T>]) -> Option<String> {
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| format!("{} ({})", o.cluster, one_line(&e.to_string()))))
        .collect();
    (!failed.is_empty()).then(|| {
        format!(
            "fleet: {} of {} clusters answered; failed: {}",
            outcomes.len() - failed.len(),
            outcomes.len(),
            failed.join("; ")
        )
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether every cluster failed (the command then exits 1).
pub fn all_failed<T>(outcomes: &[Outcome<T>]) -> bool {
    !outcomes.is_empty() && outcomes.iter().all(|o| o.result.is_err())
}

/// Per-cluster tables as one, with a CLUSTER column first.
pub fn table(parts: Vec<(String, Table)>) -> Table {
    let mut merged: Option<Table> = None;
    for (cluster, mut t) in parts {
        t.prepend("CLUSTER", &cluster);
        match merged.as_mut() {
            Some(m) => m.append(t),
            None => merged = Some(t),
        }
    }
    merged.unwrap_or_default()
}

/// Per-cluster documents grouped by cluster: `{"kind": "Fleet", "of": KIND, "clusters":
/// [{"cluster": NAME, ...the cluster's document}], "failed": [{"cluster", "error"}]}`, plus
/// the fleet-wide `extra` fields.
pub fn document<T>(kind: &str, outcomes: &[Outcome<T>], doc: impl Fn(&T) -> Value, extra: Vec<(&str, Value)>) -> Value {
    let clusters: Vec<Value> = outcomes
        .iter()
        .filter_map(|o| {
            let value = o.result.as_ref().ok()?;
            let mut d = doc(value);
            if let Some(map) = d.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
                let mut with_name = serde_json::Map::new();
                with_name.insert("cluster".into(), Value::from(o.cluster.clone()));
                with_name.extend(std::mem::take(map));
                *map = with_name;
            }
            Some(d)
        })
        .collect();
    let failed: Vec<Value> = outcomes
        .iter()
        .filter_map(|o| {
            o.result.as_ref().err().map(|e| json!({"cluster": o.cluster, "error": one_line(&e.to_string())}))
        })
        .collect();
    let mut fields = serde_json::Map::new();
    fields.insert("of".into(), Value::from(kind));
    fields.insert("clusters".into(), Value::from(clusters));
    fields.insert("failed".into(), Value::from(failed));
    for (k, v) in extra {
        fields.insert(k.into(), v);
    }
    kubectl_flux_output::envelope("Fleet", fields)
}

/// Notes of every cluster, each prefixed with its cluster.
pub fn notes(per_cluster: Vec<(String, Vec<String>)>) -> Vec<String> {
    per_cluster.into_iter().flat_map(|(c, notes)| notes.into_iter().map(move |n| format!("cluster {c}: {n}"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_holds_and_every_member_is_asked_once_in_order() {
        let members: Vec<Member> =
            (0..7).map(|i| Member { name: format!("c{i}"), source: Source::Files(Vec::new()) }).collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let outcomes = ask(&members, 3, |m| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            running.fetch_sub(1, Ordering::SeqCst);
            if m.name == "c4" { Err(Error::Kubeconfig("unreachable".into())) } else { Ok(m.name.clone()) }
        });
        assert!(peak.load(Ordering::SeqCst) <= 3);
        let names: Vec<&str> = outcomes.iter().map(|o| o.cluster.as_str()).collect();
        assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
        assert_eq!(
            summary(&outcomes).unwrap(),
            "fleet: 6 of 7 clusters answered; failed: c4 (kubeconfig: unreachable)"
        );
        assert!(!all_failed(&outcomes));
    }
}
