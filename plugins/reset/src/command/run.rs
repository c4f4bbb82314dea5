//! `run`: back up, suspend, delete, restart the controllers, recreate, resume and verify, each
//! step journaled so that `resume` finishes after a crash.

use super::{connect, finish, verdict};
use crate::confirm::Confirmation;
use crate::error::{ResetError, Result};
use crate::journal::{self, BACKUP_FILE, Journal};
use crate::log::Log;
use crate::model::{Scope, Target};
use crate::steps::{self, Baseline, Verification};
use crate::{Args, lock, plan};
use kubectl_flux_cli::Resolved;
use kubectl_flux_source::live::Cluster;
use serde_json::{Value, json};

pub async fn run(
    args: &Args,
    resolved: &Resolved,
    scope: Scope,
    confirmation: Confirmation,
    log: &mut Log,
) -> Result<u8> {
    let api = connect(resolved).await?;
    let context = api.confirmation_name();
    let (targets, served, _) = steps::read_scope(&api, &scope).await?;
    if targets.is_empty() {
        log.say("plan", format!("no Flux object in {}: nothing to reset", scope.describe()));
        return finish(resolved, log, None, None);
    }
    check_managers(&api, &targets, &served).await?;
    let dir = super::dir_of(args, resolved);
    if log.print {
        let p = plan::Plan {
            context: context.clone(),
            scope: scope.clone(),
            dir: plan::show(&dir),
            targets: targets.clone(),
            controllers: None,
            versions: Default::default(),
            controllers_namespace: args.controllers_namespace.clone(),
            warnings: Vec::new(),
            notes: Vec::new(),
            timeout: String::new(),
            finalizer_wait: String::new(),
        };
        let mut out = std::io::stdout().lock();
        p.objects_table().write(&mut out, false, resolved.output.headers).map_err(kubectl_flux_model::Error::Output)?;
    }
    let question = format!(
        "Reset {} Flux objects in {} on {}: back up to {}/, suspend, delete, restart the controllers, recreate, resume.",
        targets.len(),
        scope.describe(),
        api.describe(),
        plan::show(&dir)
    );
    confirmation.check(&context, &question)?;
    let mut journal = Journal::create(&dir)?;
    let id = format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id());
    let dir_text = std::fs::canonicalize(&dir).unwrap_or(dir.clone()).display().to_string();
    lock::acquire(&api, &args.controllers_namespace, &id, &dir_text, None).await?;
    journal.record(
        "started",
        json!({"id": id, "context": context, "scope": scope.to_json(), "controllersNamespace": args.controllers_namespace, "dir": dir_text}),
    )?;
    log.say("lock", format!("Lease {}/{} held by reset {id}", args.controllers_namespace, plan::LEASE));
    let (targets, served, baseline) = backup(&api, &scope, &mut journal, &args.controllers_namespace, log).await?;
    let v = drive(&api, args, &mut journal, &targets, &served, &baseline, log).await?;
    finish(resolved, log, Some(&v), Some(journal.dir())).and_then(|code| verdict(args, &v, journal.dir(), code))
}

/// Refuses a reset that an out-of-scope, running Kustomization or HelmRelease would undo.
async fn check_managers(api: &Cluster, targets: &[Target], served: &steps::ServedMap) -> Result<()> {
    let mut running = Vec::new();
    for (obj, manager) in plan::outside_managers(targets) {
        let Some(s) = served.get(&(manager.group.to_string(), manager.kind.to_string())) else { continue };
        let path = format!(
            "{}/{}",
            kubectl_flux_source::live::collection_path(&manager.group, &s.version, &s.plural, &manager.namespace),
            manager.name
        );
        if let Some(m) = api.get(&path).await?
            && m.pointer("/spec/suspend").and_then(Value::as_bool) != Some(true)
        {
            running.push(format!("{obj} is applied by {manager}"));
        }
    }
    if running.is_empty() {
        return Ok(());
    }
    Err(ResetError::Usage(format!(
        "{}, which is outside the scope and not suspended: it would re-create what the reset deletes. Widen -n to include its namespace, or suspend it first; nothing was changed",
        running.join("; ")
    )))
}

pub(super) async fn backup(
    api: &Cluster,
    scope: &Scope,
    journal: &mut Journal,
    controllers_ns: &str,
    log: &mut Log,
) -> Result<(Vec<Target>, steps::ServedMap, Baseline)> {
    let (targets, served, notes) = steps::read_scope(api, scope).await?;
    for n in notes {
        log.say("backup", format!("note: {n}"));
    }
    let b = steps::baseline(api, &served, &targets, controllers_ns).await?;
    let path = journal.dir().join(BACKUP_FILE);
    let sha = journal::write_backup(&path, &targets)?;
    log.say(
        "backup",
        format!(
            "{} objects -> {} (0600, {sha}), read back and counted: {}",
            targets.len(),
            path.display(),
            targets.len()
        ),
    );
    log.say(
        "backup",
        format!(
            "baseline: {} managed objects ({} inventory entries already missing), {} Helm releases, {} controllers",
            b.present(),
            b.managed.len() - b.present(),
            b.helm.iter().filter(|h| h.3.is_some()).count(),
            b.controllers.len()
        ),
    );
    journal.record("backed-up", json!({"objects": targets.len(), "sha256": sha, "baseline": b.to_json()}))?;
    Ok((targets, served, b))
}

pub(super) async fn drive(
    api: &Cluster,
    args: &Args,
    journal: &mut Journal,
    targets: &[Target],
    served: &steps::ServedMap,
    baseline: &Baseline,
    log: &mut Log,
) -> Result<Verification> {
    let started = journal.get("started").cloned().unwrap_or(Value::Null);
    let id = started.get("id").and_then(Value::as_str).unwrap_or("").to_string();
    let ns =
        started.get("controllersNamespace").and_then(Value::as_str).unwrap_or(&args.controllers_namespace).to_string();
    let holders = crate::hold::holders(targets);
    if !holders.is_empty() && !journal.done("held") {
        crate::hold::hold(api, &holders, &id, log).await?;
        journal.record("held", json!({"holders": holders.iter().map(|h| h.id.to_string()).collect::<Vec<_>>()}))?;
    }
    if !journal.done("suspended") {
        steps::suspend(api, targets, log).await?;
        journal.record("suspended", json!({}))?;
    }
    if !journal.done("deleted") {
        steps::delete(api, targets, args.finalizer_wait, args.timeout, log).await?;
        journal.record("deleted", json!({}))?;
    }
    if !journal.done("restarted") {
        let (at, names) = steps::restart(api, &ns, args.timeout, log).await?;
        journal.record("restarted", json!({"restartedAt": at, "controllers": names}))?;
    }
    if !journal.done("recreated") {
        steps::recreate(api, targets, log).await?;
        journal.record("recreated", json!({}))?;
    }
    if !journal.done("resumed") {
        steps::resume(api, targets, log).await?;
        journal.record("resumed", json!({}))?;
    }
    if !holders.is_empty() && !journal.done("released") {
        crate::hold::release(api, &holders, Some(&id), log).await?;
        journal.record("released", json!({}))?;
    }
    lock::release(api, &ns, &id).await?;
    let restarted = journal.get("restarted").cloned().unwrap_or(Value::Null);
    let at = restarted.get("restartedAt").and_then(Value::as_str).unwrap_or("").to_string();
    let names: Vec<String> = restarted
        .get("controllers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let v = steps::verify(api, targets, Some((served, baseline)), Some((&ns, &at, &names)), args.timeout).await?;
    if v.failures.is_empty() && !journal.done("verified") {
        journal.record("verified", json!({"findings": v.findings}))?;
    }
    Ok(v)
}
