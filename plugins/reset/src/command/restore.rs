//! `restore --from BACKUP`: makes the cluster match a backup: creates what is missing, gives
//! back suspend and deletionPolicy, verifies.

use super::{connect, finish, verdict};
use crate::error::{ResetError, Result};
use crate::log::Log;
use crate::steps;
use crate::{Args, confirm, journal, lock};
use kubectl_flux_cli::Resolved;
use std::path::Path;

pub async fn restore(args: &Args, resolved: &Resolved, from: &Path, log: &mut Log) -> Result<u8> {
    let path = journal::backup_path(from);
    let targets = journal::read_backup(&path)?;
    if targets.is_empty() {
        return Err(ResetError::file(&path, "holds no Flux object to restore"));
    }
    let api = connect(resolved).await?;
    let context = api.confirmation_name();
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
        steps::resume(&api, &targets, log).await?;
        // Whichever reset held what generated these objects, the cluster matches the backup only
        // once they run again.
        crate::hold::release(&api, &crate::hold::holders(&targets), None, log).await
    }
    .await;
    lock::release(&api, ns, &id).await?;
    result?;
    let v = steps::verify(&api, &targets, None, None, args.timeout).await?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    finish(resolved, log, Some(&v), None).and_then(|code| verdict(args, &v, &dir, code))
}
