//! Where objects come from: a live cluster ([`live`]) or snapshot files ([`offline`]).
//! Both fill a [`Snapshot`](crate::Snapshot), so answers are identical either way.

pub mod live;
pub mod offline;

use crate::kinds::KindInfo;

/// What a plugin needs listed from a cluster: one entry per kind.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    /// The kind.
    pub kind: &'static KindInfo,
    /// Read only metadata (`PartialObjectMetadataList`): used for Secrets, whose data must never
    /// be read unless a plugin needs it.
    pub metadata_only: bool,
    /// A label selector applied to this kind's list (e.g. `owner=helm` for Helm storage).
    pub label_selector: Option<&'static str>,
}

impl Want {
    /// Lists every object of a kind in full.
    pub const fn all(kind: &'static KindInfo) -> Self {
        Want { kind, metadata_only: false, label_selector: None }
    }
}

/// Reads the snapshot a plugin works on: the `-f` files if any were given, else the cluster
/// (only the wanted kinds). Live reads show a spinner on a terminal's stderr.
pub fn load(flags: &crate::flags::CommonFlags, wants: &[Want]) -> crate::Result<crate::Snapshot> {
    if !flags.input.filenames.is_empty() {
        return offline::read_paths_filtered(&flags.input.filenames, &offline::Filter::wants(wants));
    }
    let spinner = crate::output::progress::spinner(&format!("listing {} kinds", wants.len()));
    let result = live::read(&flags.connection, &flags.scope, wants);
    spinner.finish_and_clear();
    result
}
