//! `devcluster load`: creates the objects of `kubectl get -o yaml|json` shaped files in a cluster,
//! as they were: Namespaces and CRDs first, owners before their dependents with
//! `ownerReferences` re-pointed to the uids the server gave the owners (else the garbage
//! collector deletes the dependents), then `.status` through the status subresource. Events keep
//! their timestamps. Objects are server-side applied, so loading twice is harmless.

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
    let objects = read_paths(paths)?;
    let client = crate::client(kubeconfig).await?;
    let summary = Mutex::new(Summary::default());
    let uids: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());

    let first = |o: &&Object| matches!(o.kind.as_str(), "Namespace" | "CustomResourceDefinition");
    let (early, rest): (Vec<&Object>, Vec<&Object>) = objects.iter().partition(first);
    let discovery = Discovery::new(client.clone()).run().await.context("API discovery")?;
    apply_all(&client, &discovery, &early, &uids, &summary).await;
    create_implied_namespaces(&client, &early, &rest).await?;
    wait_for_crds(&client, &early).await?;
    let discovery = Discovery::new(client.clone()).run().await.context("API discovery")?;

    // Owners before dependents: level = length of the longest owner chain within the files.
    let by_uid: HashMap<&str, &Object> = rest.iter().map(|o| (o.uid(), *o)).filter(|(u, _)| !u.is_empty()).collect();
    let mut levels: BTreeMap<usize, Vec<&Object>> = BTreeMap::new();
    for o in &rest {
        let level = if o.kind == "Event" { usize::MAX } else { depth(o, &by_uid, 0) };
        levels.entry(level).or_default().push(o);
    }
    for (_, objs) in levels {
        apply_all(&client, &discovery, &objs, &uids, &summary).await;
    }
    let summary = summary.into_inner().unwrap_or_default();
    Ok(summary)
}

/// Snapshots such as `kubectl get ks -A -o yaml` hold no Namespace objects: the namespaces their
/// objects live in are created (bare) when the files do not define them and the server lacks them.
async fn create_implied_namespaces(client: &kube::Client, early: &[&Object], rest: &[&Object]) -> Result<()> {
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

async fn wait_for_crds(client: &kube::Client, early: &[&Object]) -> Result<()> {
    let start = std::time::Instant::now();
    for crd in early.iter().filter(|o| o.kind == "CustomResourceDefinition") {
        loop {
            let req =
                http::Request::get(format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{}", crd.name))
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
                bail!("CRD {} not Established after 60s", crd.name);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn apply_all(
    client: &kube::Client,
    discovery: &Discovery,
    objects: &[&Object],
    uids: &Mutex<HashMap<String, String>>,
    summary: &Mutex<Summary>,
) {
    futures::stream::iter(objects.iter().copied())
        .map(|o| async move {
            let result = apply_one(client, discovery, o, uids).await;
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

fn resource(discovery: &Discovery, o: &Object) -> Result<(ApiResource, bool)> {
    let (group, version) = o.api_version.split_once('/').unwrap_or(("", &o.api_version));
    for g in discovery.groups() {
        if g.name() != group {
            continue;
        }
        for (ar, caps) in g.versioned_resources(version) {
            if ar.kind == o.kind {
                return Ok((ar, caps.scope == Scope::Namespaced));
            }
        }
    }
    bail!("the server does not serve {} {}", o.api_version, o.kind)
}

/// Applies one object and its status; returns whether a status was written.
async fn apply_one(
    client: &kube::Client,
    discovery: &Discovery,
    o: &Object,
    uids: &Mutex<HashMap<String, String>>,
) -> Result<bool> {
    let (ar, namespaced) = resource(discovery, o)?;
    let mut body = o.raw.clone();
    let status = body.as_object_mut().and_then(|m| m.remove("status"));
    let old_uid = o.uid().to_string();
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
    let ns =
        if namespaced { o.raw.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default") } else { "" };
    let collection = collection_path(&ar, ns);
    let created = crate::crds::apply(client, &collection, &o.name, &body).await?;
    if let Some(new_uid) = created.pointer("/metadata/uid").and_then(Value::as_str)
        && !old_uid.is_empty()
    {
        uids.lock().expect("uids").insert(old_uid, new_uid.to_string());
    }
    let Some(status) = status.filter(|s| s.as_object().is_some_and(|m| !m.is_empty())) else { return Ok(false) };
    if o.kind == "Event" {
        return Ok(false);
    }
    let mut status_body = serde_json::json!({"apiVersion": o.api_version, "kind": o.kind, "metadata": {"name": o.name}, "status": status});
    if namespaced {
        status_body["metadata"]["namespace"] = Value::from(ns);
    }
    let req = http::Request::patch(format!("{collection}/{}/status?fieldManager=devcluster-status&force=true", o.name))
        .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
        .body(serde_json::to_vec(&status_body)?)?;
    match client.request::<Value>(req).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 405 => Ok(false),
        Err(e) => Err(e).context("writing status"),
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
