//! Reaching one cluster: the kubeconfig resolved exactly as kubectl resolves it, then kubectl's
//! overrides (`--server`, `--token`, `--as`...), into a connected [`Cluster`] that knows which
//! context and which server it really talks to.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kubectl_flux_model::error::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach one cluster: kubectl's connection settings, as the command line resolved them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `--kubeconfig`: this file instead of `$KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: the kubeconfig context to use instead of its current one.
    pub context: Option<String>,
    /// `--cluster`: the kubeconfig cluster to use.
    pub cluster: Option<String>,
    /// `--user`: the kubeconfig user to use.
    pub user: Option<String>,
    /// `--server`: the API server's address, overriding the kubeconfig's.
    pub server: Option<String>,
    /// `--token`: a bearer token, overriding the kubeconfig's credentials (never printed).
    pub token: Option<String>,
    /// `--certificate-authority`: a CA bundle for the API server.
    pub certificate_authority: Option<PathBuf>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// `--as`: the user to impersonate.
    pub as_user: Option<String>,
    /// `--as-group`: the groups to impersonate.
    pub as_groups: Vec<String>,
    /// `--request-timeout`: how long one request may take, its retries included.
    pub request_timeout: Duration,
    /// Lists kept current by watches, set by a server that answers many questions about the
    /// same clusters (`kubectl flux-mcp --watch-cache`): reads are answered from it. Not a
    /// setting of the connection itself, so two connections differing only here are the same.
    pub watch_cache: Option<super::WatchCache>,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            kubeconfig: None,
            context: None,
            cluster: None,
            user: None,
            server: None,
            token: None,
            certificate_authority: None,
            insecure_skip_tls_verify: false,
            as_user: None,
            as_groups: Vec::new(),
            request_timeout: Duration::from_secs(30),
            watch_cache: None,
        }
    }
}

/// A connected client, and what it is connected to.
pub struct Cluster {
    pub(super) client: kube::Client,
    /// The context's namespace (or `default`).
    pub default_namespace: String,
    /// The kubeconfig context in use (`--context`, else the current context), `None` without a
    /// kubeconfig (in-cluster, or `--server` alone).
    pub context: Option<String>,
    /// The API server every request goes to, after `--server`.
    pub server: String,
    /// Whether `--server` sent the requests somewhere other than the context's own server.
    pub server_overridden: bool,
    pub(super) timeout: Duration,
}

/// The kubeconfig as kubectl loads it: `--kubeconfig`, else every file in `KUBECONFIG` merged
/// (files that do not exist skipped, the first file's settings winning, as client-go's loading
/// rules do), else `~/.kube/config`; `None` when there is none.
pub fn kubeconfig(connection: &Connection) -> Result<Option<Kubeconfig>> {
    let read =
        |path: &PathBuf| Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())));
    Ok(match &connection.kubeconfig {
        Some(path) => Some(read(path)?),
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(list) => {
                let mut merged: Option<Kubeconfig> = None;
                for path in std::env::split_paths(&list).filter(|p| p.exists()) {
                    let kc = read(&path)?;
                    merged = Some(match merged {
                        Some(m) => m.merge(kc).map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?,
                        None => kc,
                    });
                }
                merged
            }
            None => Kubeconfig::read().ok(),
        },
    })
}

/// Connects as kubectl would: the kubeconfig ([`kubeconfig`]), else the in-cluster service
/// account; then `--context/--cluster/--user`, `--server`, `--token`, `--certificate-authority`,
/// `--insecure-skip-tls-verify`, `--as/--as-group` and `--request-timeout`.
pub async fn connect(connection: &Connection) -> Result<Cluster> {
    let options = KubeConfigOptions {
        context: connection.context.clone(),
        cluster: connection.cluster.clone(),
        user: connection.user.clone(),
    };
    let from_file = kubeconfig(connection)?;
    let context = from_file
        .as_ref()
        .and_then(|kc| connection.context.clone().or_else(|| kc.current_context.clone()).filter(|c| !c.is_empty()));
    let mut config = match from_file {
        Some(kc) => kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| Error::Kubeconfig(e.to_string()))?,
        None if connection.server.is_some() => kube::Config::new(parse_server(connection.server.as_deref().unwrap_or(""))?),
        None => kube::Config::incluster().map_err(|e| {
            Error::Kubeconfig(format!("no kubeconfig found (~/.kube/config, $KUBECONFIG) and not in a cluster ({e}); use --kubeconfig, or -f to read snapshot files"))
        })?,
    };
    let own_server = config.cluster_url.to_string();
    if let Some(server) = &connection.server {
        config.cluster_url = parse_server(server)?;
    }
    if let Some(token) = &connection.token {
        config.auth_info.token = Some(token.clone().into());
        config.auth_info.client_certificate = None;
        config.auth_info.client_certificate_data = None;
        config.auth_info.client_key = None;
        config.auth_info.client_key_data = None;
    }
    if let Some(ca) = &connection.certificate_authority {
        let pem = std::fs::read(ca).map_err(|source| Error::Read { path: ca.clone(), source })?;
        config.root_cert =
            Some(pem_certificates(&pem).map_err(|m| Error::Kubeconfig(format!("{}: {m}", ca.display())))?);
    }
    if connection.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
    }
    if let Some(user) = &connection.as_user {
        config.auth_info.impersonate = Some(user.clone());
    }
    if !connection.as_groups.is_empty() {
        config.auth_info.impersonate_groups = Some(connection.as_groups.clone());
    }
    config.read_timeout = Some(connection.request_timeout);
    config.connect_timeout = Some(connection.request_timeout.min(Duration::from_secs(10)));
    config.default_retry = false;
    let default_namespace = config.default_namespace.clone();
    let server = config.cluster_url.to_string();
    let server_overridden = context.is_some() && server != own_server;
    let client = kube::Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    Ok(Cluster { client, default_namespace, context, server, server_overridden, timeout: connection.request_timeout })
}

impl Cluster {
    /// The connected client (cheap to clone: it shares one connection pool).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// `--request-timeout`: how long one request may take, retries included.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// The name a user must type to confirm a change to this cluster: the context's name, or
    /// the server's address when there is no context or `--server` points elsewhere (then the
    /// context's name would name a cluster that is not the one written to).
    pub fn confirmation_name(&self) -> String {
        match &self.context {
            Some(context) if !self.server_overridden => context.clone(),
            _ => self.server.trim_end_matches('/').to_string(),
        }
    }

    /// Where the requests go, in words: `context prod (https://10.0.0.1:6443)`.
    pub fn describe(&self) -> String {
        let server = self.server.trim_end_matches('/');
        match &self.context {
            Some(context) if self.server_overridden => {
                format!("server {server} (--server; credentials of context {context})")
            }
            Some(context) => format!("context {context} ({server})"),
            None => format!("server {server}"),
        }
    }
}

fn parse_server(server: &str) -> Result<http::Uri> {
    server.parse().map_err(|_| Error::usage(format!("--server {server:?} is not a URL")))
}

/// DER certificates from a PEM bundle.
fn pem_certificates(pem: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()).map_err(|e| format!("not a PEM certificate bundle: {e}")))
        .collect::<std::result::Result<_, _>>()?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block".to_string());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bundles_give_every_certificate_and_refuse_anything_else() {
        let one = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(format!("{one}junk\n{one}").as_bytes()).unwrap(), vec![vec![0, 1, 2]; 2]);
        assert_eq!(pem_certificates(b"hello").unwrap_err(), "no CERTIFICATE block");
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err());
    }
}
