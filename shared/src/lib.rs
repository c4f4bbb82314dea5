//! The common library of the kubectl-flux plugins.
//!
//! Every plugin follows the same one-way path: flags ([`flags`]) are resolved once, objects are
//! read from a cluster or from files ([`source`]) into a [`Snapshot`], the Flux object model
//! ([`flux`]) and the resource graph ([`graph`]) give them meaning, the plugin analyses, and
//! [`output`] renders the answer. Errors carry their exit code ([`error`]).

pub mod cli;
pub mod duration;
pub mod error;
pub mod event;
pub mod flags;
pub mod fleet;
pub mod flux;
pub mod graph;
pub mod health;
pub mod helm;
pub mod id_index;
pub mod json;
pub mod kinds;
pub mod lastsuccess;
pub mod lenient;
pub mod object;
pub mod output;
pub mod selector;
pub mod snapshot;
pub mod source;
pub mod time;

pub use error::{Error, Result};
pub use json::Json;
pub use object::{Object, ObjectRef};
pub use snapshot::Snapshot;
