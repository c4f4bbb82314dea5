//! The controllers' own words: the logs of every container of every Pod in a namespace (the
//! Flux controllers live in `flux-system`), through the API (`pods/log`).

use super::client::Call;
use super::connection::{Connection, connect};
use super::discovery::collection_path;
use super::list::JSON;
use kubectl_flux_model::error::Result;
use serde_json::Value;

/// Log texts by `pod/container`, and notes about the logs that could not be read.
pub type PodLogs = (Vec<(String, String)>, Vec<String>);

/// The logs of every container of every Pod in `namespace`, since `since` (`sinceTime`): one
/// list of Pods, then one log request per container.
pub fn pod_logs(
    connection: &Connection,
    namespace: &str,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<PodLogs> {
    super::block_on(async {
        let cluster = connect(connection).await?;
        let pods_path = collection_path("", "v1", "pods", namespace);
        let pods = cluster
            .get_json(&pods_path, JSON)
            .await
            .map_err(|f| f.into_error(&format!("list core/v1 pods in {namespace}")))?;
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for pod in pods.get("items").and_then(Value::as_array).into_iter().flatten() {
            let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
                let container = c.get("name").and_then(Value::as_str).unwrap_or("");
                let mut query = vec![("container", container.to_string())];
                if let Some(t) = since {
                    query.push(("sinceTime", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
                }
                let path = form_urlencoded(&format!("{pods_path}/{name}/log"), &query);
                match cluster.send(&Call::get(&path, "*/*")).await {
                    Ok(body) => out.push((format!("{name}/{container}"), String::from_utf8_lossy(&body).into_owned())),
                    Err(f) => notes.push(format!(
                        "logs of pod {namespace}/{name} container {container} not readable: {}",
                        f.into_error("pods/log")
                    )),
                }
            }
        }
        Ok((out, notes))
    })
}

/// `path?k=v&...`, the values percent-encoded as a query wants them.
pub(crate) fn form_urlencoded(path: &str, query: &[(&str, String)]) -> String {
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect();
    if encoded.is_empty() { path.to_string() } else { format!("{path}?{}", encoded.join("&")) }
}
