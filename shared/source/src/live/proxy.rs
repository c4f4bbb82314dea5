//! Reading what a pod serves, through the API server's pod proxy
//! (`GET /api/v1/namespaces/NS/pods/POD:PORT/proxy/PATH`, RBAC `get` on `pods/proxy`): the
//! Flux controllers' Prometheus endpoints, every pod at once, each answer bounded in size.

use super::client::{Call, Failure};
use super::connection::{Connection, connect};
use kubectl_flux_model::error::Result;

/// One pod's endpoint to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEndpoint {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container port (a number, or the port's name).
    pub port: String,
    /// The path on the pod, e.g. `metrics`.
    pub path: String,
}

/// What one pod answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxied {
    /// The body, whole.
    Body(Vec<u8>),
    /// The user may not read through the pod proxy (403): RBAC `get` on `pods/proxy` is missing.
    Forbidden(String),
    /// Anything else: the pod is gone, not listening, the answer too large, no answer in time.
    Failed(String),
}

impl PodEndpoint {
    /// The API path of this endpoint through the pod proxy.
    pub fn api_path(&self) -> String {
        let pods = super::collection_path("", "v1", "pods", &self.namespace);
        format!("{pods}/{}:{}/proxy/{}", self.pod, self.port, self.path.trim_start_matches('/'))
    }
}

/// Reads every endpoint through the pod proxy, all at once over one connection; each answer
/// at most `limit` bytes. Fails only when the cluster cannot be reached at all.
pub fn read_pods(connection: &Connection, endpoints: &[PodEndpoint], limit: usize) -> Result<Vec<Proxied>> {
    super::block_on(async {
        let cluster = connect(connection).await?;
        let reads = endpoints.iter().map(|e| {
            let cluster = &cluster;
            async move {
                let path = e.api_path();
                let call =
                    Call { limit: Some(limit), retries: Some(2), ..Call::get(&path, "text/plain;version=0.0.4,*/*") };
                match cluster.send(&call).await {
                    Ok(body) => Proxied::Body(body.to_vec()),
                    Err(Failure::Forbidden(m)) => Proxied::Forbidden(m),
                    Err(f) => Proxied::Failed(f.into_error(&format!("GET {path}")).to_string()),
                }
            }
        });
        Ok(futures::future::join_all(reads).await)
    })
}
