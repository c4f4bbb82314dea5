//! The reset's requests to the cluster, on the connection the shared library makes (kubeconfig
//! resolved as kubectl does). Every call is retried on 429/5xx and connection errors with
//! backoff within --request-timeout; idempotent by construction (patches set values, deletes
//! accept 404, creates accept 409), so a retry after a lost answer is harmless.

use crate::error::{ResetError, Result};
use backon::{ExponentialBuilder, Retryable};
use kubectl_flux_shared::source::live::{self, connection_message};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Accept header for full objects.
const JSON: &str = "application/json";
/// Accept header for metadata only.
const METADATA: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/// A connected cluster the reset may write to.
pub struct Api {
    client: kube::Client,
    timeout: Duration,
}

/// How one request ended when it did not succeed.
#[derive(Debug)]
enum Failure {
    /// Worth another try: 429, 5xx, a connection problem.
    Transient(String),
    /// The server answered with this status.
    Status(u16, String),
}

/// What a create found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was created.
    New,
    /// It existed already (a previous attempt, or someone else).
    Existed,
}

/// A resource the server serves: version, plural, whether namespaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Preferred version.
    pub version: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

impl Api {
    /// Connects as kubectl would (every shared connection flag honoured).
    pub async fn connect(flags: &kubectl_flux_shared::flags::ConnectionFlags) -> Result<Api> {
        let cluster = kubectl_flux_shared::source::live::connect(flags).await?;
        Ok(Api { client: cluster.client(), timeout: cluster.request_timeout() })
    }

    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
        accept: &str,
    ) -> std::result::Result<Value, Failure> {
        let attempt = || async {
            let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
            let request = http::Request::builder()
                .method(method.clone())
                .uri(path)
                .header(http::header::ACCEPT, accept)
                .header(http::header::CONTENT_TYPE, content_type)
                .body(bytes)
                .map_err(|e| Failure::Status(0, e.to_string()))?;
            match self.client.request_text(request).await {
                Ok(text) if text.trim().is_empty() => Ok(Value::Null),
                Ok(text) => serde_json::from_str(&text)
                    .map_err(|e| Failure::Status(0, format!("invalid JSON from the server: {e}"))),
                Err(kube::Error::Api(s)) => {
                    let message = format!("{} {}", s.code, s.message);
                    Err(match s.code {
                        429 | 500 | 502 | 503 | 504 => Failure::Transient(message),
                        code => Failure::Status(code, message),
                    })
                }
                Err(e) => Err(Failure::Transient(connection_message(&e))),
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times();
        let retried = attempt.retry(backoff).sleep(tokio::time::sleep).when(|f| matches!(f, Failure::Transient(_)));
        match tokio::time::timeout(self.timeout, retried).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Transient(format!(
                "no answer within --request-timeout {}",
                kubectl_flux_shared::duration::format_go(self.timeout)
            ))),
        }
    }

    fn error(call: String, f: Failure) -> ResetError {
        let message = match f {
            Failure::Transient(m) | Failure::Status(_, m) => m,
        };
        ResetError::Api { call, message }
    }

    /// GET one object; `None` when it does not exist.
    pub async fn get(&self, path: &str) -> Result<Option<Value>> {
        match self.send(http::Method::GET, path, None, "application/json", JSON).await {
            Ok(v) => Ok(Some(v)),
            Err(Failure::Status(404, _)) => Ok(None),
            Err(f) => Err(Self::error(format!("GET {path}"), f)),
        }
    }

    /// Lists a collection completely (every page); `metadata_only` asks for metadata only
    /// (`PartialObjectMetadataList`): managed objects and Helm storage Secrets, whose content
    /// the reset never needs (a Secret's data is never read).
    pub async fn list(&self, path: &str, label_selector: Option<&str>, metadata_only: bool) -> Result<Vec<Value>> {
        let accept = if metadata_only { METADATA } else { JSON };
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let query = live::page_query(label_selector, token.as_deref());
            let page = match self.send(http::Method::GET, &format!("{path}?{query}"), None, JSON, accept).await {
                Ok(p) => p,
                Err(Failure::Status(404, _)) => return Ok(items),
                Err(f) => return Err(Self::error(format!("LIST {path}"), f)),
            };
            if let Some(Value::Array(page_items)) = page.get("items") {
                items.extend(page_items.iter().cloned());
            }
            token = live::continue_token(&page);
            if token.is_none() {
                return Ok(items);
            }
        }
    }

    /// A JSON merge patch (RFC 7386); returns the object as the server stored it.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value> {
        self.send(http::Method::PATCH, path, Some(patch), "application/merge-patch+json", JSON)
            .await
            .map_err(|f| Self::error(format!("PATCH {path}"), f))
    }

    /// A merge patch that may find the object gone (`None`).
    pub async fn merge_patch_if_exists(&self, path: &str, patch: &Value) -> Result<Option<Value>> {
        match self.send(http::Method::PATCH, path, Some(patch), "application/merge-patch+json", JSON).await {
            Ok(v) => Ok(Some(v)),
            Err(Failure::Status(404, _)) => Ok(None),
            Err(f) => Err(Self::error(format!("PATCH {path}"), f)),
        }
    }

    /// Deletes one object, only if it still is the one with this uid and resourceVersion
    /// (preconditions), orphaning its dependents (`propagationPolicy: Orphan`: the garbage
    /// collector removes their ownerReferences instead of deleting them). Gone already is fine;
    /// `Ok(false)` when the preconditions no longer hold (the object changed: re-check it).
    pub async fn delete(&self, path: &str, uid: &str, resource_version: &str) -> Result<bool> {
        let body = serde_json::json!({
            "apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Orphan",
            "preconditions": {"uid": uid, "resourceVersion": resource_version},
        });
        match self.send(http::Method::DELETE, path, Some(&body), "application/json", JSON).await {
            Ok(_) | Err(Failure::Status(404, _)) => Ok(true),
            Err(Failure::Status(409, _)) => Ok(false),
            Err(f) => Err(Self::error(format!("DELETE {path}"), f)),
        }
    }

    /// Creates an object in a collection; an existing object of that name is reported, not an error.
    pub async fn create(&self, collection: &str, body: &Value) -> Result<Created> {
        match self.send(http::Method::POST, collection, Some(body), "application/json", JSON).await {
            Ok(_) => Ok(Created::New),
            Err(Failure::Status(409, _)) => Ok(Created::Existed),
            Err(f) => Err(Self::error(format!("POST {collection}"), f)),
        }
    }

    /// Every served resource, from aggregated discovery (`GET /api` and `GET /apis` as
    /// `APIGroupDiscoveryList`), keyed by (group, kind), preferred version first.
    pub async fn discover(&self) -> Result<HashMap<(String, String), Served>> {
        const ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        let mut out = HashMap::new();
        for path in ["/api", "/apis"] {
            let request = http::Request::get(path)
                .header(http::header::ACCEPT, ACCEPT)
                .body(Vec::new())
                .map_err(|e| ResetError::Api { call: format!("GET {path}"), message: e.to_string() })?;
            let doc: Value = tokio::time::timeout(self.timeout, self.client.request(request))
                .await
                .map_err(|_| ResetError::Api { call: format!("GET {path}"), message: "timed out".into() })?
                .map_err(|e| ResetError::Api {
                    call: format!("GET {path} (discovery)"),
                    message: connection_message(&e),
                })?;
            for g in doc.get("items").and_then(Value::as_array).into_iter().flatten() {
                let group = g.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                for v in g.get("versions").and_then(Value::as_array).into_iter().flatten() {
                    let version = v.get("version").and_then(Value::as_str).unwrap_or("");
                    for r in v.get("resources").and_then(Value::as_array).into_iter().flatten() {
                        let (Some(kind), Some(plural)) = (
                            r.pointer("/responseKind/kind").and_then(Value::as_str),
                            r.get("resource").and_then(Value::as_str),
                        ) else {
                            continue;
                        };
                        out.entry((group.to_string(), kind.to_string())).or_insert_with(|| Served {
                            version: version.to_string(),
                            plural: plural.to_string(),
                            namespaced: r.get("scope").and_then(Value::as_str) == Some("Namespaced"),
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}
