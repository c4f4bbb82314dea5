//! `plan`: what a reset would do, changing nothing: the objects in scope with their guards, and
//! every API call `run` makes, step by step, built with the same paths and bodies `run` uses.

use crate::model::{Scope, Target, rank};
use crate::worth::Worth;
use kubectl_flux_graph::flux;
use kubectl_flux_model::ObjectRef;
use kubectl_flux_output::table::Table;
use kubectl_flux_source::live::collection_path;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

/// The name of the Lease that stops two resets at once.
pub const LEASE: &str = "kubectl-flux-reset";

/// Names of the Flux controller Deployments; Deployments labelled
/// `app.kubernetes.io/part-of=flux` count too.
pub use kubectl_flux_graph::flux::CONTROLLERS;

/// Whether a Deployment is one of Flux's controllers.
pub fn is_controller(deploy: &Value) -> bool {
    let name = deploy.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    CONTROLLERS.contains(&name)
        || deploy.pointer("/metadata/labels/app.kubernetes.io~1part-of").and_then(Value::as_str) == Some("flux")
}

/// One API call.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// GET, LIST, PATCH, DELETE, POST, WRITE (a local file).
    pub verb: &'static str,
    /// The path (or the file).
    pub path: String,
    /// The body sent, when it says something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// What the call is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn call(verb: &'static str, path: impl Into<String>, body: Option<Value>, note: Option<&str>) -> Call {
    Call { verb, path: path.into(), body, note: note.map(str::to_string) }
}

/// One step of the reset and its calls.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Short name (the journal's step it completes, where it has one).
    pub name: &'static str,
    /// What it does and how it is verified.
    pub does: String,
    /// The calls, in order.
    pub calls: Vec<Call>,
}

/// A reset plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The kubeconfig context, or `offline`.
    pub context: String,
    /// What is reset.
    pub scope: Scope,
    /// The reset's directory.
    pub dir: String,
    /// Objects in scope, backup order.
    pub targets: Vec<Target>,
    /// Controller Deployments found (`None` offline: the snapshot may not hold them).
    pub controllers: Option<Vec<String>>,
    /// Versions the cluster serves (or the defaults offline), by kind.
    pub versions: BTreeMap<String, String>,
    /// Where controllers and the Lease live.
    pub controllers_namespace: String,
    /// What could go wrong and how to avoid it.
    pub warnings: Vec<String>,
    /// What the plan assumes or lacks.
    pub notes: Vec<String>,
    /// --timeout and --finalizer-wait, as typed.
    pub timeout: String,
    /// --finalizer-wait.
    pub finalizer_wait: String,
}

/// The version of a Flux kind when the snapshot does not say (Flux v2.9: source v1, kustomize v1,
/// helm v2, notification v1beta3 for Alert/Provider and v1 for Receiver, image v1).
pub fn default_version(kind: &str) -> &'static str {
    match kind {
        "HelmRelease" => "v2",
        "Alert" | "Provider" => "v1beta3",
        _ => "v1",
    }
}

/// Orders targets for the backup: by rank (notification, sources, ..., appliers), namespace, name.
pub fn sort(targets: &mut [Target]) {
    targets.sort_by(|a, b| {
        (rank(&a.id.kind), &a.id.namespace, &a.id.name, &a.id.kind).cmp(&(
            rank(&b.id.kind),
            &b.id.namespace,
            &b.id.name,
            &b.id.kind,
        ))
    });
}

/// Objects in scope applied by a Kustomization or HelmRelease that is not in scope: that manager
/// would re-create them, unsuspended, while the reset works.
pub fn outside_managers(targets: &[Target]) -> Vec<(ObjectRef, ObjectRef)> {
    let ids: BTreeSet<&ObjectRef> = targets.iter().map(|t| &t.id).collect();
    let mut out = Vec::new();
    for t in targets {
        // The flux-operator's managers have no spec.suspend: they are held ([`crate::hold`]).
        for manager in flux::labelled_managers(&t.object()) {
            if manager.group != kubectl_flux_model::kinds::OPERATOR_GROUP && !ids.contains(&manager) {
                out.push((t.id.clone(), manager));
            }
        }
    }
    out
}

/// Inventory entries of the Kustomizations in scope, grouped by collection (group, kind, namespace).
pub fn inventory_collections(targets: &[Target]) -> BTreeMap<(String, String, String), Vec<ObjectRef>> {
    let mut out: BTreeMap<(String, String, String), Vec<ObjectRef>> = BTreeMap::new();
    for t in targets.iter().filter(|t| t.id.kind == "Kustomization") {
        let o = t.object();
        for r in flux::inventory(&o) {
            out.entry((r.group.to_string(), r.kind.to_string(), r.namespace.to_string())).or_default().push(r);
        }
    }
    out
}

/// (storage namespace, release name) of every HelmRelease in scope.
pub fn helm_storage(targets: &[Target]) -> Vec<(ObjectRef, String, String)> {
    targets
        .iter()
        .filter(|t| t.id.kind == "HelmRelease")
        .map(|t| {
            let o = t.object();
            let (ns, release) = flux::helm_release_storage(&o);
            (t.id.clone(), ns, release)
        })
        .collect()
}

/// The plural of a managed kind: known kinds by name, else the lower-case kind plus `s`.
pub fn plural_of(group: &str, kind: &str) -> String {
    kubectl_flux_model::kinds::find(group, kind)
        .map(|k| k.plural.to_string())
        .unwrap_or_else(|| format!("{}s", kind.to_ascii_lowercase()))
}

impl Plan {
    /// The steps and their calls.
    pub fn steps(&self) -> Vec<Step> {
        let ns = &self.controllers_namespace;
        let lease_collection = collection_path("coordination.k8s.io", "v1", "leases", ns);
        let mut backward = self.targets.clone();
        backward.reverse();
        // The re-reads list each collection holding a target once, as `steps::current` does.
        let mut collections: Vec<String> = Vec::new();
        for t in &self.targets {
            if !collections.contains(&t.collection()) {
                collections.push(t.collection());
            }
        }
        let relist: Vec<Call> = collections.iter().map(|p| call("LIST", p, None, None)).collect();
        let scope_lists: Vec<Call> = self
            .scope
            .kinds
            .iter()
            .flat_map(|k| {
                let v = self.versions.get(k.kind).cloned().unwrap_or_else(|| default_version(k.kind).into());
                self.scope.list_paths(k, &v)
            })
            .map(|p| call("LIST", p, None, None))
            .collect();
        let deploys = collection_path("apps", "v1", "deployments", ns);
        let controllers: Vec<String> = match &self.controllers {
            Some(list) => list.clone(),
            None => vec![format!("<each Flux controller Deployment in {ns}>")],
        };

        let mut backup =
            vec![call("GET", "/api", None, Some("discovery")), call("GET", "/apis", None, Some("discovery"))];
        backup.extend(scope_lists);
        for ((group, kind, namespace), _) in inventory_collections(&self.targets) {
            let path = collection_path(&group, "v1", &plural_of(&group, &kind), &namespace);
            backup.push(call("LIST", path, None, Some("metadata only: managed objects before the reset")));
        }
        let storage: BTreeSet<String> = helm_storage(&self.targets).into_iter().map(|(_, ns, _)| ns).collect();
        for s in storage {
            backup.push(call(
                "LIST",
                format!("{}?labelSelector=owner%3Dhelm", collection_path("", "v1", "secrets", &s)),
                None,
                Some("metadata only: Helm storage before the reset"),
            ));
        }
        backup.push(call("LIST", &deploys, None, Some("the Flux controllers")));
        backup.push(call(
            "WRITE",
            format!("{}/backup.json", self.dir),
            None,
            Some(&format!("0600; temp file, fsync, rename, fsync dir; read back: {} objects", self.targets.len())),
        ));

        let mut suspend: Vec<Call> =
            backward.iter().map(|t| call("PATCH", t.path(), Some(t.suspend_patch()), None)).collect();
        suspend.extend(relist.iter().cloned().map(|mut c| {
            c.note = Some("re-read until every object is suspended, Kustomizations deletionPolicy Orphan".into());
            c
        }));

        let mut delete: Vec<Call> = relist
            .iter()
            .cloned()
            .map(|mut c| {
                c.note = Some("re-read: refuse to delete anything not suspended".into());
                c
            })
            .collect();
        for t in &backward {
            delete.push(call(
                "DELETE",
                t.path(),
                Some(json!({"propagationPolicy": "Orphan", "preconditions": {
                    "uid": t.raw.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                    "resourceVersion": "<as re-read>"}})),
                None,
            ));
        }
        delete.extend(relist.iter().cloned().map(|mut c| {
            c.note = Some("until every object is gone".into());
            c
        }));
        delete.push(call(
            "PATCH",
            "<each object still Terminating after --finalizer-wait, confirmed suspended>",
            Some(json!({"metadata": {"finalizers": "<without finalizers.fluxcd.io>", "resourceVersion": "<as re-read>"}})),
            Some(&format!(
                "after {}: a suspended object's Flux finalizer prunes and uninstalls nothing",
                self.finalizer_wait
            )),
        ));

        let mut restart: Vec<Call> = controllers
            .iter()
            .map(|c| {
                call(
                    "PATCH",
                    format!("{deploys}/{c}"),
                    Some(json!({"spec": {"template": {"metadata": {"annotations": {
                        "kubectl.kubernetes.io/restartedAt": "<now>"}}}}})),
                    None,
                )
            })
            .collect();
        restart.push(call(
            "LIST",
            &deploys,
            None,
            Some(&format!("until every controller is available, --timeout {}", self.timeout)),
        ));

        let uids: Vec<String> = self
            .targets
            .iter()
            .filter_map(|t| t.raw.pointer("/metadata/uid").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let mut recreate: Vec<Call> = relist
            .iter()
            .cloned()
            .map(|mut c| {
                c.note = Some("what exists already is not created again".into());
                c
            })
            .collect();
        recreate.extend(self.targets.iter().map(|t| call("POST", t.collection(), Some(t.recreate_body(&uids)), None)));
        let resume: Vec<Call> =
            self.targets.iter().map(|t| call("PATCH", t.path(), Some(t.resume_patch("<now>")), None)).collect();

        let mut verify: Vec<Call> = relist
            .iter()
            .cloned()
            .map(|mut c| {
                c.note = Some(format!("same spec, nothing Terminating; again until Ready, --timeout {}", self.timeout));
                c
            })
            .collect();
        verify.push(call(
            "LIST",
            "<the managed objects' and Helm storage collections listed in backup>",
            None,
            Some("metadata only: nothing deleted"),
        ));
        verify.push(call("LIST", &deploys, None, Some("controllers restarted and available")));

        let holders = crate::hold::holders(&self.targets);
        let mut hold = Vec::new();
        let mut release = Vec::new();
        for h in &holders {
            hold.push(call(
                "GET",
                h.path(),
                None,
                Some(&format!(
                    "generated {} objects in scope; one disabled before the reset is left as it is",
                    h.generated.len()
                )),
            ));
            let before = "<as before the reset>";
            hold.push(call("PATCH", h.path(), Some(crate::hold::hold_patch("<reset id>", Some(before))), None));
            hold.push(call("GET", h.path(), None, Some("confirm the hold")));
            release.push(call("PATCH", h.path(), Some(crate::hold::release_patch(Some(before))), None));
            release.push(call("GET", h.path(), None, Some("confirm the release")));
        }

        let mut steps = vec![
            Step {
                name: "lock",
                does: "take the Lease that stops two resets at once".into(),
                calls: vec![call("POST", &lease_collection, None, Some(&format!("Lease {LEASE}")))],
            },
            Step {
                name: "backed-up",
                does: "back up every Flux object in scope and the baseline of what they manage".into(),
                calls: backup,
            },
            Step { name: "suspended", does: "suspend everything, confirmed by re-reading".into(), calls: suspend },
            Step {
                name: "deleted",
                does: "delete only what is confirmed suspended: no prune, no uninstall, dependents orphaned".into(),
                calls: delete,
            },
            Step { name: "restarted", does: "rollout restart the Flux controllers, wait until available".into(), calls: restart },
            Step {
                name: "recreated",
                does: "recreate from the backup: spec kept, server-set fields stripped, still suspended".into(),
                calls: recreate,
            },
            Step { name: "resumed", does: "give back suspend and deletionPolicy as backed up; request a reconcile".into(), calls: resume },
            Step {
                name: "unlock",
                does: "release the Lease".into(),
                calls: vec![call("DELETE", format!("{lease_collection}/{LEASE}"), None, None)],
            },
            Step {
                name: "verified",
                does: "every object back with the same spec, no managed object deleted, nothing Terminating, Ready, controllers restarted".into(),
                calls: verify,
            },
        ];
        if !holders.is_empty() {
            let at = |name: &str, steps: &[Step]| steps.iter().position(|s| s.name == name).unwrap_or(0);
            let hold_step = Step {
                name: "held",
                does: "hold the flux-operator objects that generated objects in scope, so nothing regenerates them behind the reset's back".into(),
                calls: hold,
            };
            steps.insert(at("suspended", &steps), hold_step);
            let release_step = Step {
                name: "released",
                does: "release the held flux-operator objects: their reconcile switch as before the reset".into(),
                calls: release,
            };
            steps.insert(at("resumed", &steps) + 1, release_step);
        }
        steps
    }

    /// The objects table.
    pub fn objects_table(&self) -> Table {
        self.table_judged(&crate::worth::judge(&self.targets))
    }

    /// The objects table, each Ready as `worth` judged it.
    fn table_judged(&self, worth: &HashMap<ObjectRef, Worth>) -> Table {
        let mut t = Table::new(&["OBJECT", "READY", "SUSPENDED", "GUARDS"]);
        let storage = helm_storage(&self.targets);
        let holders = crate::hold::holders(&self.targets);
        for target in &self.targets {
            let ready = match worth.get(&target.id) {
                Some(Worth::Sound) => "True".to_string(),
                Some(Worth::Stale(_)) => "True (stale)".to_string(),
                _ if target.reports_ready() => "False".to_string(),
                _ => "-".to_string(),
            };
            let mut guards = Vec::new();
            if target.guards_deletion_policy() {
                let o = target.object();
                let entries = flux::inventory(&o).len();
                guards.push(format!(
                    "deletionPolicy Orphan (was {}); {entries} inventory entries kept",
                    target.original_deletion_policy().unwrap_or("MirrorPrune")
                ));
            }
            if let Some((_, ns, release)) = storage.iter().find(|(id, _, _)| *id == target.id) {
                guards.push(format!("no uninstall; Helm storage {ns}/sh.helm.release.v1.{release}.v* kept"));
            }
            if target.was_suspended() {
                guards.push("suspended before the reset: stays suspended".into());
            }
            for h in holders.iter().filter(|h| h.generated.contains(&target.id)) {
                guards.push(format!("generated by {}: held meanwhile", h.id));
            }
            t.row(vec![
                target.id.to_string(),
                ready,
                if target.was_suspended() { "True".into() } else { "False".into() },
                guards.join("; "),
            ]);
        }
        t
    }

    /// Writes the plan as text.
    pub fn write_text(&self, out: &mut dyn Write, headers: bool) -> std::io::Result<()> {
        writeln!(
            out,
            "Reset plan for context {}: {} Flux objects in {}. Nothing has been changed.",
            self.context,
            self.targets.len(),
            self.scope.describe()
        )?;
        writeln!(out, "Backup and journal: {}/", self.dir)?;
        writeln!(out)?;
        if !self.targets.is_empty() {
            let worth = crate::worth::judge(&self.targets);
            self.table_judged(&worth).write(out, false, headers)?;
            for target in &self.targets {
                if let Some(Worth::Stale(why)) = worth.get(&target.id) {
                    writeln!(out, "{}: Ready is stale: {why}; after the reset it is judged afresh", target.id)?;
                }
            }
            writeln!(out)?;
        }
        writeln!(out, "API calls of `kubectl flux-reset run`, each step verified before the next:")?;
        for (i, step) in self.steps().iter().enumerate() {
            writeln!(out, "{}. {}: {}", i + 1, step.name, step.does)?;
            for c in &step.calls {
                let mut line = format!("   {:<6} {}", c.verb, c.path);
                if let Some(b) = &c.body {
                    line.push_str(&format!("  {}", serde_json::to_string(b).unwrap_or_default()));
                }
                if let Some(n) = &c.note {
                    line.push_str(&format!("  ({n})"));
                }
                writeln!(out, "{line}")?;
            }
        }
        for w in &self.warnings {
            writeln!(out, "warning: {w}")?;
        }
        Ok(())
    }

    /// The plan as a document (`kind: ResetPlan`).
    pub fn to_json(&self) -> Value {
        let worth = crate::worth::judge(&self.targets);
        let objects: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                let worth = worth.get(&t.id).cloned().unwrap_or(Worth::NotReady);
                let mut o = json!({"kind": t.id.kind, "namespace": t.id.namespace, "name": t.id.name,
                       "ready": crate::model::is_ready(&t.raw), "suspended": t.was_suspended(), "readyWorth": worth.word()});
                if let Worth::Stale(why) = worth {
                    o["staleBecause"] = json!(why);
                }
                o
            })
            .collect();
        let mut fields = serde_json::Map::new();
        fields.insert("context".into(), json!(self.context));
        fields.insert("scope".into(), self.scope.to_json());
        fields.insert("dir".into(), json!(self.dir));
        fields.insert("objects".into(), json!(objects));
        fields.insert("steps".into(), serde_json::to_value(self.steps()).unwrap_or(Value::Null));
        fields.insert("warnings".into(), json!(self.warnings));
        fields.insert("notes".into(), json!(self.notes));
        kubectl_flux_output::envelope("ResetPlan", fields)
    }
}

/// The warnings of a plan: managers outside the scope, and an empty scope.
pub fn warnings(targets: &[Target]) -> Vec<String> {
    let mut w: Vec<String> = outside_managers(targets)
        .into_iter()
        .map(|(obj, manager)| {
            format!(
                "{obj} is applied by {manager}, which is not in scope: it would re-create it, unsuspended, during the reset; add {} to -n or suspend {manager} first (`run` refuses otherwise)",
                manager.namespace
            )
        })
        .collect();
    if targets.is_empty() {
        w.push("no Flux object in scope: nothing to reset".into());
    }
    w
}

/// The default reset directory for a time: `flux-reset-YYYYMMDDTHHMMSSZ`.
pub fn default_dir(now: chrono::DateTime<chrono::Utc>) -> String {
    format!("flux-reset-{}", now.format("%Y%m%dT%H%M%SZ"))
}

/// Shows a path as given (relative stays relative).
pub fn show(path: &Path) -> String {
    path.display().to_string().trim_end_matches('/').to_string()
}
