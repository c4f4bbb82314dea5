//! One cluster's lineage answer: the objects read (in rounds, live, as far as the target's
//! chains lead), the graph they make, and the view the answer shows (cycles, root-cause chains
//! or the tree), decided before any Event is read.

use crate::args::Args;
use crate::traverse::Direction;
use crate::view::View;
use crate::{cycles, reach};
use kubectl_flux_cli::Resolved;
use kubectl_flux_graph::graph::Graph;
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::kinds::{self, FLUX_KINDS};
use kubectl_flux_model::selector::Selector;
use kubectl_flux_model::{ObjectRef, Snapshot};
use kubectl_flux_source::{self as source, Namespaces, Source, Want};
use std::sync::Arc;

/// What was asked: `--cycles` (through objects matching `-l`), or a target's `--why` or tree.
#[derive(Debug, Clone)]
pub struct Question {
    /// The target, as typed (none with `--cycles`).
    pub target: Option<TargetSpec>,
    /// `-l`: only cycles through matching objects.
    pub selector: Option<Selector>,
    /// `-n`: the target's namespace.
    pub namespace: Option<String>,
}

impl Question {
    /// The question the flags ask; `-l` without `--cycles` is a usage error.
    pub fn of(args: &Args, resolved: &Resolved) -> Result<Question> {
        let selector = resolved.scope.selector.clone();
        if selector.is_some() && !args.cycles {
            return Err(Error::usage(
                "-l/--selector restricts --cycles to loops through matching objects; use it with --cycles",
            ));
        }
        let target = match &args.target {
            Some(t) => Some(parse_target(t, args.name.as_deref())?),
            None => None,
        };
        Ok(Question { target, selector, namespace: resolved.scope.namespace.clone() })
    }
}

/// One cluster's answer: everything read, the graph, the view (or why there is none, with the
/// notes that say what could not be read).
pub struct Answer {
    /// The objects read.
    pub snapshot: Snapshot,
    /// Their relationships (shared with later answers read from the same unchanged lists of a
    /// watch cache).
    pub graph: Arc<Graph>,
    /// What the answer shows, or why it cannot be given.
    pub view: Result<View>,
    /// What the answer lacks or assumes (kinds not served or forbidden).
    pub notes: Vec<String>,
}

impl Answer {
    /// The answer, or its error when it has none: in a fleet, such a cluster failed.
    pub fn given(self) -> Result<Answer> {
        match self.view {
            Ok(_) => Ok(self),
            Err(e) => Err(e),
        }
    }
}

/// What lineage lists from a cluster first: every Flux kind, the Kubernetes kinds chains run
/// through, Secrets as metadata only, and Helm storage Secrets (`owner=helm`) in full for
/// HelmRelease inventories. Events come after, in the answer's namespaces
/// ([`View::event_wants`]).
pub fn wants() -> Vec<Want> {
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    for k in reach::chain_kinds() {
        wants.push(reach::kube_want(k));
        if k.kind == "Secret" {
            wants.push(Want::helm_storage());
        }
    }
    wants
}

/// Reads one cluster (or snapshot) and decides its view. Events come in a second stage, only
/// in the namespaces the answer shows: the largest kind of a cluster by far (200,000 of 323,000
/// objects at 10,000 apps), of which an answer shows a handful. Live that is a second round of
/// lists; offline a second pass over the files, cheaper than building every Event. Live,
/// `--why` reads only what its target can reach ([`reach`]): the Kubernetes kinds in the
/// namespaces it leads to, found in rounds, rather than every object of the cluster.
pub fn read(source: &Source, args: &Args, question: &Question) -> Result<Answer> {
    let namespace = question.namespace.as_deref();
    let mut reach = None;
    let mut live_first = wants();
    if let (Some((_, namespaced)), Source::Cluster(_)) = (question.target.as_ref().filter(|_| args.why), source) {
        // A namespaced target's namespace is read in the first round.
        let first = namespace.filter(|_| *namespaced == Some(true));
        reach = Some(reach::Reach::new(first));
        live_first = reach::first_wants(first);
    }
    let mut decided: Option<(Arc<Graph>, Result<View>)> = None;
    let snapshot = source::load_rounds(source, &Namespaces::All, &live_first, &wants(), |read| {
        if decided.is_some() {
            return Vec::new();
        }
        let graph = source.derived(|| Graph::build(read));
        if let (Some(reach), Some((id, namespaced))) = (reach.as_mut(), &question.target) {
            let mut id = id.clone();
            if *namespaced == Some(true) {
                id.namespace = target_namespace(read, namespace).into();
            }
            let more = reach.more(&graph, read, &id, *namespaced);
            if !more.is_empty() {
                return more;
            }
        }
        let view = decide(source, args, question, &graph, read);
        let events = view.as_ref().map(|v| v.event_wants(&graph)).unwrap_or_default();
        decided = Some((graph, view));
        events
    })?;
    let (graph, view) =
        decided.expect("load_rounds hands every round over, live or offline, until the view is decided");
    let mut notes = snapshot.notes.clone();
    notes.extend(graph.notes.iter().cloned());
    Ok(Answer { snapshot, graph, view, notes })
}

/// What the answer shows, from the graph alone: the cycles (`--cycles`, through a selected
/// object with `-l`), or the target's chains (`--why`) or tree.
fn decide(source: &Source, args: &Args, question: &Question, graph: &Graph, snapshot: &Snapshot) -> Result<View> {
    if args.cycles {
        // The graph's cycles depend on the graph alone: shared with it.
        let mut all_cycles = Vec::clone(&source.derived(|| cycles::find(graph)));
        if let Some(selector) = &question.selector {
            all_cycles.retain(|c| {
                c.steps.iter().any(|s| snapshot.get(&graph.nodes[s.from].id).is_some_and(|o| selector.matches(o)))
            });
        }
        return Ok(View::Cycles(all_cycles));
    }
    let (id, namespace_given) = question.target.clone().expect("clap requires a target without --cycles");
    let target = resolve_target(graph, snapshot, id, namespace_given, question.namespace.as_deref())?;
    if args.why {
        return Ok(View::why(graph, target));
    }
    let directions: Vec<Direction> = if args.upstream {
        vec![Direction::Upstream]
    } else if args.downstream {
        vec![Direction::Downstream, Direction::UsedBy]
    } else {
        vec![Direction::Upstream, Direction::Downstream, Direction::UsedBy]
    };
    Ok(View::tree(graph, target, directions, args.depth))
}

/// A target as typed: kind (resolved if known), name, and whether the kind is namespaced.
pub type TargetSpec = (ObjectRef, Option<bool>);

/// Parses `KIND/NAME` or `KIND NAME`.
fn parse_target(target: &str, name: Option<&str>) -> Result<TargetSpec> {
    let (kind, name) = match (target.split_once('/'), name) {
        (Some((k, n)), None) => (k, n),
        (None, Some(n)) => (target, n),
        (Some(_), Some(_)) => return Err(Error::usage("give the object as KIND/NAME or as KIND NAME, not both")),
        (None, None) => {
            return Err(Error::usage(format!("{target:?}: give the object as KIND/NAME, e.g. kustomization/apps")));
        }
    };
    if kind.is_empty() || name.is_empty() {
        return Err(Error::usage(format!("{target:?}: give the object as KIND/NAME, e.g. kustomization/apps")));
    }
    Ok(match kinds::resolve(kind) {
        Some(k) => (ObjectRef::new(k.group, k.kind, "", name), Some(k.namespaced)),
        None => (ObjectRef::new("", kind, "", name), None),
    })
}

/// The namespace a namespaced target is in: `-n`, else the context's, else `default`.
fn target_namespace<'a>(snapshot: &'a Snapshot, namespace: Option<&'a str>) -> &'a str {
    namespace.or(snapshot.default_namespace.as_deref()).unwrap_or("default")
}

/// Finds the target node: known kinds directly; other kinds by case-insensitive kind name among
/// the snapshot's objects.
fn resolve_target(
    graph: &Graph,
    snapshot: &Snapshot,
    mut id: ObjectRef,
    namespaced: Option<bool>,
    namespace: Option<&str>,
) -> Result<usize> {
    let ns = target_namespace(snapshot, namespace);
    match namespaced {
        Some(true) => id.namespace = ns.into(),
        Some(false) => {}
        None => {
            let wanted = id.kind.to_ascii_lowercase();
            let found = graph.nodes.iter().find(|n| {
                n.id.name == id.name
                    && (n.id.namespace == ns || n.id.namespace.is_empty())
                    && (n.id.kind.to_ascii_lowercase() == wanted
                        || format!("{}s", n.id.kind.to_ascii_lowercase()) == wanted)
            });
            return match found {
                Some(n) => Ok(graph.find(&n.id).expect("node exists")),
                None => Err(Error::usage(format!(
                    "unknown kind {:?}: not a kind kubectl-flux knows and no such object in the snapshot",
                    id.kind
                ))),
            };
        }
    }
    let node = graph.find(&id).ok_or_else(|| Error::NotFound(id.to_string()))?;
    // Known only as someone's reference, of a kind that could not be listed (403, missing
    // CRD): there is nothing to trace, and "missing" would be a guess.
    if !graph.nodes[node].exists && !snapshot.is_listed_at(&id.group, &id.kind, &id.namespace) {
        return Err(Error::Unreadable(id.to_string()));
    }
    Ok(node)
}
