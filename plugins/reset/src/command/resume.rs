//! `resume --dir DIR`: finishes a reset after a crash, Ctrl-C or a lost connection, from the
//! step its journal last recorded, on the context it started on.

use super::run::{backup, drive};
use super::{connect, finish, verdict};
use crate::error::{ResetError, Result};
use crate::journal::{self, BACKUP_FILE, Journal};
use crate::log::Log;
use crate::model::Scope;
use crate::steps::Baseline;
use crate::{Args, confirm, lock};
use kubectl_flux_cli::Resolved;
use kubectl_flux_source::live::Core;
use serde_json::Value;

pub async fn resume(args: &Args, resolved: &Resolved, log: &mut Log) -> Result<u8> {
    let dir = args
        .dir
        .clone()
        .ok_or_else(|| ResetError::Usage("resume needs --dir DIR, the directory of the reset to continue".into()))?;
    let mut journal = Journal::open(&dir)?;
    let started = journal.get("started").cloned().unwrap_or(Value::Null);
    let field = |k: &str| started.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let api = connect(resolved).await?;
    let context = api.confirmation_name();
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
    let ns = field("controllersNamespace");
    if journal.done("verified") {
        lock::release(&api, &ns, &field("id")).await?;
        log.say("resume", format!("the reset in {} is complete and verified: nothing to do", dir.display()));
        return finish(resolved, log, None, Some(&dir));
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
        let served = api.discover(Core::Asked).await?;
        (targets, served, b)
    } else {
        backup(&api, &scope, &mut journal, &ns, log).await?
    };
    let v = drive(&api, args, &mut journal, &targets, &served, &baseline, log).await?;
    finish(resolved, log, Some(&v), Some(&dir)).and_then(|code| verdict(args, &v, &dir, code))
}
