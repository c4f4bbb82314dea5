//! The reset's directory: the backup (`backup.json`, a kubectl `List` every plugin reads with
//! `-f`) and the journal (`journal.jsonl`, one JSON line per completed step). Both are written
//! so that a crash at any instant leaves either the old or the new content, never half of it:
//! the backup through a temporary file, fsync, rename and fsync of the directory; the journal by
//! appending one line and fsyncing (a torn last line is ignored when read back).

use crate::error::{ResetError, Result};
use crate::model::Target;
use kubectl_flux_source::offline;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The journal's steps, in order. Each is recorded once it is complete and verified; `held` and
/// `released` only when flux-operator objects generated objects in scope ([`crate::hold`]).
pub const STEPS: &[&str] = &[
    "started",
    "backed-up",
    "held",
    "suspended",
    "deleted",
    "restarted",
    "recreated",
    "resumed",
    "released",
    "verified",
];

/// Environment variable naming a step after which the process kills itself with SIGKILL (aborts,
/// off unix), right after the step is persisted: how the tests prove `resume` works after a
/// crash at any step. Only binaries built with the `crash-hook` feature (the tests' own) honour
/// it.
#[cfg(feature = "crash-hook")]
pub const CRASH_ENV: &str = "KUBECTL_FLUX_RESET_CRASH_AFTER";

/// The backup's file name in a reset directory.
pub const BACKUP_FILE: &str = "backup.json";
/// The journal's file name in a reset directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// Where a backup is: a reset directory or the file itself.
pub fn backup_path(from: &Path) -> PathBuf {
    if from.is_dir() { from.join(BACKUP_FILE) } else { from.to_path_buf() }
}

/// Writes the backup atomically (0600: the objects may name internal hosts and paths), reads it
/// back with the same reader every plugin uses for `-f`, and checks that it holds exactly the
/// objects written. Returns the file's sha256.
pub fn write_backup(path: &Path, targets: &[Target]) -> Result<String> {
    let items: Vec<Value> = targets.iter().map(|t| t.raw.clone()).collect();
    let doc = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
    let mut bytes = serde_json::to_vec_pretty(&doc).map_err(|e| ResetError::file(path, e))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)?;
    let back = read_backup(path)?;
    let expected: Vec<_> = targets.iter().map(|t| &t.id).collect();
    let found: Vec<_> = back.iter().map(|t| &t.id).collect();
    if expected != found {
        return Err(ResetError::file(
            path,
            format!("read back {} objects, wrote {}: the backup is not trustworthy", found.len(), expected.len()),
        ));
    }
    let on_disk = std::fs::read(path).map_err(|e| ResetError::file(path, e))?;
    Ok(format!("sha256:{:x}", Sha256::digest(&on_disk)))
}

/// temp file (0600) + write + fsync + rename + fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = owner_only(OpenOptions::new().write(true).create(true).truncate(true))
        .open(&tmp)
        .map_err(|e| ResetError::file(&tmp, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| ResetError::file(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| ResetError::file(path, e))?;
    sync_dir(dir)
}

/// Makes a rename or a new file in `dir` durable.
// cfg(unix): a directory is fsynced through a file descriptor of its own.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| ResetError::file(dir, e))
}

/// Nothing to do off unix: Windows opens no directory as a file (std's `File::open` refuses
/// one), and NTFS journals a rename and a file's creation itself.
// cfg(not(unix)): see above.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Files only their owner may read or write (0600): a backup may name internal hosts and paths.
fn owner_only(options: &mut OpenOptions) -> &mut OpenOptions {
    // cfg(unix): file modes are unix's; on Windows a new file inherits its directory's ACL (a
    // profile's directories are the user's own).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

/// A directory only its owner may enter (0700), its missing parents created as `mkdir -p` does.
fn owner_only_dir() -> DirBuilder {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    // cfg(unix): as in `owner_only`.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

/// Reads a backup (or any snapshot) and keeps the objects a reset covers, in file order.
pub fn read_backup(path: &Path) -> Result<Vec<Target>> {
    let snapshot = offline::read_paths(&[path.to_path_buf()])?;
    Ok(snapshot.objects().iter().filter_map(Target::from_object).collect())
}

/// The journal of one reset.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Every record so far, oldest first.
    pub records: Vec<Value>,
}

impl Journal {
    /// Starts the journal of a new reset in `dir` (created 0700 if missing); refuses a directory
    /// that already holds a journal (that reset is resumed, not restarted).
    pub fn create(dir: &Path) -> Result<Journal> {
        owner_only_dir().create(dir).map_err(|e| ResetError::file(dir, e))?;
        let path = dir.join(JOURNAL_FILE);
        if path.exists() {
            return Err(ResetError::Usage(format!(
                "{} already holds a reset; continue it with `kubectl flux-reset resume --dir {}` or choose another --dir",
                dir.display(),
                dir.display()
            )));
        }
        Ok(Journal { path, records: Vec::new() })
    }

    /// Opens the journal of an earlier reset.
    pub fn open(dir: &Path) -> Result<Journal> {
        let path = dir.join(JOURNAL_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ResetError::file(&path, format!("{e}; is {} the directory a reset wrote (--dir)?", dir.display()))
        })?;
        let mut records = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str::<Value>(line) {
                Ok(v) if v.get("step").and_then(Value::as_str).is_some_and(|s| STEPS.contains(&s)) => records.push(v),
                // A torn last line: the process died while writing it; that step is not done.
                Err(_) if i + 1 == lines.len() => {}
                _ => {
                    return Err(ResetError::file(&path, format!("line {}: not a journal record", i + 1)));
                }
            }
        }
        if records.first().and_then(|r| r.get("step")).and_then(Value::as_str) != Some("started") {
            return Err(ResetError::file(&path, "the journal does not begin with a started record"));
        }
        Ok(Journal { path, records })
    }

    /// The directory of this reset.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Records a completed step (appended and fsynced before returning); in the tests' builds,
    /// then honours `KUBECTL_FLUX_RESET_CRASH_AFTER`.
    pub fn record(&mut self, step: &'static str, mut fields: Value) -> Result<()> {
        let mut record = json!({"step": step});
        if let (Some(r), Some(f)) = (record.as_object_mut(), fields.as_object_mut()) {
            r.append(f);
        }
        let mut line = serde_json::to_string(&record).map_err(|e| ResetError::file(&self.path, e))?;
        line.push('\n');
        let new = !self.path.exists();
        let mut f = owner_only(OpenOptions::new().append(true).create(true))
            .open(&self.path)
            .map_err(|e| ResetError::file(&self.path, e))?;
        f.write_all(line.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| ResetError::file(&self.path, e))?;
        if new {
            sync_dir(self.dir())?;
        }
        self.records.push(record);
        #[cfg(feature = "crash-hook")]
        if std::env::var(CRASH_ENV).is_ok_and(|s| s == step) {
            crash();
        }
        Ok(())
    }

    /// Whether a step is recorded.
    pub fn done(&self, step: &str) -> bool {
        self.get(step).is_some()
    }

    /// A step's record.
    pub fn get(&self, step: &str) -> Option<&Value> {
        self.records.iter().rev().find(|r| r.get("step").and_then(Value::as_str) == Some(step))
    }

    /// The last completed step.
    pub fn last_step(&self) -> &str {
        self.records.last().and_then(|r| r.get("step")).and_then(Value::as_str).unwrap_or("")
    }
}

/// Ends the process at once, as a crash would: no destructor, no buffered output flushed.
// cfg(unix): SIGKILL, the crash the tests expect (exit 137), which nothing can catch.
#[cfg(all(feature = "crash-hook", unix))]
fn crash() {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
}

/// Ends the process at once, as a crash would: no destructor, no buffered output flushed.
// cfg(not(unix)): no signals to raise; an abort ends the process as abruptly.
#[cfg(all(feature = "crash-hook", not(unix)))]
fn crash() {
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_a_step_not_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path()).unwrap();
        j.record("started", json!({"id": "x"})).unwrap();
        j.record("backed-up", json!({})).unwrap();
        let p = dir.path().join(JOURNAL_FILE);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"step\":\"susp");
        std::fs::write(&p, text).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.last_step(), "backed-up");
        assert!(Journal::create(dir.path()).is_err());
        // cfg(unix): file modes are unix's.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
