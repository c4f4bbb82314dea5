//! `--proxy`: a fault-injecting, request-counting reverse proxy between the kubeconfig and the
//! API server, so tests can make the API slow, throttled, failing or forbidden on demand and
//! watch how a client copes.
//!
//! The proxy terminates TLS with the API server's own serving certificate (valid for
//! 127.0.0.1, signed by the cluster's CA, so the kubeconfig's CA still verifies it) and forwards
//! every request over a new TLS connection. A request that carries an `Authorization` header
//! (a bearer token) is forwarded without a client certificate, so the API server authenticates
//! the token; every other request is forwarded with the admin client certificate, which is the
//! identity the kubeconfig's client certificate stands for. Faults are switched at run time
//! through a control endpoint (plain HTTP on another 127.0.0.1 port, `D/proxy.json`):
//!
//! - `GET /faults`, `POST /faults` (a [`Fault`] as JSON), `DELETE /faults`;
//! - `POST /drop-watches`: cut every open watch stream now (the client sees the connection end
//!   mid-stream, as when a load balancer drops it);
//! - `GET /requests`: requests seen by the proxy by verb, resource and namespace (all users).

use crate::audit::Count;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// One fault rule. A request it matches (all given filters) gets the fault; `times` counts down
/// and the rule is removed at zero (absent: until cleared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Only requests with this verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, ...), as the API server's audit log names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// Only this resource: `secrets`, or `group/resource` such as
    /// `kustomize.toolkit.fluxcd.io/kustomizations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// How many matching requests get the fault; absent: all until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// What a [`Fault`] does to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum FaultKind {
    /// Wait this long before forwarding.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Answer with this status and a Kubernetes `Status` body instead of forwarding
    /// (429 and 503 carry `Retry-After` when given).
    Status {
        /// HTTP status code.
        code: u16,
        /// Seconds for the `Retry-After` header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// Close the connection without answering.
    Reset,
}

impl Fault {
    fn matches(&self, verb: &str, resource: &str) -> bool {
        self.verb.as_deref().is_none_or(|v| v == verb) && self.resource.as_deref().is_none_or(|r| r == resource)
    }
}

/// Where a running proxy listens (`D/proxy.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoints {
    /// The proxy's URL (what the kubeconfig points at).
    pub server: String,
    /// The control endpoint's URL.
    pub control: String,
    /// The API server behind it.
    pub upstream: String,
}

impl Endpoints {
    /// Reads `dir/proxy.json`.
    pub fn read(dir: &Path) -> Result<Endpoints> {
        let path = dir.join("proxy.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{} has no proxy (start it with `devcluster up --proxy`)", dir.display()))?;
        serde_json::from_str(&text).with_context(|| path.display().to_string())
    }

    fn call(&self, method: &str, path: &str, body: Option<String>) -> Result<String> {
        let url = format!("{}{path}", self.control);
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
        let response = match (method, body) {
            ("POST", Some(body)) => agent.post(&url).header("content-type", "application/json").send(body),
            ("POST", None) => agent.post(&url).send_empty(),
            ("DELETE", _) => agent.delete(&url).call(),
            _ => agent.get(&url).call(),
        };
        let mut response = response.with_context(|| format!("{method} {url}"))?;
        Ok(response.body_mut().read_to_string()?)
    }

    /// Adds a fault rule.
    pub fn add(&self, fault: &Fault) -> Result<()> {
        self.call("POST", "/faults", Some(serde_json::to_string(fault)?)).map(drop)
    }

    /// The rules in force.
    pub fn faults(&self) -> Result<Vec<Fault>> {
        Ok(serde_json::from_str(&self.call("GET", "/faults", None)?)?)
    }

    /// Removes every rule.
    pub fn clear(&self) -> Result<()> {
        self.call("DELETE", "/faults", None).map(drop)
    }

    /// Cuts every open watch stream; returns how many.
    pub fn drop_watches(&self) -> Result<u64> {
        Ok(self.call("POST", "/drop-watches", None)?.trim().parse()?)
    }

    /// Requests the proxy saw, by verb, resource and namespace.
    pub fn requests(&self) -> Result<Vec<Count>> {
        Ok(serde_json::from_str(&self.call("GET", "/requests", None)?)?)
    }
}

#[derive(Default)]
struct State {
    faults: Vec<Fault>,
    counts: BTreeMap<(String, String, String), u64>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, Error>;

fn boxed(e: hyper::Error) -> Error {
    Box::new(e)
}
type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, Incoming>;

struct Proxy {
    state: Mutex<State>,
    upstream: String,
    /// With the admin client certificate.
    as_admin: Upstream,
    /// Without one: the request's own bearer token authenticates it.
    with_token: Upstream,
    /// Bumped by `/drop-watches`; open watch streams end when it changes.
    drop_watches: watch::Sender<u64>,
}

/// A running proxy; dropping it stops it.
pub struct Handle {
    /// Where it listens.
    pub endpoints: Endpoints,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("endpoints", &self.endpoints).finish()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a proxy for the cluster in `dir` (whose API server is `upstream`) on a thread of its
/// own and writes `dir/proxy.json`.
pub fn start(dir: &Path, upstream: &str) -> Result<Handle> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (listener, control) = runtime.block_on(async {
        Ok::<_, std::io::Error>((TcpListener::bind("127.0.0.1:0").await?, TcpListener::bind("127.0.0.1:0").await?))
    })?;
    let endpoints = Endpoints {
        server: format!("https://127.0.0.1:{}", listener.local_addr()?.port()),
        control: format!("http://127.0.0.1:{}", control.local_addr()?.port()),
        upstream: upstream.to_string(),
    };
    let proxy = Arc::new(Proxy::new(&dir.join("pki"), upstream)?);
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(&dir.join("pki"))?));
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new().name("devcluster-proxy".into()).spawn(move || {
        runtime.block_on(async move {
            tokio::select! {
                _ = serve(listener, tls, proxy.clone()) => {}
                _ = serve_control(control, proxy) => {}
                _ = stopped => {}
            }
        });
        runtime.shutdown_background();
    })?;
    let path = dir.join("proxy.json");
    let tmp = dir.join(".proxy.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&endpoints)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(Handle { endpoints, stop: Some(stop), thread: Some(thread) })
}

fn pem_certs(path: &Path) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_file_iter(path)
        .with_context(|| path.display().to_string())?
        .collect::<Result<_, _>>()
        .with_context(|| path.display().to_string())
}

fn pem_key(path: &Path) -> Result<rustls_pki_types::PrivateKeyDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::PrivateKeyDer::from_pem_file(path).with_context(|| path.display().to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(pki: &Path) -> Result<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(pem_certs(&pki.join("apiserver.crt"))?, pem_key(&pki.join("apiserver.key"))?)?;
    // HTTP/1.1 only: Go clients fall back to it; watches stream as chunked responses.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn upstream_client(pki: &Path, admin: bool) -> Result<Upstream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certs(&pki.join("ca.crt"))? {
        roots.add(cert)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = if admin {
        builder.with_client_auth_cert(pem_certs(&pki.join("admin.crt"))?, pem_key(&pki.join("admin.key"))?)?
    } else {
        builder.with_no_client_auth()
    };
    let connector =
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_only().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

impl Proxy {
    fn new(pki: &Path, upstream: &str) -> Result<Proxy> {
        Ok(Proxy {
            state: Mutex::default(),
            upstream: upstream.trim_end_matches('/').to_string(),
            as_admin: upstream_client(pki, true)?,
            with_token: upstream_client(pki, false)?,
            drop_watches: watch::channel(0).0,
        })
    }

    /// Counts the request and returns the faults it gets: total latency, then the first status
    /// or reset rule.
    fn faults_for(&self, verb: &str, resource: &str, namespace: &str) -> (Duration, Option<FaultKind>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state.counts.entry((verb.to_string(), resource.to_string(), namespace.to_string())).or_default() += 1;
        let (mut latency, mut answer) = (Duration::ZERO, None);
        for fault in state.faults.iter_mut().filter(|f| f.matches(verb, resource)) {
            match &fault.kind {
                FaultKind::Latency { ms } => latency += Duration::from_millis(*ms),
                kind if answer.is_none() => answer = Some(kind.clone()),
                _ => continue,
            }
            if let Some(times) = fault.times.as_mut() {
                *times = times.saturating_sub(1);
            }
        }
        state.faults.retain(|f| f.times != Some(0));
        (latency, answer)
    }

    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Body>> {
        let target = Target::parse(req.method().as_str(), req.uri());
        let (latency, answer) = self.faults_for(&target.verb, &target.resource, &target.namespace);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match answer {
            Some(FaultKind::Reset) => bail!("fault: reset"),
            Some(FaultKind::Status { code, retry_after }) => return Ok(status_response(code, retry_after, &target)),
            _ => {}
        }
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        parts.uri = format!("{}{path}", self.upstream).parse()?;
        parts.headers.remove(hyper::header::HOST);
        let client =
            if parts.headers.contains_key(hyper::header::AUTHORIZATION) { &self.with_token } else { &self.as_admin };
        let response = client.request(Request::from_parts(parts, body)).await?;
        let (parts, body) = response.into_parts();
        let body: Body = if target.verb == "watch" {
            // A watch stream ends abruptly (an error, not a clean end) when watches are dropped.
            let stream = futures::stream::unfold(Some((body, self.drop_watches.subscribe())), |open| async move {
                let (mut body, mut dropped) = open?;
                tokio::select! {
                    frame = body.frame() => Some((frame?.map_err(boxed), Some((body, dropped)))),
                    _ = dropped.changed() => Some((Err("fault: watch dropped".into()), None)),
                }
            });
            BodyExt::boxed(http_body_util::StreamBody::new(stream))
        } else {
            body.map_err(boxed).boxed()
        };
        Ok(Response::from_parts(parts, body))
    }
}

/// What a request is, in the audit log's words.
struct Target {
    verb: String,
    resource: String,
    namespace: String,
}

impl Target {
    fn parse(method: &str, uri: &hyper::Uri) -> Target {
        let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
        let watch = uri.query().is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        // /api/v1/... or /apis/group/version/...
        let (group, rest) = match segments.as_slice() {
            ["api", _version, rest @ ..] => ("", rest),
            ["apis", group, _version, rest @ ..] => (*group, rest),
            _ => {
                return Target {
                    verb: method.to_ascii_lowercase(),
                    resource: uri.path().to_string(),
                    namespace: String::new(),
                };
            }
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (ns.to_string(), rest),
            _ => (String::new(), rest),
        };
        let (resource, named) = match rest {
            [resource] => (resource.to_string(), false),
            [resource, _name] => (resource.to_string(), true),
            [resource, _name, sub, ..] => (format!("{resource}/{sub}"), true),
            _ => (String::new(), false),
        };
        let verb = match (method, named, watch) {
            (_, _, true) => "watch",
            ("GET", true, _) => "get",
            ("GET", false, _) => "list",
            ("POST", _, _) => "create",
            ("PUT", _, _) => "update",
            ("PATCH", _, _) => "patch",
            ("DELETE", true, _) => "delete",
            ("DELETE", false, _) => "deletecollection",
            (other, _, _) => return Target { verb: other.to_ascii_lowercase(), resource, namespace },
        };
        let resource = if group.is_empty() { resource } else { format!("{group}/{resource}") };
        Target { verb: verb.to_string(), resource, namespace }
    }
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).map_err(|e| match e {}).boxed()
}

/// A Kubernetes `Status` answer, as the API server would write it.
fn status_response(code: u16, retry_after: Option<u64>, target: &Target) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = match code {
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    };
    let message = match code {
        403 => format!("{} is forbidden: devcluster fault proxy: cannot {} resource", target.resource, target.verb),
        _ => format!("devcluster fault proxy: {} {}", code, status.canonical_reason().unwrap_or("")),
    };
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, "application/json".parse().expect("static header"));
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(hyper::header::RETRY_AFTER, seconds.into());
    }
    response
}

async fn serve(listener: TcpListener, tls: tokio_rustls::TlsAcceptor, proxy: Arc<Proxy>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (tls, proxy) = (tls.clone(), proxy.clone());
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(stream).await else { return };
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                async move { proxy.handle(req).await }
            });
            // An error from the service (a reset fault, an unreachable API server) closes the
            // connection without an answer.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn serve_control(listener: TcpListener, proxy: Arc<Proxy>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, std::convert::Infallible>(control(&proxy, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn control(proxy: &Proxy, req: Request<Incoming>) -> Response<Body> {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let answer = |code: StatusCode, body: String| {
        let mut response = Response::new(full(body));
        *response.status_mut() = code;
        response
    };
    match (method.as_str(), path.as_str()) {
        ("GET", "/faults") => {
            let state = proxy.state.lock().unwrap_or_else(|e| e.into_inner());
            answer(StatusCode::OK, serde_json::to_string(&state.faults).unwrap_or_default())
        }
        ("POST", "/faults") => {
            let body = match req.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) => return answer(StatusCode::BAD_REQUEST, e.to_string()),
            };
            match serde_json::from_slice::<Fault>(&body) {
                Ok(fault) => {
                    proxy.state.lock().unwrap_or_else(|e| e.into_inner()).faults.push(fault);
                    answer(StatusCode::OK, String::new())
                }
                Err(e) => answer(StatusCode::BAD_REQUEST, format!("not a fault: {e}")),
            }
        }
        ("DELETE", "/faults") => {
            proxy.state.lock().unwrap_or_else(|e| e.into_inner()).faults.clear();
            answer(StatusCode::OK, String::new())
        }
        ("POST", "/drop-watches") => {
            let open = proxy.drop_watches.receiver_count() as u64;
            proxy.drop_watches.send_modify(|n| *n += 1);
            answer(StatusCode::OK, open.to_string())
        }
        ("GET", "/requests") => {
            let state = proxy.state.lock().unwrap_or_else(|e| e.into_inner());
            let counts: Vec<Count> = state
                .counts
                .iter()
                .map(|((verb, resource, namespace), count)| Count {
                    verb: verb.clone(),
                    resource: resource.clone(),
                    namespace: namespace.clone(),
                    count: *count,
                })
                .collect();
            answer(StatusCode::OK, serde_json::to_string(&counts).unwrap_or_default())
        }
        _ => answer(StatusCode::NOT_FOUND, format!("no such control endpoint: {method} {path}")),
    }
}

/// Runs a proxy in the foreground until killed (the process `devcluster up --proxy` leaves
/// running).
pub fn run_forever(dir: &Path, upstream: &str) -> Result<()> {
    let handle = start(dir, upstream)?;
    eprintln!("devcluster proxy: {} -> {}", handle.endpoints.server, upstream);
    loop {
        std::thread::park();
    }
}
