//! `devcluster load`: creates the objects of `kubectl get -o yaml|json` shaped files in a cluster,
//! as they were: Namespaces and CRDs first, owners before their dependents with
//! `ownerReferences` re-pointed to the uids the server gave the owners (else the garbage
//! collector deletes the dependents), then `.status` through the status subresource (a merge
//! patch), each level written concurrently. Events keep their timestamps. Objects are created (a
//! create costs the API server far less than a server-side apply: the 10,000-app scenario took
//! 988 s applied), and server-side applied when they exist already, so loading twice updates.

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use kube::discovery::{ApiResource, Discovery, Scope};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Requests in flight at once.
const PARALLEL: usize = 16;

/// Fields the API server sets; never sent back.
const SERVER_FIELDS: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// What a load did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Objects applied.
    pub applied: usize,
    /// Status subresources written.
    pub statuses: usize,
    /// Objects the server refused: file, object and the server's message.
    pub errors: Vec<String>,
}

/// One object read from a file.
#[derive(Debug, Clone)]
pub struct Object {
    /// The file it came from.
    pub file: PathBuf,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, empty when absent.
    pub namespace: String,
    /// The object as read.
    pub raw: Value,
}

impl Object {
    fn uid(&self) -> &str {
        self.raw.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("")
    }

    fn owner_uids(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .raw
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .map(|refs| refs.iter().filter_map(|r| r.get("uid").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        out.extend(self.raw.pointer("/spec/claimRef/uid").and_then(Value::as_str));
        out
    }
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ", self.file.display(), self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        write!(f, "{}", self.name)
    }
}

/// Reads files and directories (recursively: `.yaml`, `.yml`, `.json`, hidden entries skipped):
/// multi-document YAML or JSON, `List`s flattened. A malformed file or an object without
/// apiVersion, kind or name is an error naming the file.
pub fn read_paths(paths: &[PathBuf]) -> Result<Vec<Object>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files_in(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let docs: Vec<Value> = if text.trim_start().starts_with(['{', '[']) {
            vec![serde_json::from_str(&text).with_context(|| format!("{}: malformed JSON", file.display()))?]
        } else {
            serde_saphyr::from_multiple(&text).with_context(|| format!("{}: malformed YAML", file.display()))?
        };
        for doc in docs {
            flatten(&file, doc, &mut out)?;
        }
    }
    Ok(out)
}

fn files_in(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            files_in(&path, out)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "yaml" | "yml")) {
            out.push(path);
        }
    }
    Ok(())
}

fn flatten(file: &Path, doc: Value, out: &mut Vec<Object>) -> Result<()> {
    match doc {
        Value::Null => Ok(()),
        Value::Array(items) => items.into_iter().try_for_each(|d| flatten(file, d, out)),
        Value::Object(ref m)
            if m.get("kind").and_then(Value::as_str).is_some_and(|k| k == "List" || k.ends_with("List"))
                && m.get("items").is_some_and(Value::is_array) =>
        {
            let Value::Object(mut m) = doc else { unreachable!() };
            let Some(Value::Array(items)) = m.remove("items") else { unreachable!() };
            items.into_iter().try_for_each(|d| flatten(file, d, out))
        }
        Value::Object(ref m) => {
            let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
            let (api_version, kind, name) = (s("/apiVersion"), s("/kind"), s("/metadata/name"));
            if api_version.is_empty() || kind.is_empty() || name.is_empty() {
                bail!(
                    "{}: an object without apiVersion, kind or metadata.name: {}",
                    file.display(),
                    Value::Object(m.clone()).to_string().chars().take(200).collect::<String>()
                );
            }
            let namespace = s("/metadata/namespace");
            out.push(Object { file: file.to_path_buf(), api_version, kind, name, namespace, raw: doc });
            Ok(())
        }
        other => bail!(
            "{}: not a Kubernetes object: {}",
            file.display(),
            other.to_string().chars().take(200).collect::<String>()
        ),
    }
}

/// Loads files or directories into the cluster of `kubeconfig`.
pub async fn load(kubeconfig: &Path, paths: &[PathBuf]) -> Result<Summary> {
    load_objects(kubeconfig, read_paths(paths)?).await
}

/// Loads objects [`read_paths`] read into the cluster of `kubeconfig`.
pub async fn load_objects(kubeconfig: &Path, objects: Vec<Object>) -> Result<Summary> {
    let client = crate::client(kubeconfig).await?;
    let summary = Mutex::new(Summary::default());
    let uids: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());

    let first = |o: &Object| matches!(o.kind.as_str(), "Namespace" | "CustomResourceDefinition");
    let (early, rest): (Vec<Object>, Vec<Object>) = objects.into_iter().partition(first);
    let discovery = Discovery::new(client.clone()).run().await.context("API discovery")?;
    create_implied_namespaces(&client, &early, &rest).await?;
    let crds: Vec<String> =
        early.iter().filter(|o| o.kind == "CustomResourceDefinition").map(|o| o.name.clone()).collect();
    write_all(&client, &discovery, early, &uids, &summary).await;
    wait_for_crds(&client, &crds).await?;
    let discovery = Discovery::new(client.clone()).run().await.context("API discovery")?;

    // Owners before dependents: level = length of the longest owner chain within the files.
    let levels: Vec<usize> = {
        let by_uid: HashMap<&str, &Object> = rest.iter().map(|o| (o.uid(), o)).filter(|(u, _)| !u.is_empty()).collect();
        rest.iter().map(|o| if o.kind == "Event" { usize::MAX } else { depth(o, &by_uid, 0) }).collect()
    };
    let mut by_level: BTreeMap<usize, Vec<Object>> = BTreeMap::new();
    for (o, level) in rest.into_iter().zip(levels) {
        by_level.entry(level).or_default().push(o);
    }
    for (_, objs) in by_level {
        write_all(&client, &discovery, objs, &uids, &summary).await;
    }
    let summary = summary.into_inner().unwrap_or_default();
    Ok(summary)
}

/// Snapshots such as `kubectl get ks -A -o yaml` hold no Namespace objects: the namespaces their
/// objects live in are created (bare) when the files do not define them and the server lacks them.
async fn create_implied_namespaces(client: &kube::Client, early: &[Object], rest: &[Object]) -> Result<()> {
    let defined: std::collections::HashSet<&str> =
        early.iter().filter(|o| o.kind == "Namespace").map(|o| o.name.as_str()).collect();
    let implied: std::collections::BTreeSet<&str> =
        rest.iter().map(|o| o.namespace.as_str()).filter(|n| !n.is_empty() && !defined.contains(n)).collect();
    for ns in implied {
        let req = http::Request::get(format!("/api/v1/namespaces/{ns}")).body(Vec::new())?;
        match client.request::<Value>(req).await {
            Ok(_) => continue,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e).with_context(|| format!("looking up namespace {ns}")),
        }
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        crate::crds::apply(client, "/api/v1/namespaces", ns, &body).await?;
    }
    Ok(())
}

fn depth(o: &Object, by_uid: &HashMap<&str, &Object>, n: usize) -> usize {
    if n > 32 {
        return n;
    }
    o.owner_uids().iter().filter_map(|u| by_uid.get(u)).map(|owner| depth(owner, by_uid, n + 1) + 1).max().unwrap_or(0)
}

async fn wait_for_crds(client: &kube::Client, crds: &[String]) -> Result<()> {
    let start = std::time::Instant::now();
    for crd in crds {
        loop {
            let req = http::Request::get(format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}"))
                .body(Vec::new())?;
            let doc: Value = client.request(req).await?;
            let ok = doc
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
            if ok {
                break;
            }
            if start.elapsed().as_secs() > 60 {
                bail!("CRD {crd} not Established after 60s");
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn write_all(
    client: &kube::Client,
    discovery: &Discovery,
    objects: Vec<Object>,
    uids: &Mutex<HashMap<String, String>>,
    summary: &Mutex<Summary>,
) {
    futures::stream::iter(objects)
        .map(|mut o| async move {
            let result = write_one(client, discovery, &mut o, uids).await;
            let mut s = summary.lock().expect("summary");
            match result {
                Ok(status) => {
                    s.applied += 1;
                    s.statuses += usize::from(status);
                }
                Err(e) => s.errors.push(format!("{o}: {e:#}")),
            }
        })
        .buffer_unordered(PARALLEL)
        .collect::<Vec<()>>()
        .await;
}

/// The resource of an object's kind: its API resource, whether it is namespaced, whether it has
/// a status subresource.
fn resource(discovery: &Discovery, o: &Object) -> Result<(ApiResource, bool, bool)> {
    let (group, version) = o.api_version.split_once('/').unwrap_or(("", &o.api_version));
    for g in discovery.groups() {
        if g.name() != group {
            continue;
        }
        for (ar, caps) in g.versioned_resources(version) {
            if ar.kind == o.kind {
                let status = caps.subresources.iter().any(|(sub, _)| sub.plural == "status");
                return Ok((ar, caps.scope == Scope::Namespaced, status));
            }
        }
    }
    bail!("the server does not serve {} {}", o.api_version, o.kind)
}

/// What the loader reads of a written object: its uid.
#[derive(serde::Deserialize)]
struct Written {
    metadata: WrittenMeta,
}

#[derive(serde::Deserialize)]
struct WrittenMeta {
    #[serde(default)]
    uid: String,
}

/// Writes one object, then its status; returns whether a status was written.
async fn write_one(
    client: &kube::Client,
    discovery: &Discovery,
    o: &mut Object,
    uids: &Mutex<HashMap<String, String>>,
) -> Result<bool> {
    let (ar, namespaced, has_status) = resource(discovery, o)?;
    let old_uid = o.uid().to_string();
    let mut body = std::mem::take(&mut o.raw);
    // The server drops a status sent with the object where the kind has a status subresource;
    // elsewhere it keeps it.
    let status = if has_status { body.as_object_mut().and_then(|m| m.remove("status")) } else { None };
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in SERVER_FIELDS {
            meta.remove(*f);
        }
        if namespaced && !meta.contains_key("namespace") {
            meta.insert("namespace".into(), Value::from("default"));
        }
        if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
            let map = uids.lock().expect("uids");
            refs.retain_mut(|r| match r.get("uid").and_then(Value::as_str).and_then(|u| map.get(u)) {
                Some(new) => {
                    r["uid"] = Value::from(new.clone());
                    true
                }
                None => false,
            });
            if refs.is_empty() {
                meta.remove("ownerReferences");
            }
        }
    }
    repoint(&mut body, uids);
    if o.kind == "Service"
        && let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut)
    {
        // The snapshot's cluster IPs belong to another cluster's service range.
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    let ns = match (namespaced, o.namespace.as_str()) {
        (false, _) => "",
        (true, "") => "default",
        (true, ns) => ns,
    };
    let collection = collection_path(&ar, ns);
    let written = create_or_apply(client, &collection, &o.name, &body).await?;
    drop(body);
    if !old_uid.is_empty() && !written.metadata.uid.is_empty() {
        uids.lock().expect("uids").insert(old_uid, written.metadata.uid);
    }
    let Some(status) = status.filter(|s| s.as_object().is_some_and(|m| !m.is_empty())) else { return Ok(false) };
    let req = http::Request::patch(format!("{collection}/{}/status?fieldManager=devcluster-status", o.name))
        .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
        .body(serde_json::to_vec(&serde_json::json!({ "status": status }))?)?;
    match client.request::<serde::de::IgnoredAny>(req).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 => Ok(false),
        Err(e) => Err(e).context("writing status"),
    }
}

/// Creates the object (a plain create costs the API server far less than a server-side apply);
/// when it exists already, server-side applies it (field manager `devcluster`, forced), so
/// loading again updates.
async fn create_or_apply(client: &kube::Client, collection: &str, name: &str, body: &Value) -> Result<Written> {
    let context = || format!("applying {collection}/{name}");
    let bytes = serde_json::to_vec(body)?;
    let req = http::Request::post(format!("{collection}?fieldManager=devcluster"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(bytes.clone())?;
    match client.request::<Written>(req).await {
        Ok(w) => Ok(w),
        Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists" => {
            let req = http::Request::patch(format!("{collection}/{name}?fieldManager=devcluster&force=true"))
                .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
                .body(bytes)?;
            client.request::<Written>(req).await.with_context(context)
        }
        Err(e) => Err(e).with_context(context),
    }
}

/// Re-points uids that refer to other loaded objects: an Event's involvedObject, a PV's claimRef.
fn repoint(body: &mut Value, uids: &Mutex<HashMap<String, String>>) {
    let map = uids.lock().expect("uids");
    for pointer in ["/involvedObject/uid", "/regarding/uid", "/spec/claimRef/uid"] {
        if let Some(v) = body.pointer_mut(pointer)
            && let Some(new) = v.as_str().and_then(|u| map.get(u))
        {
            *v = Value::from(new.clone());
        }
    }
}

fn collection_path(ar: &ApiResource, ns: &str) -> String {
    let base =
        if ar.group.is_empty() { format!("/api/{}", ar.version) } else { format!("/apis/{}/{}", ar.group, ar.version) };
    if ns.is_empty() { format!("{base}/{}", ar.plural) } else { format!("{base}/namespaces/{ns}/{}", ar.plural) }
}
