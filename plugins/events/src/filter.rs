//! Which entries the user wants: `--since`, `--type`, `--reason`, `--tenant`, `--grep`,
//! checked once and applied to every entry, of a timeline or of a watch.

use crate::args::Args;
use crate::timeline::Entry;
use chrono::{DateTime, Utc};
use kubectl_flux_graph::flux;
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::{ObjectRef, Snapshot};
use std::time::Duration;

/// The filters, checked.
#[derive(Debug, Clone)]
pub struct Filters {
    /// `--since`: only entries newer than this before "now".
    pub since: Option<Duration>,
    /// `--type`: only Warnings (`true`) or only Normal entries (`false`).
    pub warning: Option<bool>,
    /// `--reason` (repeatable): only these reasons.
    pub reasons: Vec<String>,
    /// `--tenant`: only objects of this tenant.
    pub tenant: Option<String>,
    /// `--grep`: only messages matching this.
    pub grep: Option<regex::Regex>,
}

impl Filters {
    /// The filters the flags ask for; a bad `--type` or `--grep` is a usage error.
    pub fn of(args: &Args) -> Result<Filters> {
        let grep = match &args.grep {
            Some(p) => Some(regex::Regex::new(p).map_err(|e| Error::usage(format!("--grep {p:?}: {e}")))?),
            None => None,
        };
        let warning = match args.kind.as_deref() {
            None => None,
            Some("Warning") => Some(true),
            Some("Normal") => Some(false),
            Some(t) => return Err(Error::usage(format!("--type {t:?}: use Warning or Normal"))),
        };
        Ok(Filters { since: args.since, warning, reasons: args.reasons.clone(), tenant: args.tenant.clone(), grep })
    }

    /// Whether the user wants this entry, at `now`.
    pub fn keeps(&self, e: &Entry, snapshot: &Snapshot, now: DateTime<Utc>) -> bool {
        if let Some(since) = self.since {
            let from = now - chrono::Duration::from_std(since).unwrap_or_default();
            if e.last.is_none_or(|t| t < from) {
                return false;
            }
        }
        if self.warning.is_some_and(|w| w != e.is_warning()) {
            return false;
        }
        if !self.reasons.is_empty() && !self.reasons.iter().any(|r| r == &e.reason) {
            return false;
        }
        if let Some(t) = &self.tenant
            && e.object.as_ref().is_none_or(|o| tenant_of(snapshot, o) != *t)
        {
            return false;
        }
        self.grep.as_ref().is_none_or(|g| g.is_match(&e.message))
    }
}

/// The tenant an object belongs to: its tenant label, else its namespace.
pub fn tenant_of(snapshot: &Snapshot, id: &ObjectRef) -> String {
    flux::tenant(snapshot, id, flux::TENANT_LABEL)
}
