//! The object model of the kubectl-flux plugins, the lowest layer of the suite's library.
//!
//! The plugins follow one path: flags are resolved once (`kubectl-flux-cli`), objects are read
//! from a cluster or from files (`kubectl-flux-source`) into a [`Snapshot`] of this crate, the
//! Flux model and the resource graph give them meaning (`kubectl-flux-graph`), the plugin
//! analyses, and `kubectl-flux-output` prints the answer. This crate holds what every layer
//! speaks: objects and their identities, kinds, Events, the snapshot, durations and times,
//! label selectors, the state an object is in, and the errors with their exit codes.

pub mod duration;
pub mod error;
pub mod event;
pub mod id_index;
pub mod json;
pub mod kinds;
pub mod lenient;
pub mod object;
pub mod selector;
pub mod snapshot;
pub mod state;
pub mod time;

pub use error::{Error, Result};
pub use json::Json;
pub use object::{Object, ObjectRef};
pub use snapshot::Snapshot;
pub use state::State;
