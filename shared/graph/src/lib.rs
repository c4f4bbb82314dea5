//! What Flux objects mean and how objects hang together: the Flux model ([`flux`]: sources,
//! intervals, references, inventories; [`helm`]: Helm release storage), readiness ([`health`]),
//! the last successful reconcile ([`lastsuccess`]) and the resource graph ([`graph`]) every
//! analysis walks. Built on `kubectl-flux-model` alone: it reads no cluster and prints nothing.

pub mod flux;
pub mod graph;
pub mod health;
pub mod helm;
pub mod lastsuccess;
pub mod sizing;

pub use graph::Graph;
