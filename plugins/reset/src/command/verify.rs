//! `verify`: checks a cluster against a reset's backup and baseline, changing nothing.

use super::{connect, finish, verdict};
use crate::Args;
use crate::error::{ResetError, Result};
use crate::journal::{self, Journal};
use crate::log::Log;
use crate::steps::{self, Baseline};
use kubectl_flux_cli::Resolved;
use kubectl_flux_source::live::Core;
use serde_json::Value;
use std::path::Path;

pub async fn verify(args: &Args, resolved: &Resolved, from: Option<&Path>, log: &mut Log) -> Result<u8> {
    let from = from
        .map(Path::to_path_buf)
        .or_else(|| args.dir.clone())
        .ok_or_else(|| ResetError::Usage("verify needs --dir DIR (a reset directory) or --from BACKUP".into()))?;
    let path = journal::backup_path(&from);
    let targets = journal::read_backup(&path)?;
    let journal = if from.is_dir() { Journal::open(&from).ok() } else { None };
    let api = connect(resolved).await?;
    let served = api.discover(Core::Asked).await?;
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
    finish(resolved, log, Some(&v), None).and_then(|code| verdict(args, &v, &from, code))
}
