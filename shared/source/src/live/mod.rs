//! Reading from (and, for flux-reset, writing to) a live cluster: the kubeconfig resolved as
//! kubectl does ([`connection`]), one request retried as the server asks ([`client`]), what the
//! cluster serves ([`discovery`]), lists into a snapshot in rounds ([`list`]), the controllers'
//! logs ([`logs`]) and Prometheus endpoints through the pod proxy ([`proxy`]), watches
//! ([`watch`]), the reset's writes ([`write`]), and lists kept current by watches for a server
//! that answers many questions ([`cache`]).

mod cache;
mod client;
mod connection;
mod discovery;
mod list;
mod logs;
mod proxy;
mod watch;
mod write;

pub use cache::WatchCache;
pub use client::connection_message;
pub use connection::{Cluster, Connection, connect, kubeconfig};
pub use discovery::{Core, Served, ServedKind, collection_path};
pub use list::{Namespaces, ROUNDS_MAX, read_rounds};
pub use logs::{PodLogs, pod_logs};
pub use proxy::{PodEndpoint, Proxied, read_pods};
pub use watch::{Change, watch};
pub use write::Created;

/// Runs a read on a runtime of its own, on this thread: every live entry point is synchronous
/// for its caller.
pub(crate) fn block_on<T>(
    work: impl std::future::Future<Output = kubectl_flux_model::Result<T>>,
) -> kubectl_flux_model::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(kubectl_flux_model::Error::Output)?
        .block_on(work)
}
