//! Access to a connected cluster for the one plugin that writes (flux-reset): the kube client
//! the shared connection built (kubeconfig resolved as kubectl does, impersonation, timeouts)
//! and the request timeout it honours. Reading stays in [`super`]; writes are the plugin's own.

use std::time::Duration;

impl super::Cluster {
    /// The connected client (cheap to clone: it shares one connection pool).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// `--request-timeout`: how long one request may take, retries included.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }
}
