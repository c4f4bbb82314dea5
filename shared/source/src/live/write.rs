//! The requests of the one plugin that changes a cluster (flux-reset), on the same client,
//! retries and error words as every read. Each is idempotent by construction (patches set
//! values, deletes accept 404, creates accept 409), so a retry after a lost answer is harmless.

use super::client::{Call, Failure};
use super::connection::Cluster;
use super::list::{JSON, METADATA, list_path};
use kubectl_flux_model::error::Result;
use serde_json::Value;

/// What a create found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was created.
    New,
    /// It existed already (a previous attempt, or someone else).
    Existed,
}

fn json(body: &[u8]) -> std::result::Result<Value, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| Failure::Fatal(format!("invalid JSON from the server: {e}")))
}

impl Cluster {
    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
        content_type: &str,
    ) -> std::result::Result<Value, Failure> {
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
        let call =
            Call { method, path, accept: JSON, content_type: Some(content_type), body, limit: None, retries: None };
        json(&self.send(&call).await?)
    }

    /// GET one object; `None` when it does not exist.
    pub async fn get(&self, path: &str) -> Result<Option<Value>> {
        match self.send(&Call::get(path, JSON)).await.and_then(|b| json(&b)) {
            Ok(v) => Ok(Some(v)),
            Err(Failure::NotFound(_)) => Ok(None),
            Err(f) => Err(f.into_error(&format!("GET {path}"))),
        }
    }

    /// Lists a collection whole, as JSON values (every page the server sends); `metadata_only`
    /// asks for metadata only (`PartialObjectMetadataList`), for objects whose content is never
    /// needed (a Secret's data is never read). A collection not served lists as empty.
    pub async fn list_values(
        &self,
        path: &str,
        label_selector: Option<&str>,
        metadata_only: bool,
    ) -> Result<Vec<Value>> {
        let accept = if metadata_only { METADATA } else { JSON };
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let params = kube::api::ListParams {
                label_selector: label_selector.map(str::to_string),
                continue_token: token.clone(),
                ..Default::default()
            };
            let url = list_path(path, &params);
            let page = match self.send(&Call::get(&url, accept)).await.and_then(|b| json(&b)) {
                Ok(p) => p,
                Err(Failure::NotFound(_)) => return Ok(items),
                Err(f) => return Err(f.into_error(&format!("LIST {path}"))),
            };
            if let Some(Value::Array(page_items)) = page.get("items") {
                items.extend(page_items.iter().cloned());
            }
            token = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(items);
            }
        }
    }

    /// A JSON merge patch (RFC 7386); returns the object as the server stored it.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value> {
        self.call(http::Method::PATCH, path, Some(patch), "application/merge-patch+json")
            .await
            .map_err(|f| f.into_error(&format!("PATCH {path}")))
    }

    /// A merge patch that may find the object gone (`None`).
    pub async fn merge_patch_if_exists(&self, path: &str, patch: &Value) -> Result<Option<Value>> {
        match self.call(http::Method::PATCH, path, Some(patch), "application/merge-patch+json").await {
            Ok(v) => Ok(Some(v)),
            Err(Failure::NotFound(_)) => Ok(None),
            Err(f) => Err(f.into_error(&format!("PATCH {path}"))),
        }
    }

    /// Deletes one object, only if it still is the one with this uid and resourceVersion
    /// (preconditions), orphaning its dependents (`propagationPolicy: Orphan`: the garbage
    /// collector removes their ownerReferences instead of deleting them). Gone already is fine;
    /// `Ok(false)` when the preconditions no longer hold (the object changed: re-check it).
    pub async fn delete_exactly(&self, path: &str, uid: &str, resource_version: &str) -> Result<bool> {
        let body = serde_json::json!({
            "apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Orphan",
            "preconditions": {"uid": uid, "resourceVersion": resource_version},
        });
        match self.call(http::Method::DELETE, path, Some(&body), "application/json").await {
            Ok(_) | Err(Failure::NotFound(_)) => Ok(true),
            Err(Failure::Conflict(_)) => Ok(false),
            Err(f) => Err(f.into_error(&format!("DELETE {path}"))),
        }
    }

    /// Creates an object in a collection; an existing object of that name is reported, not an error.
    pub async fn create(&self, collection: &str, body: &Value) -> Result<Created> {
        match self.call(http::Method::POST, collection, Some(body), "application/json").await {
            Ok(_) => Ok(Created::New),
            Err(Failure::Conflict(_)) => Ok(Created::Existed),
            Err(f) => Err(f.into_error(&format!("POST {collection}"))),
        }
    }
}
