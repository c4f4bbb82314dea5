//! Errors and the exit codes they map to (DESIGN §3.3).

use std::path::PathBuf;

/// Exit code: the operation failed (cluster unreachable, file unreadable, API refused).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage error or malformed input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 3;

/// Everything that can go wrong in a plugin, each with the context a user needs to act.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// An input file could not be parsed.
    #[error("{file}: {message}")]
    Malformed {
        /// The file (or `-` for standard input).
        file: String,
        /// What is wrong, with line and object where known.
        message: String,
    },
    /// An input file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The kubeconfig could not be resolved.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// A request to the cluster failed after retries.
    #[error("{call}: {message}")]
    Api {
        /// The API call, e.g. `list kustomize.toolkit.fluxcd.io/v1 kustomizations`.
        call: String,
        /// What the server or the connection said.
        message: String,
    },
    /// The object the user named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The object the user named could not be read: its kind was not readable (see the notes).
    #[error("{0} could not be read: its kind is missing from the answer (see the note above)")]
    Unreadable(String),
    /// A `--jq` expression failed to compile or run.
    #[error("--jq: {0}")]
    Jq(String),
    /// Writing output failed (other than a closed pipe, which is success).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// What went wrong was already said on stderr (a fleet whose every cluster failed): exit
    /// with this code and print nothing more.
    #[error("exit {0}")]
    Reported(u8),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Malformed { .. } | Error::Jq(_) => EXIT_USAGE,
            Error::Read { .. }
            | Error::Kubeconfig(_)
            | Error::Api { .. }
            | Error::NotFound(_)
            | Error::Unreadable(_)
            | Error::Output(_) => EXIT_FAILED,
            Error::Reported(code) => *code,
        }
    }

    /// A usage error from any message.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }
}

/// The result type of the shared library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
