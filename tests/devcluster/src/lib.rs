//! devcluster: a real local Kubernetes control plane for the plugins' tests, built from pinned
//! Go modules and run as local processes on 127.0.0.1 (those that pods stand for on the
//! machine's own address, see [`netaddr`]) (DESIGN §5). Tests use it as a library
//! (`Cluster::up` returns a guard that stops everything when dropped); the `devcluster` binary
//! offers the same as commands.

pub mod audit;
pub mod build;
pub mod cluster;
pub mod controllers;
pub mod crds;
pub mod fixtures;
pub mod flux;
pub mod gitserver;
pub mod load;
pub mod metrics_server;
pub mod netaddr;
pub mod operator;
pub mod pki;
mod ports;
pub mod proxy;
pub mod scale;
pub mod versions;

pub use cluster::{Cluster, Options};

use anyhow::{Context, Result};
use std::path::Path;

/// A kube client for a kubeconfig file.
pub async fn client(kubeconfig: &Path) -> Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).with_context(|| kubeconfig.display().to_string())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Loads files into a cluster (see [`load::load`]); a refused object is an error naming it.
pub fn load_files(kubeconfig: &Path, paths: &[std::path::PathBuf]) -> Result<load::Summary> {
    load_objects(kubeconfig, load::read_paths(paths)?)
}

/// Loads objects [`load::read_paths`] read (see [`load::load_objects`]).
pub fn load_objects(kubeconfig: &Path, objects: Vec<load::Object>) -> Result<load::Summary> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(load::load_objects(kubeconfig, objects))
}
