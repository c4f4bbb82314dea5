//! Fleet mode (DESIGN §3.1): one question asked of many clusters at once. Several `--context`,
//! `--all-contexts[=GLOB]` or `--cluster-from-dir` turn it on; the clusters are asked
//! concurrently (at most `--parallel` at a time), each within its own `--request-timeout`; a
//! cluster that fails is reported in one summary line while the others answer.

use crate::error::{Error, Result};
use crate::flags::CommonFlags;
use crate::output::table::Table;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One cluster of the fleet: its name and the flags that reach it.
#[derive(Debug, Clone)]
pub struct Member {
    /// The context name, or the snapshot directory's name.
    pub name: String,
    /// The command's flags, narrowed to this cluster.
    pub flags: CommonFlags,
}

/// What one cluster answered.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The cluster.
    pub cluster: String,
    /// Its answer, or why there is none.
    pub result: Result<T>,
}

/// `*` any run of characters, `?` one character; the rest literal.
fn glob_matches(glob: &str, name: &str) -> bool {
    let pattern: String = glob
        .chars()
        .map(|c| match c {
            '*' => ".*".to_string(),
            '?' => ".".to_string(),
            c => regex::escape(&c.to_string()),
        })
        .collect();
    regex::Regex::new(&format!("^{pattern}$")).is_ok_and(|r| r.is_match(name))
}

/// The clusters the flags name, or `None` for the usual single cluster.
pub fn members(flags: &CommonFlags) -> Result<Option<Vec<Member>>> {
    let fleet = &flags.fleet;
    let contexts = &flags.connection.context;
    if !fleet.cluster_from_dir.is_empty() {
        if !contexts.is_empty() || fleet.all_contexts.is_some() || !flags.input.filenames.is_empty() {
            return Err(Error::usage(
                "--cluster-from-dir reads snapshots: do not combine it with --context, --all-contexts or -f",
            ));
        }
        let mut out: Vec<Member> = Vec::new();
        for spec in &fleet.cluster_from_dir {
            let (name, dir) = match spec.split_once('=') {
                Some((name, dir)) if !name.is_empty() => (name.to_string(), PathBuf::from(dir)),
                _ => {
                    let dir = PathBuf::from(spec);
                    let name =
                        dir.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| spec.clone());
                    (name, dir)
                }
            };
            if out.iter().any(|m| m.name == name) {
                return Err(Error::usage(format!("--cluster-from-dir: two clusters are named {name:?}; use NAME=DIR")));
            }
            let mut member = flags.clone();
            member.input.filenames = vec![dir];
            out.push(Member { name, flags: member });
        }
        return Ok(Some(out));
    }
    if contexts.len() <= 1 && fleet.all_contexts.is_none() {
        return Ok(None);
    }
    if !flags.input.filenames.is_empty() {
        return Err(Error::usage("-f reads snapshot files, not clusters; use --cluster-from-dir for an offline fleet"));
    }
    let mut names: Vec<String> = contexts.clone();
    if let Some(glob) = &fleet.all_contexts {
        let kubeconfig = crate::source::live::kubeconfig(&flags.connection)?
            .ok_or_else(|| Error::Kubeconfig("--all-contexts: no kubeconfig found".into()))?;
        let matching: Vec<String> =
            kubeconfig.contexts.iter().map(|c| c.name.clone()).filter(|n| glob_matches(glob, n)).collect();
        if matching.is_empty() {
            return Err(Error::usage(format!("--all-contexts: no context of the kubeconfig matches {glob:?}")));
        }
        names.extend(matching);
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    Ok(Some(
        names
            .into_iter()
            .map(|name| {
                let mut member = flags.clone();
                member.connection.context = vec![name.clone()];
                Member { name, flags: member }
            })
            .collect(),
    ))
}

/// Clusters asked at once unless `--parallel` says: asking a cluster is mostly waiting for its
/// API server, so many at once (a fleet of 50 answers in about the time of its slowest member);
/// reading snapshot directories is CPU work, so one per CPU.
pub const DEFAULT_PARALLEL_CLUSTERS: usize = 64;

/// How many members [`ask`] asks at once: `--parallel`, else the default for the fleet's kind.
pub fn parallelism(flags: &CommonFlags) -> usize {
    match flags.fleet.parallel {
        Some(n) => n.into(),
        None if !flags.fleet.cluster_from_dir.is_empty() => std::thread::available_parallelism().map_or(1, |n| n.get()),
        None => DEFAULT_PARALLEL_CLUSTERS,
    }
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
    crate::output::envelope("Fleet", fields)
}

/// Notes of every cluster, each prefixed with its cluster.
pub fn notes(per_cluster: Vec<(String, Vec<String>)>) -> Vec<String> {
    per_cluster.into_iter().flat_map(|(c, notes)| notes.into_iter().map(move |n| format!("cluster {c}: {n}"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_context_names() {
        assert!(glob_matches("prod-*", "prod-eu-1"));
        assert!(!glob_matches("prod-*", "staging-prod-1"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("dev-?", "dev-a"));
        assert!(!glob_matches("dev-?", "dev-ab"));
        assert!(glob_matches("a.b", "a.b") && !glob_matches("a.b", "axb"));
    }

    #[test]
    fn the_bound_holds_and_every_member_is_asked_once_in_order() {
        let members: Vec<Member> =
            (0..7).map(|i| Member { name: format!("c{i}"), flags: CommonFlags::default() }).collect();
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

    #[test]
    fn clusters_are_asked_many_at_once_and_snapshots_one_per_cpu() {
        let mut flags = CommonFlags::default();
        assert_eq!(parallelism(&flags), DEFAULT_PARALLEL_CLUSTERS);
        flags.fleet.cluster_from_dir = vec!["a".into()];
        assert_eq!(parallelism(&flags), std::thread::available_parallelism().unwrap().get());
        flags.fleet.parallel = Some(3);
        assert_eq!(parallelism(&flags), 3);
    }
}
