//! The reset's steps against a cluster, each verified before it returns: read and back up,
//! suspend, delete, restart the controllers, recreate, resume. Every step can run again after a
//! partial run (a crash, Ctrl-C, a lost connection) and finish the job: patches set values,
//! deletes accept objects already gone, creates skip objects that exist.

use crate::error::{ResetError, Result};
use crate::log::Log;
use crate::model::{FLUX_FINALIZER, Scope, Target};
use crate::plan::{self, is_controller};
use crate::worth::Worth;
use kubectl_flux_model::{Object, ObjectRef};
use kubectl_flux_source::live::collection_path;
use kubectl_flux_source::live::{Cluster, Core, Created};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Poll interval while waiting for the cluster.
const POLL: Duration = Duration::from_millis(500);

/// Served resources by (group, kind).
pub type ServedMap = kubectl_flux_source::live::Served;

/// Reads every Flux object in scope: one discovery, one paginated list per kind (per namespace).
pub async fn read_scope(api: &Cluster, scope: &Scope) -> Result<(Vec<Target>, ServedMap, Vec<String>)> {
    let served = api.discover(Core::Asked).await?;
    let mut targets = Vec::new();
    let mut notes = Vec::new();
    for k in &scope.kinds {
        let Some(s) = served.get(&(k.group.to_string(), k.kind.to_string())) else {
            notes.push(format!("{} ({}) is not served by this cluster; skipped", k.kind, k.group));
            continue;
        };
        for path in scope.list_paths(k, &s.version) {
            for mut item in api.list_values(&path, None, false).await? {
                if let Value::Object(m) = &mut item {
                    m.insert("apiVersion".into(), Value::from(format!("{}/{}", k.group, s.version)));
                    m.insert("kind".into(), Value::from(k.kind));
                }
                let o = Object::from_value(item)
                    .map_err(|m| ResetError::Api { call: format!("LIST {path}"), message: m })?;
                if scope.contains(&o)
                    && let Some(t) = Target::from_object(&o)
                {
                    targets.push(t);
                }
            }
        }
    }
    plan::sort(&mut targets);
    Ok((targets, served, notes))
}

/// The live copies of the targets, by identity: one list per collection (kind and namespace).
pub async fn current(api: &Cluster, targets: &[Target]) -> Result<HashMap<ObjectRef, Value>> {
    let collections: BTreeSet<(String, &str, &str)> =
        targets.iter().map(|t| (t.collection(), t.kind.group, t.kind.kind)).collect();
    let mut out = HashMap::new();
    for (path, group, kind) in collections {
        for item in api.list_values(&path, None, false).await? {
            let ns = item.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
            let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            out.insert(ObjectRef::new(group, kind, ns, name), item);
        }
    }
    Ok(out)
}

/// What the reset must not lose, recorded before it changes anything: the objects in the
/// Kustomizations' inventories (by uid), the Helm storage of every HelmRelease (last revision),
/// and the Flux controller Deployments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Inventory entries and their uid (`None`: already missing before the reset).
    pub managed: Vec<(ObjectRef, Option<String>)>,
    /// (HelmRelease, storage namespace, release, last revision if any).
    pub helm: Vec<(ObjectRef, String, String, Option<u64>)>,
    /// Flux controller Deployments in the controllers' namespace.
    pub controllers: Vec<String>,
}

fn id_string(r: &ObjectRef) -> String {
    format!("{}_{}_{}_{}", r.namespace, r.name, r.group, r.kind)
}

impl Baseline {
    /// As recorded in the journal.
    pub fn to_json(&self) -> Value {
        json!({
            "managed": self.managed.iter().map(|(r, uid)| json!({"id": id_string(r), "uid": uid})).collect::<Vec<_>>(),
            "helm": self.helm.iter().map(|(hr, ns, rel, rev)| json!({"helmRelease": id_string(hr), "storageNamespace": ns, "release": rel, "revision": rev})).collect::<Vec<_>>(),
            "controllers": self.controllers,
        })
    }

    /// Read back from the journal.
    pub fn from_json(v: &Value) -> Baseline {
        let arr = |k: &str| v.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Baseline {
            managed: arr("managed")
                .iter()
                .filter_map(|m| Some((ObjectRef::from_inventory_id(m.get("id")?.as_str()?)?, s(m, "uid"))))
                .collect(),
            helm: arr("helm")
                .iter()
                .filter_map(|h| {
                    Some((
                        ObjectRef::from_inventory_id(h.get("helmRelease")?.as_str()?)?,
                        s(h, "storageNamespace")?,
                        s(h, "release")?,
                        h.get("revision").and_then(Value::as_u64),
                    ))
                })
                .collect(),
            controllers: arr("controllers").iter().filter_map(|c| c.as_str().map(str::to_string)).collect(),
        }
    }

    /// Managed objects that existed before the reset.
    pub fn present(&self) -> usize {
        self.managed.iter().filter(|(_, u)| u.is_some()).count()
    }
}

/// Uids of the managed objects now, listing each collection once (metadata only).
pub async fn managed_uids(api: &Cluster, served: &ServedMap, refs: &[ObjectRef]) -> Result<HashMap<ObjectRef, String>> {
    let mut collections: BTreeSet<(String, String, String)> = BTreeSet::new();
    for r in refs {
        collections.insert((r.group.to_string(), r.kind.to_string(), r.namespace.to_string()));
    }
    let mut out = HashMap::new();
    for (group, kind, ns) in collections {
        let Some(s) = served.get(&(group.clone(), kind.clone())) else { continue };
        let path = collection_path(&group, &s.version, &s.plural, if s.namespaced { &ns } else { "" });
        for item in api.list_values(&path, None, true).await? {
            let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            let uid = item.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
            out.insert(ObjectRef::new(&group, &kind, if s.namespaced { &ns } else { "" }, name), uid.to_string());
        }
    }
    Ok(out)
}

/// The last Helm release revision stored per (namespace, release): Secrets labelled
/// `owner=helm`, listed as metadata only (their data, values included, is never read).
pub async fn helm_revisions(api: &Cluster, namespaces: &BTreeSet<String>) -> Result<HashMap<(String, String), u64>> {
    let mut out = HashMap::new();
    for ns in namespaces {
        let path = collection_path("", "v1", "secrets", ns);
        for item in api.list_values(&path, Some("owner=helm"), true).await? {
            let name = item.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            if let Some((release, rev)) = name.strip_prefix("sh.helm.release.v1.").and_then(|r| r.rsplit_once(".v"))
                && let Ok(rev) = rev.parse::<u64>()
            {
                let e = out.entry((ns.clone(), release.to_string())).or_insert(0);
                *e = (*e).max(rev);
            }
        }
    }
    Ok(out)
}

/// The Flux controller Deployments in a namespace.
pub async fn controllers(api: &Cluster, namespace: &str) -> Result<Vec<Value>> {
    let path = collection_path("apps", "v1", "deployments", namespace);
    Ok(api.list_values(&path, None, false).await?.into_iter().filter(is_controller).collect())
}

/// Records the baseline.
pub async fn baseline(api: &Cluster, served: &ServedMap, targets: &[Target], controllers_ns: &str) -> Result<Baseline> {
    let refs: Vec<ObjectRef> = plan::inventory_collections(targets).into_values().flatten().collect();
    let uids = managed_uids(api, served, &refs).await?;
    let managed = refs.iter().map(|r| (r.clone(), uids.get(&normalise(served, r)).cloned())).collect();
    let storage = plan::helm_storage(targets);
    let namespaces: BTreeSet<String> = storage.iter().map(|(_, ns, _)| ns.clone()).collect();
    let revisions = helm_revisions(api, &namespaces).await?;
    let helm = storage
        .into_iter()
        .map(|(hr, ns, rel)| {
            let rev = revisions.get(&(ns.clone(), rel.clone())).copied();
            (hr, ns, rel, rev)
        })
        .collect();
    let controllers = controllers(api, controllers_ns)
        .await?
        .iter()
        .filter_map(|d| d.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
        .collect();
    Ok(Baseline { managed, helm, controllers })
}

/// Cluster-scoped inventory entries are keyed without namespace.
fn normalise(served: &ServedMap, r: &ObjectRef) -> ObjectRef {
    match served.get(&(r.group.to_string(), r.kind.to_string())) {
        Some(s) if !s.namespaced => ObjectRef::new(&r.group, &r.kind, "", &r.name),
        _ => r.clone(),
    }
}

/// Managed objects and Helm releases lost since the baseline.
pub async fn losses(api: &Cluster, served: &ServedMap, b: &Baseline) -> Result<Vec<String>> {
    let refs: Vec<ObjectRef> = b.managed.iter().map(|(r, _)| r.clone()).collect();
    let now = managed_uids(api, served, &refs).await?;
    let mut lost = Vec::new();
    for (r, before) in &b.managed {
        if let Some(uid) = before {
            match now.get(&normalise(served, r)) {
                None => lost.push(format!("{r} (managed) was deleted")),
                Some(u) if u != uid => lost.push(format!("{r} (managed) was deleted and re-created (uid changed)")),
                Some(_) => {}
            }
        }
    }
    let namespaces: BTreeSet<String> = b.helm.iter().map(|(_, ns, _, _)| ns.clone()).collect();
    let revisions = helm_revisions(api, &namespaces).await?;
    for (hr, ns, rel, before) in &b.helm {
        if let Some(rev) = before {
            match revisions.get(&(ns.clone(), rel.clone())) {
                None => lost.push(format!("{hr}: Helm release {ns}/{rel} was uninstalled (no storage Secret left)")),
                Some(now) if now < rev => {
                    lost.push(format!("{hr}: Helm release {ns}/{rel} went back from revision {rev} to {now}"))
                }
                Some(_) => {}
            }
        }
    }
    Ok(lost)
}

/// Suspends every target (Kustomizations also `deletionPolicy: Orphan`), appliers first, and
/// re-reads until both are persisted. Targets already gone are left to `recreate`.
pub async fn suspend(api: &Cluster, targets: &[Target], log: &mut Log) -> Result<()> {
    let mut gone = 0;
    for t in targets.iter().rev() {
        match api.merge_patch_if_exists(&t.path(), &t.suspend_patch()).await {
            Ok(Some(_)) => {}
            Ok(None) => gone += 1,
            Err(e) => {
                return Err(ResetError::Step {
                    step: "suspend",
                    message: format!(
                        "{}: {e}. Nothing was deleted. Objects suspended so far stay suspended: `kubectl flux-reset resume` retries the reset, `kubectl flux-reset restore --from DIR` gives every object back its suspend and deletionPolicy",
                        t.id
                    ),
                });
            }
        }
    }
    // Re-read (not the patch answers): confirm what is persisted.
    let start = Instant::now();
    loop {
        let live = current(api, targets).await?;
        let unconfirmed: Vec<&Target> =
            targets.iter().filter(|t| live.get(&t.id).is_some_and(|l| !t.guarded(l))).collect();
        if unconfirmed.is_empty() {
            let n = targets.len() - gone;
            let ks = targets.iter().filter(|t| t.guards_deletion_policy() && live.contains_key(&t.id)).count();
            log.say(
                "suspend",
                format!("{n} objects suspended, {ks} Kustomizations deletionPolicy Orphan; confirmed by re-reading"),
            );
            if gone > 0 {
                log.say("suspend", format!("{gone} objects were already gone; they are recreated from the backup"));
            }
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(10) {
            let names: Vec<String> = unconfirmed.iter().map(|t| t.id.to_string()).collect();
            return Err(ResetError::Step {
                step: "suspend",
                message: format!(
                    "not confirmed suspended after re-reading: {}. Nothing was deleted; `kubectl flux-reset resume` retries",
                    names.join(", ")
                ),
            });
        }
        for t in &unconfirmed {
            api.merge_patch_if_exists(&t.path(), &t.suspend_patch()).await?;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Deletes every target that is confirmed suspended, appliers first, orphaning dependents; waits
/// until they are gone. After `finalizer_wait`, an object still Terminating only because of
/// Flux's finalizer, and confirmed suspended, loses that finalizer: a suspended Kustomization's
/// finalizer prunes nothing and a suspended HelmRelease's uninstalls nothing (FLUX-FACTS:
/// kustomize-controller `finalize`, helm-controller `reconcileDelete`), so this is what the
/// controller would do, for controllers that are down or stuck (the reason for many resets).
pub async fn delete(
    api: &Cluster,
    targets: &[Target],
    finalizer_wait: Duration,
    timeout: Duration,
    log: &mut Log,
) -> Result<()> {
    let live = current(api, targets).await?;
    // All or nothing: refuse before the first delete if any object is not guarded.
    let unguarded: Vec<String> = targets
        .iter()
        .filter_map(|t| {
            live.get(&t.id).filter(|l| !crate::model::is_terminating(l) && !t.guarded(l)).map(|_| t.id.to_string())
        })
        .collect();
    if !unguarded.is_empty() {
        return Err(ResetError::Step {
            step: "delete",
            message: format!(
                "refusing to delete objects not confirmed suspended: {}. Nothing was deleted in this step; `kubectl flux-reset resume` suspends again and retries",
                unguarded.join(", ")
            ),
        });
    }
    let mut deleted = 0;
    for t in targets.iter().rev() {
        let Some(l) = live.get(&t.id) else { continue };
        if crate::model::is_terminating(l) {
            continue;
        }
        let (uid, rv) = (meta(l, "uid"), meta(l, "resourceVersion"));
        if !api.delete_exactly(&t.path(), &uid, &rv).await? {
            // Changed since the re-read: check it again before deleting.
            match api.get(&t.path()).await? {
                Some(fresh) if !t.guarded(&fresh) => {
                    return Err(ResetError::Step {
                        step: "delete",
                        message: format!(
                            "{} changed and is no longer suspended: refusing to delete it; `kubectl flux-reset resume` retries",
                            t.id
                        ),
                    });
                }
                Some(fresh)
                    if !api
                        .delete_exactly(&t.path(), &meta(&fresh, "uid"), &meta(&fresh, "resourceVersion"))
                        .await? =>
                {
                    return Err(ResetError::Step {
                        step: "delete",
                        message: format!("{} keeps changing; `kubectl flux-reset resume` retries", t.id),
                    });
                }
                Some(_) => {}
                None => {}
            }
        }
        deleted += 1;
    }
    log.say(
        "delete",
        format!("{deleted} objects deleted (propagationPolicy Orphan, uid and resourceVersion preconditions)"),
    );
    let start = Instant::now();
    let spinner = kubectl_flux_source::progress::spinner("waiting for the deleted objects to go");
    let mut released: Vec<String> = Vec::new();
    let result = loop {
        let live = current(api, targets).await?;
        let left: Vec<(&Target, &Value)> = targets
            .iter()
            .filter_map(|t| live.get(&t.id).map(|l| (t, l)))
            .filter(|(t, l)| {
                t.raw.pointer("/metadata/uid").is_none_or(|u| Some(u) == l.pointer("/metadata/uid"))
                    || crate::model::is_terminating(l)
            })
            .collect();
        if left.is_empty() {
            break Ok(());
        }
        if start.elapsed() >= finalizer_wait {
            for (t, l) in &left {
                let finalizers: Vec<&str> = l
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if crate::model::is_terminating(l) && t.guarded(l) && finalizers.contains(&FLUX_FINALIZER) {
                    let rest: Vec<&str> = finalizers.iter().copied().filter(|f| *f != FLUX_FINALIZER).collect();
                    let patch =
                        json!({"metadata": {"finalizers": rest, "resourceVersion": meta(l, "resourceVersion")}});
                    // A conflict means it changed: the next round looks again.
                    if api.merge_patch_if_exists(&t.path(), &patch).await.is_ok() {
                        released.push(t.id.to_string());
                    }
                }
            }
        }
        if start.elapsed() > finalizer_wait + timeout {
            let names: Vec<String> = left
                .iter()
                .map(|(t, l)| {
                    format!(
                        "{} (finalizers {})",
                        t.id,
                        l.pointer("/metadata/finalizers").map(Value::to_string).unwrap_or_default()
                    )
                })
                .collect();
            break Err(ResetError::Step {
                step: "delete",
                message: format!(
                    "still Terminating after {}s: {}; `kubectl flux-reset resume` waits again",
                    start.elapsed().as_secs(),
                    names.join(", ")
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    };
    spinner.finish_and_clear();
    result?;
    if !released.is_empty() {
        released.sort();
        released.dedup();
        log.say(
            "delete",
            format!(
                "{} objects were still Terminating after --finalizer-wait: removed {FLUX_FINALIZER} from them (suspended: nothing pruned or uninstalled): {}",
                released.len(),
                released.join(", ")
            ),
        );
    }
    log.say("delete", "every deleted object is gone");
    Ok(())
}

fn meta(v: &Value, field: &str) -> String {
    v.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Rollout restart of the Flux controllers (kubectl's `restartedAt` annotation), waiting until
/// every one is available with only new pods. Returns the annotation value and the names.
pub async fn restart(
    api: &Cluster,
    namespace: &str,
    timeout: Duration,
    log: &mut Log,
) -> Result<(String, Vec<String>)> {
    let deployments = controllers(api, namespace).await?;
    if deployments.is_empty() {
        log.say(
            "restart",
            format!(
                "no Flux controller Deployment in namespace {namespace} (looked for {} and app.kubernetes.io/part-of=flux): nothing restarted; use --controllers-namespace if they run elsewhere",
                plan::CONTROLLERS.join(", ")
            ),
        );
        return Ok((String::new(), Vec::new()));
    }
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut names = Vec::new();
    for d in &deployments {
        let name = meta(d, "name");
        let path = format!("{}/{name}", collection_path("apps", "v1", "deployments", namespace));
        api.merge_patch(
            &path,
            &json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}}),
        )
        .await?;
        names.push(name);
    }
    wait_controllers(api, namespace, &names, &at, timeout).await?;
    log.say("restart", format!("{} controllers restarted and available: {}", names.len(), names.join(", ")));
    Ok((at, names))
}

/// Whether a Deployment finished rolling out the template restarted at `at`.
pub fn rolled_out(d: &Value, at: &str) -> bool {
    let n = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let annotated =
        d.pointer("/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt").and_then(Value::as_str)
            == Some(at);
    let want = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    annotated
        && n("/status/observedGeneration") >= n("/metadata/generation")
        && n("/status/updatedReplicas") == want
        && n("/status/availableReplicas") >= want
        && n("/status/replicas") == want
}

async fn wait_controllers(api: &Cluster, namespace: &str, names: &[String], at: &str, timeout: Duration) -> Result<()> {
    let spinner = kubectl_flux_source::progress::spinner("waiting for the Flux controllers to be available");
    let start = Instant::now();
    let result = loop {
        let now = controllers(api, namespace).await?;
        let pending: Vec<&String> =
            names.iter().filter(|n| !now.iter().any(|d| meta(d, "name") == **n && rolled_out(d, at))).collect();
        if pending.is_empty() {
            break Ok(());
        }
        if start.elapsed() > timeout {
            let list: Vec<&str> = pending.iter().map(|s| s.as_str()).collect();
            break Err(ResetError::Step {
                step: "restart",
                message: format!(
                    "not available after --timeout {}: {} (see kubectl -n {namespace} rollout status); `kubectl flux-reset resume` continues",
                    kubectl_flux_model::duration::format_go(timeout),
                    list.join(", ")
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    };
    spinner.finish_and_clear();
    result
}

/// Creates every target that does not exist, from the backup, still suspended; confirms by
/// re-reading that each exists.
pub async fn recreate(api: &Cluster, targets: &[Target], log: &mut Log) -> Result<()> {
    let uids: Vec<String> = targets.iter().map(|t| meta(&t.raw, "uid")).filter(|u| !u.is_empty()).collect();
    let live = current(api, targets).await?;
    let (mut created, mut existed) = (0, 0);
    for t in targets {
        if live.contains_key(&t.id) {
            existed += 1;
            continue;
        }
        match api.create(&t.collection(), &t.recreate_body(&uids)).await.map_err(|e| ResetError::Step {
            step: "recreate",
            message: format!("{}: {e}; the backup still holds it: `kubectl flux-reset resume` retries", t.id),
        })? {
            Created::New => created += 1,
            Created::Existed => existed += 1,
        }
    }
    let live = current(api, targets).await?;
    let missing: Vec<String> = targets.iter().filter(|t| !live.contains_key(&t.id)).map(|t| t.id.to_string()).collect();
    if !missing.is_empty() {
        return Err(ResetError::Step {
            step: "recreate",
            message: format!("not found after creating: {}", missing.join(", ")),
        });
    }
    let mut text = format!("{created} objects recreated from the backup, suspended");
    if existed > 0 {
        text.push_str(&format!("; {existed} existed already"));
    }
    log.say("recreate", text);
    Ok(())
}

/// Gives every target back its backed-up `suspend` and `deletionPolicy` (sources first, appliers
/// last) and requests a reconcile of those that run.
pub async fn resume(api: &Cluster, targets: &[Target], log: &mut Log) -> Result<()> {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    for t in targets {
        let stored = api.merge_patch(&t.path(), &t.resume_patch(&at)).await?;
        let suspend = stored.pointer("/spec/suspend").and_then(Value::as_bool);
        if suspend.unwrap_or(false) != t.was_suspended() {
            return Err(ResetError::Step { step: "resume", message: format!("{}: spec.suspend did not take", t.id) });
        }
    }
    let kept = targets.iter().filter(|t| t.was_suspended()).count();
    let mut text = format!("{} objects resumed", targets.len() - kept);
    if kept > 0 {
        text.push_str(&format!("; {kept} left suspended, as they were before the reset"));
    }
    log.say("resume", text);
    Ok(())
}

/// The verification checklist's outcome.
#[derive(Debug, Default)]
pub struct Verification {
    /// (check, passed, detail), in checklist order.
    pub checks: Vec<(&'static str, bool, String)>,
    /// What failed: lost or changed objects, objects not back to Ready.
    pub failures: Vec<String>,
    /// Objects not Ready before the reset and still not Ready: findings, not failures.
    pub findings: Vec<String>,
}

/// Verifies the cluster against the backup (and the baseline, when there is one): every object
/// exists with the backed-up spec, nothing Terminating, no managed object deleted, the
/// controllers restarted, and every object that was Ready (and not suspended) Ready again
/// within `timeout`.
pub async fn verify(
    api: &Cluster,
    targets: &[Target],
    baseline: Option<(&ServedMap, &Baseline)>,
    restarted: Option<(&str, &str, &[String])>,
    timeout: Duration,
) -> Result<Verification> {
    let mut v = Verification::default();
    // Only a sound Ready must come back: a stale one was already wrong before the reset.
    let worth = crate::worth::judge(targets);
    let sound = |t: &Target| worth.get(&t.id) == Some(&Worth::Sound);
    let must: Vec<&Target> = targets.iter().filter(|t| sound(t) && !t.was_suspended()).collect();
    let spinner = kubectl_flux_source::progress::spinner("waiting for every object to be Ready");
    let start = Instant::now();
    let live = loop {
        let live = current(api, targets).await?;
        let settled = targets.iter().all(|t| {
            live.get(&t.id).is_some_and(|l| {
                !crate::model::is_terminating(l) && crate::model::spec(l) == crate::model::spec(&t.raw)
            })
        }) && must.iter().all(|t| live.get(&t.id).is_some_and(crate::model::is_ready));
        if settled || start.elapsed() > timeout {
            break live;
        }
        tokio::time::sleep(POLL).await;
    };
    spinner.finish_and_clear();
    let missing: Vec<String> = targets.iter().filter(|t| !live.contains_key(&t.id)).map(|t| t.id.to_string()).collect();
    v.failures.extend(missing.iter().map(|m| format!("{m} is missing")));
    v.checks.push((
        "exists",
        missing.is_empty(),
        format!("{}/{} backed-up objects exist", targets.len() - missing.len(), targets.len()),
    ));
    let changed: Vec<String> = targets
        .iter()
        .filter(|t| live.get(&t.id).is_some_and(|l| crate::model::spec(l) != crate::model::spec(&t.raw)))
        .map(|t| t.id.to_string())
        .collect();
    v.failures.extend(changed.iter().map(|m| format!("{m}: spec differs from the backup")));
    v.checks.push((
        "same spec",
        changed.is_empty(),
        if changed.is_empty() {
            "every spec equals the backup's".into()
        } else {
            format!("differs: {}", changed.join(", "))
        },
    ));
    let terminating: Vec<String> = targets
        .iter()
        .filter(|t| live.get(&t.id).is_some_and(crate::model::is_terminating))
        .map(|t| t.id.to_string())
        .collect();
    v.failures.extend(terminating.iter().map(|m| format!("{m} is Terminating")));
    v.checks.push((
        "not terminating",
        terminating.is_empty(),
        if terminating.is_empty() { "nothing Terminating".into() } else { terminating.join(", ") },
    ));
    match baseline {
        Some((served, b)) => {
            let lost = losses(api, served, b).await?;
            let helm_ok = b.helm.iter().filter(|h| h.3.is_some()).count();
            v.checks.push((
                "nothing deleted",
                lost.is_empty(),
                format!(
                    "{} of {} managed objects kept (same uid), {} Helm releases kept{}",
                    b.present() - lost.iter().filter(|l| l.contains("(managed)")).count(),
                    b.present(),
                    helm_ok,
                    if b.managed.len() > b.present() {
                        format!("; {} inventory entries were missing before the reset", b.managed.len() - b.present())
                    } else {
                        String::new()
                    }
                ),
            ));
            v.failures.extend(lost);
        }
        None => v.checks.push(("nothing deleted", true, "no baseline (not a reset directory): not checked".into())),
    }
    if let Some((namespace, at, names)) = restarted {
        if names.is_empty() {
            v.checks.push((
                "controllers restarted",
                true,
                format!("no Flux controller Deployment in {namespace}: none to restart"),
            ));
        } else {
            let now = controllers(api, namespace).await?;
            let bad: Vec<&String> =
                names.iter().filter(|n| !now.iter().any(|d| meta(d, "name") == **n && rolled_out(d, at))).collect();
            v.failures.extend(bad.iter().map(|n| format!("controller {namespace}/{n} is not restarted and available")));
            v.checks.push((
                "controllers restarted",
                bad.is_empty(),
                format!("{}/{} restarted at {at} and available", names.len() - bad.len(), names.len()),
            ));
        }
    }
    let not_ready: Vec<String> = must
        .iter()
        .filter(|t| !live.get(&t.id).is_some_and(crate::model::is_ready))
        .map(|t| {
            format!("{}: {}", t.id, live.get(&t.id).map(crate::model::ready_words).unwrap_or_else(|| "missing".into()))
        })
        .collect();
    v.failures.extend(not_ready.iter().map(|n| format!("{n} (Ready before the reset)")));
    v.checks.push((
        "ready",
        not_ready.is_empty(),
        format!(
            "{}/{} objects soundly Ready before the reset are Ready again (--timeout {})",
            must.len() - not_ready.len(),
            must.len(),
            kubectl_flux_model::duration::format_go(timeout)
        ),
    ));
    v.findings = targets
        .iter()
        .filter(|t| t.reports_ready() && !sound(t) && !t.was_suspended())
        .filter(|t| !live.get(&t.id).is_some_and(crate::model::is_ready))
        .map(|t| {
            let now = live.get(&t.id).map(crate::model::ready_words).unwrap_or_default();
            match worth.get(&t.id) {
                Some(Worth::Stale(why)) => format!("{}: Ready was stale: {why}; now {now}", t.id),
                _ => format!("{} was not Ready before the reset and still is not: {now}", t.id),
            }
        })
        .collect();
    Ok(v)
}
