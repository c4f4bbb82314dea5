//! What can stop a reset, each with what to do next, and the exit code it maps to.

use kubectl_flux_model::Error as SharedError;
use std::path::PathBuf;

/// Everything that can go wrong in flux-reset.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// A flag, argument or input is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A request to the cluster failed after retries (exit 1).
    #[error("{call}: {message}")]
    Api {
        /// The API call, e.g. `PATCH /apis/kustomize.toolkit.fluxcd.io/v1/namespaces/a/kustomizations/b`.
        call: String,
        /// What the server or the connection said.
        message: String,
    },
    /// A step could not be completed or confirmed; the reset stopped before the next step (exit 1).
    #[error("{step}: {message}")]
    Step {
        /// The step (`backup`, `suspend`, `delete`, ...).
        step: &'static str,
        /// What failed, what state the cluster is in, and what to run next.
        message: String,
    },
    /// Reading or writing the backup or the journal failed (exit 1).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Verification found an object lost or not back (exit 1).
    #[error("verification failed: {0}")]
    Verification(String),
    /// An error of the shared library (reading snapshots, connecting).
    #[error(transparent)]
    Shared(#[from] SharedError),
}

impl ResetError {
    /// A file error from an I/O error.
    pub fn file(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        ResetError::File { path: path.to_path_buf(), message: e.to_string() }
    }
}

impl From<ResetError> for SharedError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::Usage(m) => SharedError::Usage(m),
            ResetError::Shared(e) => e,
            ResetError::Api { call, message } => SharedError::Api { call, message },
            ResetError::Step { step, message } => SharedError::Api { call: step.to_string(), message },
            ResetError::File { path, message } => SharedError::Api { call: path.display().to_string(), message },
            ResetError::Verification(m) => SharedError::Api { call: "verification failed".into(), message: m },
        }
    }
}

/// The result type of flux-reset.
pub type Result<T, E = ResetError> = std::result::Result<T, E>;
