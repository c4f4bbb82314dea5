//! The state an object is in, in one word: what every plugin judges, colours and counts.

use serde::Serialize;

/// How an object is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "PascalCase")]
pub enum State {
    /// Ready / available / bound / exists and needs nothing more.
    Ready,
    /// Suspended by the user (Flux `spec.suspend`).
    Suspended,
    /// Working towards ready (rolling out, reconciling, terminating).
    Progressing,
    /// No status to judge from.
    Unknown,
    /// Failed or stuck.
    Failed,
    /// Referenced but does not exist.
    Missing,
}

impl State {
    /// Whether this state can hold up something that waits for it.
    pub fn is_problem(self) -> bool {
        matches!(self, State::Failed | State::Missing | State::Progressing)
    }
}
