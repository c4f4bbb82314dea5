//! Reading objects from a live cluster: the kubeconfig resolved as kubectl does, one discovery
//! request, then one list request per kind, all kinds concurrently. Never a GET per object.

use super::items::{Parsed, Served, parse_items};
use super::offline::Filter;
use crate::error::{Error, Result};
use crate::flags::{ConnectionFlags, ScopeFlags};
use crate::lenient::{Pick, texts};
use crate::object::Object;
use crate::snapshot::Snapshot;
use crate::source::Want;
use backon::{ExponentialBuilder, Retryable};
use http_body_util::BodyExt;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

mod access;

/// Page size for list requests.
const PAGE: usize = 500;

/// A connected client plus the namespace the kubeconfig context defaults to.
pub struct Cluster {
    client: kube::Client,
    /// The context's namespace (or `default`).
    pub default_namespace: String,
    timeout: Duration,
}

/// The kubeconfig as kubectl loads it: `--kubeconfig`, else every file in `KUBECONFIG` merged
/// (files that do not exist skipped, the first file's settings winning, as client-go's loading
/// rules do), else `~/.kube/config`; `None` when there is none.
pub fn kubeconfig(flags: &ConnectionFlags) -> Result<Option<Kubeconfig>> {
    Ok(match &flags.kubeconfig {
        Some(path) => {
            Some(Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?)
        }
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(list) => {
                let mut merged: Option<Kubeconfig> = None;
                for path in std::env::split_paths(&list).filter(|p| p.exists()) {
                    let kc = Kubeconfig::read_from(&path)
                        .map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?;
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

/// Resolves the kubeconfig exactly as kubectl does: `--kubeconfig`, else every file in
/// `KUBECONFIG` merged, else `~/.kube/config`, else the in-cluster service account; then
/// `--context/--cluster/--user`, `--server`, `--token`, `--certificate-authority`,
/// `--insecure-skip-tls-verify`, `--as/--as-group` and `--request-timeout`.
pub async fn connect(flags: &ConnectionFlags) -> Result<Cluster> {
    let options = KubeConfigOptions {
        context: flags.context.last().cloned(),
        cluster: flags.cluster.clone(),
        user: flags.user.clone(),
    };
    let from_file = kubeconfig(flags)?;
    let mut config = match from_file {
        Some(kc) => kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| Error::Kubeconfig(e.to_string()))?,
        None if flags.server.is_some() => kube::Config::new(parse_server(flags.server.as_deref().unwrap_or(""))?),
        None => kube::Config::incluster().map_err(|e| {
            Error::Kubeconfig(format!("no kubeconfig found (~/.kube/config, $KUBECONFIG) and not in a cluster ({e}); use --kubeconfig, or -f to read snapshot files"))
        })?,
    };
    if let Some(server) = &flags.server {
        config.cluster_url = parse_server(server)?;
    }
    if let Some(token) = &flags.token {
        config.auth_info.token = Some(token.clone().into());
        config.auth_info.client_certificate = None;
        config.auth_info.client_certificate_data = None;
        config.auth_info.client_key = None;
        config.auth_info.client_key_data = None;
    }
    if let Some(ca) = &flags.certificate_authority {
        let pem = std::fs::read(ca).map_err(|source| Error::Read { path: ca.clone(), source })?;
        config.root_cert =
            Some(pem_certificates(&pem).map_err(|m| Error::Kubeconfig(format!("{}: {m}", ca.display())))?);
    }
    if flags.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
    }
    if let Some(user) = &flags.as_user {
        config.auth_info.impersonate = Some(user.clone());
    }
    if !flags.as_groups.is_empty() {
        config.auth_info.impersonate_groups = Some(flags.as_groups.clone());
    }
    config.read_timeout = Some(flags.request_timeout);
    config.connect_timeout = Some(flags.request_timeout.min(Duration::from_secs(10)));
    config.default_retry = false;
    let default_namespace = config.default_namespace.clone();
    let client = kube::Client::try_from(config).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    Ok(Cluster { client, default_namespace, timeout: flags.request_timeout })
}

fn parse_server(server: &str) -> Result<http::Uri> {
    server.parse().map_err(|_| Error::usage(format!("--server {server:?} is not a URL")))
}

/// DER certificates from a PEM bundle.
fn pem_certificates(pem: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    use base64::Engine;
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file".to_string())?;
    let mut certs = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let b = body.take().ok_or("END without BEGIN")?;
            certs.push(base64::engine::general_purpose::STANDARD.decode(b).map_err(|_| "bad base64 in PEM")?);
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if certs.is_empty() {
        return Err("no CERTIFICATE block".to_string());
    }
    Ok(certs)
}

/// Why one request did not succeed.
#[derive(Debug)]
enum Failure {
    /// 429, 5xx, or a connection problem: try again (after the server's Retry-After if given).
    Transient { message: String, after: Option<Duration> },
    /// 403: the user may not list this kind.
    Forbidden(String),
    /// 404: the kind is not served (a Flux CRD not installed).
    NotFound,
    /// Anything else: give up.
    Fatal(String),
}

impl Cluster {
    /// One GET returning JSON, retried on 429/5xx/connection errors with exponential backoff
    /// honouring Retry-After, all within the request timeout.
    async fn get_json(&self, path: &str, accept: &str) -> std::result::Result<Value, Failure> {
        let body = self.get_body(path, accept).await?;
        serde_json::from_slice(&body).map_err(|e| Failure::Fatal(format!("invalid JSON from the server: {e}")))
    }

    /// One GET's successful response body, with the retries of [`Cluster::get_json`].
    async fn get_body(&self, path: &str, accept: &str) -> std::result::Result<bytes::Bytes, Failure> {
        let attempt = || async {
            let request = http::Request::get(path)
                .header(http::header::ACCEPT, accept)
                .body(kube::client::Body::empty())
                .map_err(|e| Failure::Fatal(e.to_string()))?;
            let response = self
                .client
                .send(request)
                .await
                .map_err(|e| Failure::Transient { message: connection_message(&e), after: None })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Failure::Transient { message: format!("reading response: {e}"), after: None })?
                .to_bytes();
            if status.is_success() {
                return Ok(body);
            }
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            let message = format!("{} {}", status.as_u16(), message);
            Err(match status.as_u16() {
                429 | 500 | 502 | 503 | 504 => Failure::Transient { message, after: retry_after },
                403 => Failure::Forbidden(message),
                404 => Failure::NotFound,
                401 => Failure::Fatal(format!("{message} (credentials rejected: expired token or wrong user?)")),
                _ => Failure::Fatal(message),
            })
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times();
        // What the server last said, for the error when the timeout ends the retries.
        let last = std::sync::Mutex::new(None::<String>);
        let retried = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f| matches!(f, Failure::Transient { .. }))
            .adjust(|f, delay| match f {
                Failure::Transient { after: Some(after), .. } => Some(*after),
                _ => delay,
            })
            .notify(|f, _| {
                if let Failure::Transient { message, .. } = f {
                    *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.clone());
                }
            });
        match tokio::time::timeout(self.timeout, retried).await {
            Ok(result) => result,
            Err(_) => {
                let last = last.lock().unwrap_or_else(|e| e.into_inner()).take();
                Err(Failure::Fatal(format!(
                    "no answer within --request-timeout {}{}",
                    crate::duration::format_go(self.timeout),
                    last.map(|m| format!(" (last answer: {m})")).unwrap_or_default()
                )))
            }
        }
    }

    /// The served version of every kind of every API group, from one aggregated discovery
    /// request (`GET /apis` as `APIGroupDiscoveryList`, Kubernetes >= 1.30), keyed by
    /// (group, kind) and in the server's order of preference. Servers without aggregated
    /// discovery answer with a plain `APIGroupList`: then each group's preferred version is used.
    async fn discover(&self) -> Result<HashMap<(String, String), String>> {
        const ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let doc = self.get_json("/apis", ACCEPT).await.map_err(|f| api_error("GET /apis (discovery)", f))?;
        let mut kinds = HashMap::new();
        if doc.get("kind").and_then(Value::as_str) == Some("APIGroupDiscoveryList") {
            for g in doc.get("items").and_then(Value::as_array).into_iter().flatten() {
                let group = g.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                for v in g.get("versions").and_then(Value::as_array).into_iter().flatten() {
                    let version = v.get("version").and_then(Value::as_str).unwrap_or("");
                    for r in v.get("resources").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(kind) = r.pointer("/responseKind/kind").and_then(Value::as_str) {
                            kinds.entry((group.to_string(), kind.to_string())).or_insert_with(|| version.to_string());
                        }
                    }
                }
            }
        } else {
            for g in doc.get("groups").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(name), Some(version)) = (
                    g.get("name").and_then(Value::as_str),
                    g.pointer("/preferredVersion/version").and_then(Value::as_str),
                ) {
                    for k in crate::kinds::all().filter(|k| k.group == name) {
                        kinds.insert((name.to_string(), k.kind.to_string()), version.to_string());
                    }
                }
            }
        }
        for k in crate::kinds::all().filter(|k| k.group.is_empty()) {
            kinds.insert((String::new(), k.kind.to_string()), "v1".to_string());
        }
        Ok(kinds)
    }

    /// Lists one kind completely (every page).
    async fn list(
        &self,
        want: &Want,
        version: &str,
        namespace: Option<&str>,
    ) -> std::result::Result<Vec<Parsed>, Failure> {
        let k = want.kind;
        let namespace = want.namespace.as_deref().or(namespace);
        let api_version = if k.group.is_empty() { version.to_string() } else { format!("{}/{version}", k.group) };
        let base = if k.group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{api_version}") };
        let path = match namespace {
            Some(ns) if k.namespaced => format!("{base}/namespaces/{ns}/{}", k.plural),
            _ => format!("{base}/{}", k.plural),
        };
        let accept = if want.metadata_only {
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        } else {
            "application/json"
        };
        let served = Served { api_version: &api_version, kind: k.kind };
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let query = list_query(want, token.as_deref());
            let url = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
            let body = self.get_body(&url, accept).await?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| Failure::Fatal(format!("invalid JSON from the server: {e}")))?;
            // The server filtered the list: every item is kept.
            let parsed = parse_items(&page.items, |item| item.get(), &Filter::all(), Some(served), false);
            for (i, item) in parsed.kept.into_iter().flatten() {
                items.push(item.map_err(|m| Failure::Fatal(format!("item {i}: {m}")))?);
            }
            token = page.token.filter(|t| !t.is_empty()).map(Cow::into_owned);
            if token.is_none() {
                return Ok(items);
            }
        }
    }
}

/// The query of one list of the live source: the whole kind in one request, without `limit`.
/// A consistent list without `limit` is served from the API server's watch cache (consistent
/// reads from cache, KEP-2340, on by default since Kubernetes 1.31), while every further page of
/// a paginated list is read from etcd, which counts the remaining keys for each page
/// (`remainingItemCount`): 400 pages of 200,000 Events took 43 s where one request took 4 s
/// (BENCHMARKS.md). A server that pages anyway sends a continue token, which is followed.
/// Events have no watch cache (kube-apiserver's `DefaultWatchCacheSizes` sets them to 0): a
/// cluster-wide Events list reads every Event from etcd whatever its field selector keeps, and
/// one in a namespace reads that namespace's only.
fn list_query(want: &Want, token: Option<&str>) -> String {
    let mut query = Vec::new();
    if let Some(sel) = want.label_selector {
        query.push(format!("labelSelector={}", encode(sel)));
    }
    let fields: Vec<String> = want
        .involved_kind
        .map(|kind| format!("involvedObject.kind={kind}"))
        .into_iter()
        .chain(want.involved_kind_not.iter().map(|kind| format!("involvedObject.kind!={kind}")))
        .collect();
    if !fields.is_empty() {
        query.push(format!("fieldSelector={}", encode(&fields.join(","))));
    }
    if let Some(t) = token {
        query.push(format!("continue={}", encode(t)));
    }
    query.join("&")
}

/// The query of one page of a list: `limit` (500 per page), the label selector and the
/// continue token of the previous page.
pub fn page_query(label_selector: Option<&str>, token: Option<&str>) -> String {
    let mut query = format!("limit={PAGE}");
    if let Some(sel) = label_selector {
        query.push_str(&format!("&labelSelector={}", encode(sel)));
    }
    if let Some(t) = token {
        query.push_str(&format!("&continue={}", encode(t)));
    }
    query
}

/// A list answer delimited in one pass: its items as slices of the body, to be parsed on every
/// core, and its continue token.
struct Page<'a> {
    items: Vec<&'a RawValue>,
    token: Option<Cow<'a, str>>,
}

impl<'de> serde::Deserialize<'de> for Page<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Page<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Page<'de>, A::Error> {
                let mut page = Page { items: Vec::new(), token: None };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "items" => page.items = map.next_value::<Option<Vec<&'de RawValue>>>()?.unwrap_or_default(),
                        "metadata" => [page.token] = texts(map.next_value_seed(Pick(["continue"]))?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(page)
            }
        }
        d.deserialize_map(V)
    }
}

/// The continue token of a list page, when more pages follow.
pub fn continue_token(page: &Value) -> Option<String> {
    page.pointer("/metadata/continue").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_string)
}

/// Percent-encodes a query value (label selectors, continue tokens).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A kube error with every cause it carries, joined by ": " (what a user needs to see for a
/// refused connection or a TLS failure).
pub fn connection_message(e: &kube::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn api_error(call: &str, failure: Failure) -> Error {
    let message = match failure {
        Failure::Transient { message, .. } | Failure::Forbidden(message) | Failure::Fatal(message) => message,
        Failure::NotFound => "404 not found".to_string(),
    };
    Error::Api { call: call.to_string(), message }
}

/// Reads the wanted kinds from the cluster into a snapshot: one discovery request, then every
/// kind listed concurrently. A kind whose CRD is not installed is skipped with a note; a kind
/// the user may not list (403) leaves a note saying what the answer lacks.
pub fn read(connection: &ConnectionFlags, scope: &ScopeFlags, wants: &[Want]) -> Result<Snapshot> {
    read_rounds(connection, scope, wants, |_| Vec::new())
}

/// Rounds after the first one at most: a bound on a caller that keeps asking.
pub const ROUNDS_MAX: usize = 8;

/// [`read`] in rounds over one connection: `first`, then what `next` asks for after seeing
/// every object read so far, round after round, until it asks for nothing (at most
/// [`ROUNDS_MAX`] rounds after the first).
pub fn read_rounds(
    connection: &ConnectionFlags,
    scope: &ScopeFlags,
    first: &[Want],
    mut next: impl FnMut(&Snapshot) -> Vec<Want>,
) -> Result<Snapshot> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Output)?;
    runtime.block_on(async {
        let cluster = connect(connection).await?;
        let namespace = namespace_scope(scope, &cluster);
        let served = cluster.discover().await?;
        let mut snapshot = Snapshot::new();
        snapshot.default_namespace = Some(cluster.default_namespace.clone());
        list_into(&cluster, &served, namespace.as_deref(), first, &mut snapshot).await?;
        for _ in 0..ROUNDS_MAX {
            let more = next(&snapshot);
            if more.is_empty() {
                break;
            }
            list_into(&cluster, &served, namespace.as_deref(), &more, &mut snapshot).await?;
        }
        Ok(snapshot)
    })
}

/// The namespace to list in: none with `-A`, else `-n`, else the context's namespace.
fn namespace_scope(scope: &ScopeFlags, cluster: &Cluster) -> Option<String> {
    if scope.all_namespaces {
        None
    } else {
        Some(scope.namespace.clone().unwrap_or_else(|| cluster.default_namespace.clone()))
    }
}

/// Lists the wanted kinds from a connected cluster.
pub async fn read_from(cluster: &Cluster, namespace: Option<&str>, wants: &[Want]) -> Result<Snapshot> {
    let served = cluster.discover().await?;
    let mut snapshot = Snapshot::new();
    list_into(cluster, &served, namespace, wants, &mut snapshot).await?;
    Ok(snapshot)
}

/// Lists the wanted kinds concurrently into `snapshot`.
async fn list_into(
    cluster: &Cluster,
    served: &HashMap<(String, String), String>,
    namespace: Option<&str>,
    wants: &[Want],
    snapshot: &mut Snapshot,
) -> Result<()> {
    let mut jobs = Vec::new();
    for want in wants {
        let k = want.kind;
        match served.get(&(k.group.to_string(), k.kind.to_string())) {
            Some(version) => {
                jobs.push(async move { (want, version.clone(), cluster.list(want, version, namespace).await) })
            }
            None => note(snapshot, not_served(k)),
        }
    }
    for (want, version, result) in futures::future::join_all(jobs).await {
        let k = want.kind;
        let group = if k.group.is_empty() { "core" } else { k.group };
        let call = match &want.namespace {
            Some(ns) => format!("list {group}/{version} {} in {ns}", k.plural),
            None => format!("list {group}/{version} {}", k.plural),
        };
        match result {
            Ok(items) => {
                // Only a list that returned its kind whole (or whole in one namespace) makes an
                // absent object of that kind a missing one.
                let whole = want.is_complete();
                if whole {
                    snapshot.mark_listed(k.group, k.kind);
                } else if let Some(ns) = want.namespace.as_deref().filter(|_| want.in_namespace_whole()) {
                    snapshot.mark_listed_in(k.group, k.kind, ns);
                }
                for item in items {
                    match item {
                        Parsed::Object(object) | Parsed::Partial(object, _) if whole => snapshot.insert(object),
                        Parsed::Object(object) | Parsed::Partial(object, _) => snapshot.insert_unlisted(object),
                        Parsed::Event(event) => snapshot.insert_event(event),
                        Parsed::Skipped(_) => {}
                        Parsed::Other(_) => {
                            return Err(Error::Api { call, message: "an item is not a Kubernetes object".into() });
                        }
                    }
                }
            }
            Err(Failure::NotFound) => note(snapshot, not_served(k)),
            Err(Failure::Forbidden(message)) => {
                let place = want.namespace.as_deref().map(|ns| format!(" in {ns}")).unwrap_or_default();
                note(
                    snapshot,
                    format!("forbidden to {call} ({message}); the answer lacks every {} object{place}", k.kind),
                )
            }
            Err(failure) => return Err(api_error(&call, failure)),
        }
    }
    Ok(())
}

/// The note for a kind the cluster does not serve.
fn not_served(k: &crate::kinds::KindInfo) -> String {
    format!("{} ({}) is not served by this cluster; skipped", k.kind, k.group)
}

/// Adds a note once: a kind listed in several namespaces, or in several rounds, is noted once.
fn note(snapshot: &mut Snapshot, text: String) {
    if !snapshot.notes.contains(&text) {
        snapshot.notes.push(text);
    }
}

/// Log texts by `pod/container`, and notes about the logs that could not be read.
pub type PodLogs = (Vec<(String, String)>, Vec<String>);

/// The logs of every container of every Pod in `namespace` (the Flux controllers live in
/// `flux-system`), through the API (`pods/log`, `sinceTime`): one list of Pods, then one log
/// request per container. Returns (pod/container, text) and notes for logs that could not be read.
pub fn pod_logs(
    connection: &ConnectionFlags,
    namespace: &str,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<PodLogs> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Output)?;
    runtime.block_on(async {
        let cluster = connect(connection).await?;
        let call = format!("list core/v1 pods in {namespace}");
        let pods = cluster
            .get_json(&format!("/api/v1/namespaces/{namespace}/pods"), "application/json")
            .await
            .map_err(|f| api_error(&call, f))?;
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for pod in pods.get("items").and_then(Value::as_array).into_iter().flatten() {
            let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
                let container = c.get("name").and_then(Value::as_str).unwrap_or("");
                let mut path =
                    format!("/api/v1/namespaces/{namespace}/pods/{name}/log?container={}", encode(container));
                if let Some(t) = since {
                    path.push_str(&format!(
                        "&sinceTime={}",
                        encode(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    ));
                }
                match cluster.get_text(&path).await {
                    Ok(text) => out.push((format!("{name}/{container}"), text)),
                    Err(f) => notes.push(format!(
                        "logs of pod {namespace}/{name} container {container} not readable: {}",
                        api_error("pods/log", f)
                    )),
                }
            }
        }
        Ok((out, notes))
    })
}

impl Cluster {
    /// One GET returning text (pod logs), with the same retries as [`Cluster::get_json`].
    async fn get_text(&self, path: &str) -> std::result::Result<String, Failure> {
        let request = http::Request::get(path).body(Vec::new()).map_err(|e| Failure::Fatal(e.to_string()))?;
        let fut = self.client.request_text(request);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(kube::Error::Api(s))) => Err(match s.code {
                403 => Failure::Forbidden(format!("403 {}", s.message)),
                404 => Failure::NotFound,
                _ => Failure::Fatal(format!("{} {}", s.code, s.message)),
            }),
            Ok(Err(e)) => Err(Failure::Fatal(connection_message(&e))),
            Err(_) => Err(Failure::Fatal("no answer within --request-timeout".into())),
        }
    }
}

/// What a watch reports, one call per object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Present in a (re)list: after a start, or after the watch expired (410 Gone).
    Listed,
    /// Added.
    Added,
    /// Modified.
    Modified,
    /// Deleted.
    Deleted,
}

/// Lists a kind, then watches it for ever: each object reaches `handle` once per list and once
/// per change. A dropped connection or an ended watch resumes from the last resourceVersion
/// seen (bookmarks included); a 410 Gone relists, and the objects come again as `Listed` so the
/// caller can tell what it already had. Stops when `handle` returns false.
pub fn watch(
    connection: &ConnectionFlags,
    namespace: Option<&str>,
    kind: &'static crate::kinds::KindInfo,
    mut handle: impl FnMut(Change, Object) -> bool,
) -> Result<()> {
    use futures::{AsyncBufReadExt, StreamExt};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Output)?;
    runtime.block_on(async {
        let cluster = connect(connection).await?;
        let served = cluster.discover().await?;
        let version = served.get(&(kind.group.to_string(), kind.kind.to_string())).cloned().ok_or_else(|| {
            Error::Api { call: format!("watch {}", kind.plural), message: "not served by this cluster".into() }
        })?;
        let api_version = if kind.group.is_empty() { version.clone() } else { format!("{}/{version}", kind.group) };
        let base = if kind.group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{api_version}") };
        let path = match namespace {
            Some(ns) if kind.namespaced => format!("{base}/namespaces/{ns}/{}", kind.plural),
            _ => format!("{base}/{}", kind.plural),
        };
        let call = format!("watch {}", kind.plural);
        let as_object = |mut v: Value| {
            if let Value::Object(m) = &mut v {
                m.insert("apiVersion".into(), Value::from(api_version.clone()));
                m.insert("kind".into(), Value::from(kind.kind));
            }
            Object::from_value(v).ok()
        };
        let (mut rv, items) = relist(&cluster, &path, &call).await?;
        for item in items {
            if let Some(o) = as_object(item)
                && !handle(Change::Listed, o)
            {
                return Ok(());
            }
        }
        let mut failures = 0u32;
        loop {
            let url =
                format!("{path}?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={}", encode(&rv));
            let request = http::Request::get(url)
                .body(Vec::new())
                .map_err(|e| Error::Api { call: call.clone(), message: e.to_string() })?;
            let mut gone = false;
            match cluster.client.request_stream(request).await {
                Ok(stream) => {
                    failures = 0;
                    let mut lines = stream.lines();
                    while let Some(line) = lines.next().await {
                        let Ok(line) = line else { break };
                        let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
                        let object = event.get("object").cloned().unwrap_or(Value::Null);
                        if let Some(v) = object.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                            rv = v.to_string();
                        }
                        let change = match event.get("type").and_then(Value::as_str) {
                            Some("ADDED") => Change::Added,
                            Some("MODIFIED") => Change::Modified,
                            Some("DELETED") => Change::Deleted,
                            Some("ERROR") => {
                                gone = object.get("code").and_then(Value::as_u64) == Some(410);
                                break;
                            }
                            _ => continue,
                        };
                        if let Some(o) = as_object(object)
                            && !handle(change, o)
                        {
                            return Ok(());
                        }
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 410 => gone = true,
                Err(e) => {
                    failures += 1;
                    if failures > 30 {
                        return Err(Error::Api { call, message: connection_message(&e) });
                    }
                }
            }
            if gone {
                let (new_rv, items) = relist(&cluster, &path, &call).await?;
                rv = new_rv;
                for item in items {
                    if let Some(o) = as_object(item)
                        && !handle(Change::Listed, o)
                    {
                        return Ok(());
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(failures.min(10)))).await;
            }
        }
    })
}

/// One full list for a watch: the resourceVersion to watch from, and the items.
async fn relist(cluster: &Cluster, path: &str, call: &str) -> Result<(String, Vec<Value>)> {
    let list = cluster.get_json(path, "application/json").await.map_err(|f| api_error(call, f))?;
    let rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("0").to_string();
    let items = list.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok((rv, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_said_in_several_rounds_is_said_once() {
        let mut snapshot = Snapshot::new();
        let cron = crate::kinds::find("batch", "CronJob").unwrap();
        note(&mut snapshot, not_served(cron));
        note(&mut snapshot, not_served(cron));
        note(&mut snapshot, "forbidden".into());
        assert_eq!(snapshot.notes, ["CronJob (batch) is not served by this cluster; skipped", "forbidden"]);
    }

    #[test]
    fn event_lists_carry_one_field_selector() {
        assert_eq!(list_query(&Want::events(), None), "");
        assert_eq!(
            list_query(&Want::events_about("Kustomization"), None),
            "fieldSelector=involvedObject.kind%3DKustomization"
        );
        assert_eq!(
            list_query(&Want::events_not_about(["Pod", "Node"]), Some("t=1")),
            "fieldSelector=involvedObject.kind%21%3DPod%2CinvolvedObject.kind%21%3DNode&continue=t%3D1"
        );
    }
}
