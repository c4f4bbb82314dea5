//! The lock that stops two resets at once: a Lease (`kubectl-flux-reset`) in the controllers'
//! namespace, held by one reset id until that reset has resumed everything. The same reset
//! (`resume`) takes it over; another is refused with the holder's id and directory. A crashed
//! reset's lock does not expire: that reset must be resumed, or the Lease deleted by hand.

use crate::error::{ResetError, Result};
use crate::plan::LEASE;
use kubectl_flux_source::live::collection_path;
use kubectl_flux_source::live::{Cluster, Created};
use serde_json::{Value, json};

/// Takes the lock for `id`, or confirms this reset already holds it. Returns the holder id:
/// `id`, or, for a restore from the backup of a reset that stopped (`takeover_dir` is that
/// reset's directory), the stopped reset's id, so the restore releases its lock when done.
pub async fn acquire(
    api: &Cluster,
    namespace: &str,
    id: &str,
    dir: &str,
    takeover_dir: Option<&str>,
) -> Result<String> {
    let collection = collection_path("coordination.k8s.io", "v1", "leases", namespace);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let body = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE, "namespace": namespace, "annotations": {"kubectl-flux.io/reset-dir": dir}},
        "spec": {"holderIdentity": id, "acquireTime": now, "renewTime": now, "leaseDurationSeconds": 3600},
    });
    if api.create(&collection, &body).await? == Created::New {
        return Ok(id.to_string());
    }
    let path = format!("{collection}/{LEASE}");
    let lease = api.get(&path).await?.unwrap_or(Value::Null);
    let holder = lease.pointer("/spec/holderIdentity").and_then(Value::as_str).unwrap_or("");
    let other_dir =
        lease.pointer("/metadata/annotations/kubectl-flux.io~1reset-dir").and_then(Value::as_str).unwrap_or("?");
    if holder == id {
        return Ok(id.to_string());
    }
    if takeover_dir.is_some_and(|d| d == other_dir) {
        return Ok(holder.to_string());
    }
    if lease.is_null() {
        // Released between our create and our read: try once more.
        return match api.create(&collection, &body).await? {
            Created::New => Ok(id.to_string()),
            Created::Existed => Err(busy(namespace, "another reset", "")),
        };
    }
    let other_dir =
        lease.pointer("/metadata/annotations/kubectl-flux.io~1reset-dir").and_then(Value::as_str).unwrap_or("?");
    Err(busy(namespace, holder, other_dir))
}

fn busy(namespace: &str, holder: &str, dir: &str) -> ResetError {
    ResetError::Step {
        step: "lock",
        message: format!(
            "another reset ({holder}, directory {dir}) holds Lease {namespace}/{LEASE}: nothing was changed. Let it finish, or continue it with `kubectl flux-reset resume --dir {dir}`; only if that reset is abandoned, `kubectl delete lease -n {namespace} {LEASE}`"
        ),
    }
}

/// Releases the lock if `id` holds it.
pub async fn release(api: &Cluster, namespace: &str, id: &str) -> Result<()> {
    let path = format!("{}/{LEASE}", collection_path("coordination.k8s.io", "v1", "leases", namespace));
    if let Some(lease) = api.get(&path).await?
        && lease.pointer("/spec/holderIdentity").and_then(Value::as_str) == Some(id)
    {
        let uid = lease.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
        let rv = lease.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
        api.delete_exactly(&path, uid, rv).await?;
    }
    Ok(())
}
