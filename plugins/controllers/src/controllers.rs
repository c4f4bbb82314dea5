//! The Flux controllers as the cluster runs them: their Deployments in the Flux namespace,
//! sharded copies (`kustomize-controller-shard1`, started with `--watch-label-selector`), their
//! pods (restarts, the last termination, OOM kills), resources, the flags that size them
//! (`--concurrent`, `--requeue-dependency`, `--kube-api-qps`), and the objects each reconciles.

use kubectl_flux_graph::{flux, health};
use kubectl_flux_model::json::Json;
use kubectl_flux_model::selector::Selector;
use kubectl_flux_model::{Object, Snapshot, State};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The metrics port a Flux controller declares (`config/manager/deployment.yaml`: container
/// port `http-prom`, 8080).
pub const METRICS_PORT_NAME: &str = "http-prom";

/// One controller Deployment: a Flux controller, or one of its shards.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Controller {
    /// The Deployment's name (`kustomize-controller`, `kustomize-controller-shard1`).
    pub name: String,
    /// The Flux controller it runs (`kustomize-controller`).
    pub component: &'static str,
    /// The shard key it watches (`shard1`), for a shard.
    pub shard: Option<String>,
    /// The image tag (`v1.9.5`).
    pub version: String,
    /// Replicas wanted and ready.
    pub replicas: (i64, i64),
    /// Its pods.
    pub pods: Vec<Pod>,
    /// CPU request and limit (millicores), memory request and limit (bytes).
    pub resources: Resources,
    /// `--concurrent`: workers per kind it reconciles.
    pub concurrent: u32,
    /// `--requeue-dependency`.
    #[serde(serialize_with = "go_duration")]
    pub requeue_dependency: Duration,
    /// `--watch-label-selector`, as given.
    pub watch_label_selector: Option<String>,
    /// `--kube-api-qps` and `--kube-api-burst`: its client-side limit on API requests.
    pub kube_api: (f64, u32),
    /// Objects it reconciles, by kind: how many, and how many are not Ready.
    pub objects: BTreeMap<String, Count>,
}

/// How many objects, and how many of them are not Ready (failed, not yet reconciled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Count {
    /// Objects.
    pub total: usize,
    /// Of which Ready=False or Stalled.
    pub not_ready: usize,
}

/// Resources of a controller's container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU request, millicores.
    pub cpu_request: Option<f64>,
    /// CPU limit, millicores.
    pub cpu_limit: Option<f64>,
    /// Memory request, bytes.
    pub memory_request: Option<f64>,
    /// Memory limit, bytes.
    pub memory_limit: Option<f64>,
}

/// One pod of a controller.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Its name.
    pub name: String,
    /// Running, Pending...
    pub phase: String,
    /// Ready condition.
    pub ready: bool,
    /// Container restarts.
    pub restarts: i64,
    /// How the container last ended, if it did.
    pub last_termination: Option<Termination>,
    /// The port its metrics are served on: the `http-prom` container port, else 8080.
    pub metrics_port: String,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Termination {
    /// `OOMKilled`, `Error`, `Completed`...
    pub reason: String,
    /// Its exit code (137: killed).
    pub exit_code: i64,
    /// When (RFC 3339).
    pub finished_at: Option<String>,
}

impl Controller {
    /// Apps it reconciles (Kustomizations and HelmReleases), the unit of the guide's sizing table.
    pub fn apps(&self) -> usize {
        ["Kustomization", "HelmRelease"].iter().filter_map(|k| self.objects.get(*k)).map(|c| c.total).sum()
    }

    /// Every object it reconciles, of every kind.
    pub fn object_count(&self) -> Count {
        self.objects
            .values()
            .fold(Count::default(), |a, c| Count { total: a.total + c.total, not_ready: a.not_ready + c.not_ready })
    }

    /// Restarts of all its pods.
    pub fn restarts(&self) -> i64 {
        self.pods.iter().map(|p| p.restarts).sum()
    }
}

fn go_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&kubectl_flux_model::duration::format_go(*d))
}

/// The Flux controller a Deployment runs, from its name (`kustomize-controller[-SHARD]`) or its
/// `app.kubernetes.io/component` label.
fn component_of(deployment: &Object) -> Option<(&'static str, Option<String>)> {
    let name = deployment.id.name.as_str();
    let label = deployment.label("app.kubernetes.io/component");
    flux::CONTROLLERS.iter().find_map(|c| {
        if name == *c || label == Some(*c) && !name.starts_with(&format!("{c}-")) {
            Some((*c, None))
        } else {
            name.strip_prefix(&format!("{c}-")).map(|shard| (*c, Some(shard.to_string())))
        }
    })
}

/// The value of `--FLAG=V` or `--FLAG V` among a container's arguments.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    args.iter().enumerate().find_map(|(i, a)| match a.strip_prefix(&long) {
        Some(rest) if rest.starts_with('=') => Some(&rest[1..]),
        Some("") => args.get(i + 1).map(String::as_str),
        _ => None,
    })
}

fn quantity(value: Option<&Json>) -> Option<f64> {
    let text = value?.as_str()?;
    let parsed: kube_quantity::ParsedQuantity = text.to_string().try_into().ok()?;
    parsed.to_bytes_f64()
}

/// The controller Deployments in `namespace`, each with its pods and the objects it reconciles.
pub fn find(snapshot: &Snapshot, namespace: &str) -> Vec<Controller> {
    let pods: Vec<&Object> = snapshot.of_kind("", "Pod").filter(|p| p.id.namespace == namespace).collect();
    let mut out: Vec<Controller> = snapshot
        .of_kind("apps", "Deployment")
        .filter(|d| d.id.namespace == namespace)
        .filter_map(|d| {
            let (component, named_shard) = component_of(d)?;
            let container = d.at("/spec/template/spec/containers").and_then(Json::as_array).and_then(|c| c.first());
            let args: Vec<String> = container
                .and_then(|c| c.get("args"))
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            let image = container.and_then(|c| c.get("image")).and_then(Json::as_str).unwrap_or("");
            let version = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("-").to_string();
            let res = |path: &str| quantity(container.and_then(|c| c.pointer(path)));
            let resources = Resources {
                cpu_request: res("/resources/requests/cpu").map(|c| c * 1000.0),
                cpu_limit: res("/resources/limits/cpu").map(|c| c * 1000.0),
                memory_request: res("/resources/requests/memory"),
                memory_limit: res("/resources/limits/memory"),
            };
            let selector = flag(&args, "watch-label-selector").map(str::to_string);
            let shard = named_shard.or_else(|| selector.as_deref().and_then(shard_key));
            let match_labels = d.at("/spec/selector/matchLabels").and_then(Json::as_object);
            let my_pods = pods
                .iter()
                .filter(|p| match_labels.is_some_and(|m| m.iter().all(|(k, v)| p.label(k) == v.as_str())))
                .map(|p| pod(p))
                .collect();
            Some(Controller {
                name: d.id.name.to_string(),
                component,
                shard,
                version,
                replicas: (
                    d.at("/spec/replicas").and_then(Json::as_i64).unwrap_or(1),
                    d.at("/status/readyReplicas").and_then(Json::as_i64).unwrap_or(0),
                ),
                pods: my_pods,
                resources,
                concurrent: flag(&args, "concurrent")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(default_concurrent(component)),
                requeue_dependency: flag(&args, "requeue-dependency")
                    .and_then(|d| kubectl_flux_model::duration::parse(d).ok())
                    .unwrap_or(Duration::from_secs(30)),
                watch_label_selector: selector,
                kube_api: (
                    flag(&args, "kube-api-qps").and_then(|q| q.parse().ok()).unwrap_or(50.0),
                    flag(&args, "kube-api-burst").and_then(|b| b.parse().ok()).unwrap_or(300),
                ),
                objects: BTreeMap::new(),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.component, &a.shard, &a.name).cmp(&(b.component, &b.shard, &b.name)));
    assign_objects(snapshot, &mut out);
    out
}

/// Flux's default `--concurrent` per controller (each controller's `main.go`: source-controller
/// 2, the others 4).
fn default_concurrent(component: &str) -> u32 {
    if component == "source-controller" { 2 } else { 4 }
}

/// The shard key a `--watch-label-selector` selects: `sharding.fluxcd.io/key in (shard1)`.
fn shard_key(selector: &str) -> Option<String> {
    let (key, rest) = selector.split_once(" in ")?;
    (key.trim() == SHARD_LABEL).then(|| rest.trim().trim_start_matches('(').trim_end_matches(')').trim().to_string())
}

/// The label that assigns an object to a shard (fluxcd.io/flux/installation/configuration/sharding).
pub const SHARD_LABEL: &str = "sharding.fluxcd.io/key";

fn pod(p: &Object) -> Pod {
    let statuses = p.at("/status/containerStatuses").and_then(Json::as_array);
    let first = statuses.and_then(|s| s.first());
    let last = first.and_then(|c| c.pointer("/lastState/terminated"));
    let container = p.at("/spec/containers").and_then(Json::as_array).and_then(|c| c.first());
    let ports = container.and_then(|c| c.get("ports")).and_then(Json::as_array);
    let named =
        ports.into_iter().flatten().find(|port| port.get("name").and_then(Json::as_str) == Some(METRICS_PORT_NAME));
    Pod {
        name: p.id.name.to_string(),
        phase: p.str_at("/status/phase").unwrap_or("Unknown").to_string(),
        ready: flux::condition(p, "Ready").is_some_and(|c| c.status == "True"),
        restarts: statuses.into_iter().flatten().filter_map(|c| c.get("restartCount").and_then(Json::as_i64)).sum(),
        last_termination: last.map(|t| Termination {
            reason: t.get("reason").and_then(Json::as_str).unwrap_or("").to_string(),
            exit_code: t.get("exitCode").and_then(Json::as_i64).unwrap_or(0),
            finished_at: t.get("finishedAt").and_then(Json::as_str).map(str::to_string),
        }),
        // The number, not the name: the pod proxy resolves names too, but kube-apiserver 1.36
        // panics on a named port (pkg/registry/core/pod/rest ProxyREST.Connect, a nil location).
        metrics_port: named
            .and_then(|p| p.get("containerPort"))
            .and_then(Json::as_i64)
            .map_or_else(|| "8080".to_string(), |n| n.to_string()),
    }
}

/// Counts each Flux object for the controller (and shard) that reconciles it: a shard's
/// `--watch-label-selector` picks its objects, the unsharded copy the rest.
fn assign_objects(snapshot: &Snapshot, controllers: &mut [Controller]) {
    let selectors: Vec<Option<Selector>> =
        controllers.iter().map(|c| c.watch_label_selector.as_deref().and_then(|s| Selector::parse(s).ok())).collect();
    for (component, kinds) in flux::RECONCILES {
        for kind in *kinds {
            let Some(info) = kubectl_flux_model::kinds::all().find(|k| k.kind == *kind) else { continue };
            for o in snapshot.of_kind(info.group, info.kind) {
                let owner = controllers
                    .iter()
                    .enumerate()
                    .position(|(i, c)| c.component == *component && selectors[i].as_ref().is_none_or(|s| s.matches(o)));
                if let Some(i) = owner {
                    let count = controllers[i].objects.entry(kind.to_string()).or_default();
                    count.total += 1;
                    // Ready=False (or Stalled), as the guide counts: objects without a status
                    // yet, or of kinds that report none (Alerts, Providers), are not failures.
                    if health::of(o).state == State::Failed {
                        count.not_ready += 1;
                    }
                }
            }
        }
    }
}

/// The Flux objects a controller reconciles, as references (for the shard plan and tenants).
pub fn objects_of<'a>(snapshot: &'a Snapshot, component: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
    flux::reconciled_by(component).iter().flat_map(move |kind| {
        kubectl_flux_model::kinds::all()
            .filter(move |k| k.kind == *kind && kubectl_flux_model::kinds::is_flux_group(k.group))
            .flat_map(move |k| snapshot.of_kind(k.group, k.kind))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_as_the_controllers_read_them() {
        let args: Vec<String> = ["--concurrent=8", "--watch-label-selector", "sharding.fluxcd.io/key in (shard1)"]
            .map(String::from)
            .to_vec();
        assert_eq!(flag(&args, "concurrent"), Some("8"));
        assert_eq!(flag(&args, "watch-label-selector"), Some("sharding.fluxcd.io/key in (shard1)"));
        assert_eq!(flag(&args, "concurrent-x"), None);
        assert_eq!(shard_key("sharding.fluxcd.io/key in (shard1)").as_deref(), Some("shard1"));
        assert_eq!(shard_key("sharding.fluxcd.io/key notin (shard1, shard2)"), None);
        assert_eq!(default_concurrent("source-controller"), 2);
    }
}
