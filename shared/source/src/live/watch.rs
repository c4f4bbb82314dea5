//! Following a kind as it changes: list, then watch from the list's resourceVersion, resuming
//! after dropped connections and relisting after 410 Gone (flux-events `--watch`).

use super::client::connection_message;
use super::connection::{Cluster, Connection, connect};
use super::discovery::{Core, collection_path};
use super::list::JSON;
use kubectl_flux_model::error::{Error, Result};
use kubectl_flux_model::object::Object;
use serde_json::Value;
use std::time::Duration;

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
    connection: &Connection,
    namespace: Option<&str>,
    kind: &'static kubectl_flux_model::kinds::KindInfo,
    mut handle: impl FnMut(Change, Object) -> bool,
) -> Result<()> {
    use futures::{AsyncBufReadExt, StreamExt};
    super::block_on(async {
        let cluster = connect(connection).await?;
        let served = cluster.discover(Core::Known).await?;
        let call = format!("watch {}", kind.plural);
        let version = served
            .get(&(kind.group.to_string(), kind.kind.to_string()))
            .map(|s| s.version.clone())
            .ok_or_else(|| Error::Api { call: call.clone(), message: "not served by this cluster".into() })?;
        let api_version = if kind.group.is_empty() { version.clone() } else { format!("{}/{version}", kind.group) };
        let path =
            collection_path(kind.group, &version, kind.plural, namespace.filter(|_| kind.namespaced).unwrap_or(""));
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
        let params = kube::api::WatchParams { bookmarks: true, timeout: Some(300), ..Default::default() };
        let mut failures = 0u32;
        loop {
            let request = kube::core::Request::new(&path)
                .watch(&params, &rv)
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
    let list = cluster.get_json(path, JSON).await.map_err(|f| f.into_error(call))?;
    let rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("0").to_string();
    let items = list.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok((rv, items))
}
