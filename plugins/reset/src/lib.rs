//! `kubectl flux-reset`: the "nuclear" Flux reset made safe. `plan` shows every API call and
//! changes nothing; `run` backs up, suspends, deletes (without pruning or uninstalling),
//! restarts the controllers, recreates, resumes and verifies, journaling every step so that
//! `resume` finishes after a crash; `restore` makes a cluster match a backup; `verify` checks.

pub mod api;
mod args;
pub mod confirm;
pub mod error;
pub mod journal;
pub mod lock;
pub mod model;
pub mod plan;
pub mod steps;

pub use args::{Args, Command, FailOn};

use api::Api;
use clap::CommandFactory;
use error::{ResetError, Result};
use journal::{BACKUP_FILE, Journal};
use kubectl_flux_shared::error::EXIT_FINDINGS;
use kubectl_flux_shared::output::{self, Format};
use model::{Scope, Target};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use steps::{Baseline, Log, Verification};

/// Output formats of flux-reset, default first.
pub const FORMATS: &[Format] = &[Format::Table, Format::Json, Format::Yaml];

/// Runs the plugin; returns the exit code.
pub fn run(args: Args) -> kubectl_flux_shared::Result<u8> {
    if let Some(shell) = args.common.completion {
        return kubectl_flux_shared::cli::print_completion(shell, Args::command());
    }
    Ok(dispatch(&args)?)
}

fn dispatch(args: &Args) -> Result<u8> {
    let format = output::resolve_format(&args.common.output, FORMATS)?;
    let command = args.command.clone().unwrap_or(Command::Plan);
    if !args.common.input.filenames.is_empty() && command != Command::Plan {
        return Err(ResetError::Usage(
            "-f reads a snapshot: only `plan` works offline; `run`, `resume`, `restore` and `verify` need a cluster (restore --from BACKUP takes the backup)".into(),
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ResetError::Shared(kubectl_flux_shared::Error::Output(e)))?;
    let mut log = Log { print: format == Format::Table, lines: Vec::new() };
    match command {
        Command::Plan => plan_command(args, format, &runtime),
        Command::Run => {
            let scope = scope(args)?;
            confirm::require_terminal_or_yes(args.yes, "reset")?;
            runtime.block_on(run_command(args, scope, format, &mut log))
        }
        Command::Resume => {
            confirm::require_terminal_or_yes(args.yes, "resume a reset")?;
            runtime.block_on(resume_command(args, format, &mut log))
        }
        Command::Restore { from } => {
            confirm::require_terminal_or_yes(args.yes, "restore")?;
            runtime.block_on(restore_command(args, &from, format, &mut log))
        }
        Command::Verify { from } => runtime.block_on(verify_command(args, from.as_deref(), format, &mut log)),
    }
}

fn scope(args: &Args) -> Result<Scope> {
    let s = &args.common.scope;
    Scope::from_flags(s.namespace.as_deref(), s.all_namespaces, args.all, s.selector.as_deref(), &args.kinds)
}

fn now() -> Result<chrono::DateTime<chrono::Utc>> {
    kubectl_flux_shared::time::now().map_err(ResetError::Usage)
}

fn dir_of(args: &Args) -> Result<PathBuf> {
    Ok(match &args.dir {
        Some(d) => d.clone(),
        None => PathBuf::from(plan::default_dir(now()?)),
    })
}

fn plan_command(args: &Args, format: Format, runtime: &tokio::runtime::Runtime) -> Result<u8> {
    let scope = scope(args)?;
    let dir = plan::show(&dir_of(args)?);
    let ns = args.controllers_namespace.clone();
    let mut p = if !args.common.input.filenames.is_empty() {
        let snapshot = kubectl_flux_shared::source::offline::read_paths(&args.common.input.filenames)?;
        let mut targets: Vec<Target> =
            snapshot.objects().iter().filter(|o| scope.contains(o)).filter_map(Target::from_object).collect();
        plan::sort(&mut targets);
        let versions = targets.iter().map(|t| (t.kind.kind.to_string(), t.version.clone())).collect();
        let found: Vec<String> = snapshot
            .of_kind("apps", "Deployment")
            .filter(|d| d.id.namespace == ns && plan::is_controller(&d.raw.to_value()))
            .map(|d| d.id.name.to_string())
            .collect();
        let mut notes = Vec::new();
        if found.is_empty() {
            notes.push(format!(
                "the snapshot holds no Flux controller Deployment in {ns}; live, `run` restarts those it finds"
            ));
        }
        plan::Plan {
            context: "offline".into(),
            scope,
            dir,
            targets,
            controllers: (!found.is_empty()).then_some(found),
            versions,
            controllers_namespace: ns,
            warnings: Vec::new(),
            notes,
            timeout: kubectl_flux_shared::duration::format_go(args.timeout),
            finalizer_wait: kubectl_flux_shared::duration::format_go(args.finalizer_wait),
        }
    } else {
        runtime.block_on(async {
            let api = Api::connect(&args.common.connection).await?;
            let (targets, served, notes) = steps::read_scope(&api, &scope).await?;
            let controllers: Vec<String> = steps::controllers(&api, &ns)
                .await?
                .iter()
                .filter_map(|d| d.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
                .collect();
            let mut notes = notes;
            if controllers.is_empty() {
                notes.push(format!("no Flux controller Deployment in {ns}: `run` would restart none"));
            }
            let versions = scope
                .kinds
                .iter()
                .filter_map(|k| {
                    served
                        .get(&(k.group.to_string(), k.kind.to_string()))
                        .map(|s| (k.kind.to_string(), s.version.clone()))
                })
                .collect();
            Ok::<_, ResetError>(plan::Plan {
                context: confirm::context_name(&args.common.connection),
                scope,
                dir,
                targets,
                controllers: Some(controllers),
                versions,
                controllers_namespace: ns,
                warnings: Vec::new(),
                notes,
                timeout: kubectl_flux_shared::duration::format_go(args.timeout),
                finalizer_wait: kubectl_flux_shared::duration::format_go(args.finalizer_wait),
            })
        })?
    };
    p.warnings = plan::warnings(&p.targets);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Json | Format::Yaml => {
            output::write_document(&mut out, &p.to_json(), format, args.common.output.jq.as_deref())?
        }
        _ => p.write_text(&mut out, !args.common.output.no_headers).map_err(kubectl_flux_shared::Error::Output)?,
    }
    out.flush().map_err(kubectl_flux_shared::Error::Output)?;
    output::write_notes(format, &p.notes)?;
    Ok(0)
}

/// Refuses a reset that an out-of-scope, running Kustomization or HelmRelease would undo.
async fn check_managers(api: &Api, targets: &[Target], served: &steps::ServedMap) -> Result<()> {
    let mut running = Vec::new();
    for (obj, manager) in plan::outside_managers(targets) {
        let Some(s) = served.get(&(manager.group.to_string(), manager.kind.to_string())) else { continue };
        let path = format!(
            "{}/{}",
            model::collection_path(&manager.group, &s.version, &s.plural, &manager.namespace),
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

async fn backup(
    api: &Api,
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

async fn run_command(args: &Args, scope: Scope, format: Format, log: &mut Log) -> Result<u8> {
    let api = Api::connect(&args.common.connection).await?;
    let context = confirm::context_name(&args.common.connection);
    let (targets, served, _) = steps::read_scope(&api, &scope).await?;
    if targets.is_empty() {
        log.say("plan", format!("no Flux object in {}: nothing to reset", scope.describe()));
        return finish(format, log, None, None);
    }
    check_managers(&api, &targets, &served).await?;
    let dir = dir_of(args)?;
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
        p.objects_table()
            .write(&mut out, false, !args.common.output.no_headers)
            .map_err(kubectl_flux_shared::Error::Output)?;
    }
    if !args.yes {
        let question = format!(
            "Reset {} Flux objects in {} on context {context}: back up to {}/, suspend, delete, restart the controllers, recreate, resume.",
            targets.len(),
            scope.describe(),
            plan::show(&dir)
        );
        confirm::ask(&context, &question, &mut std::io::stdin().lock())?;
    }
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
    finish(format, log, Some(&v), Some(journal.dir())).and_then(|code| verdict(args, &v, journal.dir(), code))
}

async fn drive(
    api: &Api,
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

async fn resume_command(args: &Args, format: Format, log: &mut Log) -> Result<u8> {
    let dir = args
        .dir
        .clone()
        .ok_or_else(|| ResetError::Usage("resume needs --dir DIR, the directory of the reset to continue".into()))?;
    let mut journal = Journal::open(&dir)?;
    let started = journal.get("started").cloned().unwrap_or(Value::Null);
    let field = |k: &str| started.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let context = confirm::context_name(&args.common.connection);
    if field("context") != context {
        return Err(ResetError::Usage(format!(
            "the reset in {} ran on context {:?}, not {context:?}: use --context {}",
            dir.display(),
            field("context"),
            field("context")
        )));
    }
    let scope = Scope::from_json(started.get("scope").unwrap_or(&Value::Null))
        .ok_or_else(|| ResetError::file(&dir.join(journal::JOURNAL_FILE), "the started record has no scope"))?;
    let api = Api::connect(&args.common.connection).await?;
    let ns = field("controllersNamespace");
    if journal.done("verified") {
        lock::release(&api, &ns, &field("id")).await?;
        log.say("resume", format!("the reset in {} is complete and verified: nothing to do", dir.display()));
        return finish(format, log, None, Some(&dir));
    }
    if !args.yes {
        let question = format!("Continue the reset in {} after step {:?}.", dir.display(), journal.last_step());
        confirm::ask(&context, &question, &mut std::io::stdin().lock())?;
    }
    log.say("resume", format!("continuing the reset in {} after step {}", dir.display(), journal.last_step()));
    lock::acquire(&api, &ns, &field("id"), &field("dir"), None).await?;
    let (targets, served, baseline) = if journal.done("backed-up") {
        let record = journal.get("backed-up").cloned().unwrap_or(Value::Null);
        let path = dir.join(BACKUP_FILE);
        let bytes = std::fs::read(&path).map_err(|e| ResetError::file(&path, e))?;
        use sha2::Digest;
        let sha = format!("sha256:{:x}", sha2::Sha256::digest(&bytes));
        if record.get("sha256").and_then(Value::as_str) != Some(sha.as_str()) {
            return Err(ResetError::file(
                &path,
                "does not match the sha256 the journal recorded: the backup changed since; refusing to continue (restore --from it only if you trust it)",
            ));
        }
        let targets = journal::read_backup(&path)?;
        let b = Baseline::from_json(record.get("baseline").unwrap_or(&Value::Null));
        let served = api.discover().await?;
        (targets, served, b)
    } else {
        backup(&api, &scope, &mut journal, &ns, log).await?
    };
    let v = drive(&api, args, &mut journal, &targets, &served, &baseline, log).await?;
    finish(format, log, Some(&v), Some(&dir)).and_then(|code| verdict(args, &v, &dir, code))
}

async fn restore_command(args: &Args, from: &Path, format: Format, log: &mut Log) -> Result<u8> {
    let path = journal::backup_path(from);
    let targets = journal::read_backup(&path)?;
    if targets.is_empty() {
        return Err(ResetError::file(&path, "holds no Flux object to restore"));
    }
    let api = Api::connect(&args.common.connection).await?;
    let context = confirm::context_name(&args.common.connection);
    if !args.yes {
        let question = format!(
            "Restore {} Flux objects from {} (create what is missing, give back suspend and deletionPolicy).",
            targets.len(),
            path.display()
        );
        confirm::ask(&context, &question, &mut std::io::stdin().lock())?;
    }
    let id = format!("restore-{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id());
    let ns = &args.controllers_namespace;
    // The backup of a reset that stopped (its directory): the restore takes over its lock.
    let reset_dir = path.parent().and_then(|d| std::fs::canonicalize(d).ok()).map(|d| d.display().to_string());
    let id = lock::acquire(&api, ns, &id, &path.display().to_string(), reset_dir.as_deref()).await?;
    let result = async {
        steps::recreate(&api, &targets, log).await?;
        steps::resume(&api, &targets, log).await
    }
    .await;
    lock::release(&api, ns, &id).await?;
    result?;
    let v = steps::verify(&api, &targets, None, None, args.timeout).await?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    finish(format, log, Some(&v), None).and_then(|code| verdict(args, &v, &dir, code))
}

async fn verify_command(args: &Args, from: Option<&Path>, format: Format, log: &mut Log) -> Result<u8> {
    let from = from
        .map(Path::to_path_buf)
        .or_else(|| args.dir.clone())
        .ok_or_else(|| ResetError::Usage("verify needs --dir DIR (a reset directory) or --from BACKUP".into()))?;
    let path = journal::backup_path(&from);
    let targets = journal::read_backup(&path)?;
    let journal = if from.is_dir() { Journal::open(&from).ok() } else { None };
    let api = Api::connect(&args.common.connection).await?;
    let served = api.discover().await?;
    let baseline = journal
        .as_ref()
        .and_then(|j| j.get("backed-up"))
        .map(|r| Baseline::from_json(r.get("baseline").unwrap_or(&Value::Null)));
    let started = journal.as_ref().and_then(|j| j.get("started")).cloned().unwrap_or(Value::Null);
    let restarted = journal.as_ref().and_then(|j| j.get("restarted")).cloned();
    let ns =
        started.get("controllersNamespace").and_then(Value::as_str).unwrap_or(&args.controllers_namespace).to_string();
    let at = restarted.as_ref().and_then(|r| r.get("restartedAt")).and_then(Value::as_str).unwrap_or("").to_string();
    let names: Vec<String> = restarted
        .as_ref()
        .and_then(|r| r.get("controllers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let v = steps::verify(
        &api,
        &targets,
        baseline.as_ref().map(|b| (&served, b)),
        restarted.as_ref().map(|_| (ns.as_str(), at.as_str(), names.as_slice())),
        args.timeout,
    )
    .await?;
    finish(format, log, Some(&v), None).and_then(|code| verdict(args, &v, &from, code))
}

/// Prints the verification (tables print as they go; json/yaml print one `ResetReport`).
fn finish(format: Format, log: &mut Log, v: Option<&Verification>, dir: Option<&Path>) -> Result<u8> {
    if let Some(v) = v {
        for (name, ok, detail) in &v.checks {
            log.say("verify", format!("{} {name}: {detail}", if *ok { "ok    " } else { "FAILED" }));
        }
        for f in &v.findings {
            log.say("finding", f.clone());
        }
    }
    if matches!(format, Format::Json | Format::Yaml) {
        let mut fields = serde_json::Map::new();
        if let Some(d) = dir {
            fields.insert("dir".into(), json!(d.display().to_string()));
        }
        fields.insert(
            "log".into(),
            json!(log.lines.iter().map(|(s, t)| json!({"step": s, "message": t})).collect::<Vec<_>>()),
        );
        if let Some(v) = v {
            fields.insert(
                "checks".into(),
                json!(v.checks.iter().map(|(n, ok, d)| json!({"check": n, "ok": ok, "detail": d})).collect::<Vec<_>>()),
            );
            fields.insert("failures".into(), json!(v.failures));
            fields.insert("findings".into(), json!(v.findings));
        }
        let doc = output::envelope("ResetReport", fields);
        let mut out = std::io::stdout().lock();
        output::write_document(&mut out, &doc, format, None)?;
    }
    Ok(0)
}

/// The exit code of a verification: failures are exit 1 (what failed, and what to run next);
/// findings exit 3 with --fail-on.
fn verdict(args: &Args, v: &Verification, dir: &Path, code: u8) -> Result<u8> {
    if !v.failures.is_empty() {
        return Err(ResetError::Verification(format!(
            "{}. Nothing was deleted beyond what the backup recreates; check again with `kubectl flux-reset verify --dir {}`",
            v.failures.join("; "),
            dir.display()
        )));
    }
    if args.fail_on == Some(FailOn::NotReady) && !v.findings.is_empty() {
        return Ok(EXIT_FINDINGS);
    }
    Ok(code)
}
