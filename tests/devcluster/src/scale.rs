//! `devcluster gen` (module `scale`): a deterministic scale scenario as kubectl-style files, for benchmarks and
//! scale tests. At `--apps 10000 --tenants 200`: 10,000 Kustomizations, 1,000 HelmReleases,
//! 2,000 sources of mixed kinds with realistic sizes and intervals, 110,000 managed objects
//! (80,000 in inventories with Flux labels, their ReplicaSets and Pods), 200,000 Events and 1,000,000 controller log lines, plus a
//! few planted incidents (a guilty tenant, a dependsOn cycle, a missing StorageClass, one token
//! shared by many GitHub sources). Objects are streamed to `OUT/snapshot.json` (one `List`, the
//! offline snapshot) and log lines to `OUT/logs/kustomize-controller.log`, never held in memory.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Managed objects per application.
pub const OBJECTS_PER_APP: usize = 10;
/// Events per application.
pub const EVENTS_PER_APP: usize = 20;
/// Log lines per application.
pub const LOG_LINES_PER_APP: usize = 100;

/// A small deterministic generator (xorshift64*), so the same seed gives the same files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Objects in snapshot.json (Events included).
    pub objects: usize,
    /// Events.
    pub events: usize,
    /// Log lines.
    pub log_lines: usize,
}

struct Out<W: Write> {
    w: W,
    first: bool,
    counts: Counts,
}

impl<W: Write> Out<W> {
    fn item(&mut self, v: &Value) -> Result<()> {
        if !self.first {
            self.w.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.w, v)?;
        self.counts.objects += 1;
        if v["kind"] == "Event" {
            self.counts.events += 1;
        }
        Ok(())
    }
}

fn uid(seed: u64, kind: &str, ns: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{seed}/{kind}/{ns}/{name}").as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn ts(minutes_before: u64) -> String {
    let base =
        chrono::DateTime::parse_from_rfc3339("2026-11-20T10:30:00Z").expect("base time").with_timezone(&chrono::Utc);
    (base - chrono::Duration::seconds(minutes_before as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn meta(seed: u64, kind: &str, ns: &str, name: &str, labels: Value) -> Value {
    let mut m = json!({"name": name, "uid": uid(seed, kind, ns, name), "resourceVersion": "1000", "creationTimestamp": ts(7200), "labels": labels});
    if !ns.is_empty() {
        m["namespace"] = json!(ns);
    }
    m
}

fn ready(status: &str, reason: &str, message: &str, at: &str) -> Value {
    json!([{"type": "Ready", "status": status, "reason": reason, "message": message, "lastTransitionTime": at, "observedGeneration": 1}])
}

/// Writes the scenario into `out`.
pub fn generate(apps: usize, tenants: usize, seed: u64, out: &Path) -> Result<Counts> {
    let tenants = tenants.clamp(1, apps.max(1));
    std::fs::create_dir_all(out.join("logs")).with_context(|| out.display().to_string())?;
    let file = std::fs::File::create(out.join("snapshot.json"))?;
    let mut o = Out { w: BufWriter::with_capacity(1 << 20, file), first: true, counts: Counts::default() };
    o.w.write_all(b"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n")?;
    let logs = std::fs::File::create(out.join("logs/kustomize-controller.log"))?;
    let mut logs = BufWriter::with_capacity(1 << 20, logs);
    let mut rng = Rng(seed.max(1) ^ 0x9e37_79b9_7f4a_7c15);
    let kinds = ["GitRepository", "GitRepository", "GitRepository", "OCIRepository", "HelmRepository", "Bucket"];
    let intervals = ["1m0s", "2m0s", "5m0s", "5m0s", "10m0s", "15m0s", "30m0s"];
    let token_b64 = "Z2hwX0ZBS0VzaGFyZWRzY2FsZXRva2VuMDAwMDAwMDAwMDAwMA==";
    o.item(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(seed, "Namespace", "", "flux-system", json!({})), "status": {"phase": "Active"}}))?;
    o.item(&json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta(seed, "StorageClass", "", "standard", json!({})), "provisioner": "ebs.csi.aws.com"}))?;
    let sources_per_tenant = (apps / 5 / tenants).max(1);
    let apps_per_tenant = apps / tenants;
    let mut app = 0;
    for t in 0..tenants {
        let tenant = format!("tenant-{t:03}");
        let tl = json!({"toolkit.fluxcd.io/tenant": tenant});
        o.item(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(seed, "Namespace", "", &tenant, tl.clone()), "status": {"phase": "Active"}}))?;
        o.item(&json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta(seed, "Secret", &tenant, "git-token", json!({})), "data": {"username": "Z2l0", "password": token_b64}}))?;
        // Sources.
        let mut sources = Vec::new();
        for s in 0..sources_per_tenant {
            let kind = *rng.pick(&kinds);
            let name = format!("src-{s:02}");
            let guilty = t == 7 && s == 0;
            let interval = if guilty { "10s" } else { *rng.pick(&intervals) };
            let size: u64 = if guilty { 644_245_094_400 } else { 50_000 + rng.below(80_000_000) };
            let (group, spec) = match kind {
                "GitRepository" => (
                    "source.toolkit.fluxcd.io/v1",
                    json!({"interval": interval, "url": format!("https://github.com/acme-{tenant}/{name}"), "ref": {"branch": "main"}, "secretRef": {"name": "git-token"}}),
                ),
                "OCIRepository" => (
                    "source.toolkit.fluxcd.io/v1",
                    json!({"interval": interval, "url": format!("oci://ghcr.io/acme-{tenant}/{name}"), "ref": {"tag": "latest"}}),
                ),
                "HelmRepository" => (
                    "source.toolkit.fluxcd.io/v1",
                    json!({"interval": interval, "url": format!("https://charts.acme.example/{tenant}")}),
                ),
                _ => (
                    "source.toolkit.fluxcd.io/v1",
                    json!({"interval": interval, "bucketName": format!("{tenant}-{name}"), "endpoint": "s3.amazonaws.com"}),
                ),
            };
            let rev = format!("main@sha1:{:040x}", rng.next() as u128 * 7919);
            let status = json!({"observedGeneration": 1, "conditions": ready("True", "Succeeded", &format!("stored artifact for revision '{rev}'"), &ts(300 + rng.below(3000))),
                "artifact": {"revision": rev, "size": size, "digest": format!("sha256:{:064x}", rng.next()), "lastUpdateTime": ts(600), "path": format!("{}/{tenant}/{name}.tar.gz", kind.to_lowercase()), "url": format!("http://source-controller.flux-system.svc.cluster.local./{}/{tenant}/{name}.tar.gz", kind.to_lowercase())}});
            let mut m = meta(seed, kind, &tenant, &name, tl.clone());
            m["generation"] = json!(1);
            o.item(&json!({"apiVersion": group, "kind": kind, "metadata": m, "spec": spec, "status": status}))?;
            sources.push((kind, name));
        }
        // Applications: one Kustomization each, every tenth also a HelmRelease.
        let count = if t + 1 == tenants { apps - app } else { apps_per_tenant };
        for a in 0..count {
            let name = format!("app-{app:05}");
            app += 1;
            let (skind, sname) = sources
                .iter()
                .find(|(k, _)| *k != "HelmRepository")
                .cloned()
                .unwrap_or(("GitRepository", "src-00".into()));
            let failing = rng.below(50) == 0;
            let stuck_cycle = t == 3 && a < 3;
            let storage = t == 5 && a == 0;
            let l = json!({"kustomize.toolkit.fluxcd.io/name": name, "kustomize.toolkit.fluxcd.io/namespace": tenant, "app.kubernetes.io/name": name});
            let mut inventory = Vec::new();
            let deploy = format!("{name}-web");
            let objs: [(&str, &str, &str, String); 8] = [
                ("apps/v1", "Deployment", "apps", deploy.clone()),
                ("v1", "Service", "", deploy.clone()),
                ("v1", "ConfigMap", "", format!("{name}-config")),
                ("v1", "ServiceAccount", "", name.clone()),
                ("networking.k8s.io/v1", "Ingress", "networking.k8s.io", deploy.clone()),
                ("v1", "Secret", "", format!("{name}-env")),
                ("apps/v1", "StatefulSet", "apps", format!("{name}-cache")),
                ("v1", "PersistentVolumeClaim", "", format!("data-{name}-cache-0")),
            ];
            for (api, kind, group, oname) in &objs {
                let mut v =
                    json!({"apiVersion": api, "kind": kind, "metadata": meta(seed, kind, &tenant, oname, l.clone())});
                match *kind {
                    "Deployment" => {
                        v["spec"] = json!({"replicas": 2, "selector": {"matchLabels": {"app": oname}}, "template": {"metadata": {"labels": {"app": oname}}, "spec": {"containers": [{"name": "web", "image": "ghcr.io/acme/web:1.0", "envFrom": [{"configMapRef": {"name": format!("{name}-config")}}]}]}}});
                        v["status"] = json!({"replicas": 2, "readyReplicas": if failing { 0 } else { 2 }, "availableReplicas": if failing { 0 } else { 2 }, "observedGeneration": 1});
                    }
                    "StatefulSet" => {
                        let class = if storage { "fast-ssd" } else { "standard" };
                        v["spec"] = json!({"replicas": 1, "serviceName": oname, "selector": {"matchLabels": {"app": oname}}, "template": {"metadata": {"labels": {"app": oname}}, "spec": {"containers": [{"name": "redis", "image": "redis:7"}]}}, "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": "1Gi"}}}}]});
                        v["status"] = json!({"replicas": 1, "readyReplicas": if storage { 0 } else { 1 }});
                    }
                    "PersistentVolumeClaim" => {
                        let class = if storage { "fast-ssd" } else { "standard" };
                        v["spec"] = json!({"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": "1Gi"}}});
                        v["status"] = json!({"phase": if storage { "Pending" } else { "Bound" }});
                    }
                    "Service" => {
                        v["spec"] = json!({"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": oname}})
                    }
                    "ConfigMap" => v["data"] = json!({"LOG_LEVEL": "info"}),
                    "Secret" => {
                        v["type"] = json!("Opaque");
                        v["data"] = json!({"API_KEY": "RkFLRQ=="});
                    }
                    "Ingress" => {
                        v["spec"] = json!({"rules": [{"host": format!("{name}.{tenant}.example"), "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": oname, "port": {"number": 80}}}}]}}]})
                    }
                    _ => {}
                }
                o.item(&v)?;
                inventory.push(json!({"id": format!("{tenant}_{oname}_{group}_{kind}"), "v": api.rsplit('/').next().unwrap_or("v1")}));
            }
            // The Deployment's ReplicaSet and Pods (owner references, as the controllers set them).
            let rs = format!("{deploy}-6d4cf56db6");
            let owner = |kind: &str, n: &str| json!([{"apiVersion": "apps/v1", "kind": kind, "name": n, "uid": uid(seed, kind, &tenant, n), "controller": true, "blockOwnerDeletion": true}]);
            let mut rsm = meta(seed, "ReplicaSet", &tenant, &rs, json!({"app": deploy}));
            rsm["ownerReferences"] = owner("Deployment", &deploy);
            o.item(&json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rsm, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": deploy}}, "template": {"metadata": {"labels": {"app": deploy}}, "spec": {"containers": [{"name": "web", "image": "ghcr.io/acme/web:1.0"}]}}}, "status": {"replicas": 2, "readyReplicas": if failing { 0 } else { 2 }}}))?;
            for p in 0..2 {
                let pod = format!("{rs}-{p}x{a:03}");
                let mut pm = meta(seed, "Pod", &tenant, &pod, json!({"app": deploy}));
                pm["ownerReferences"] = owner("ReplicaSet", &rs);
                let state = if failing {
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}})
                } else {
                    json!({"running": {"startedAt": ts(3000)}})
                };
                o.item(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": pm, "spec": {"nodeName": "worker-1", "containers": [{"name": "web", "image": "ghcr.io/acme/web:1.0"}]},
                    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if failing { "False" } else { "True" }}], "containerStatuses": [{"name": "web", "ready": !failing, "restartCount": if failing { 12 } else { 0 }, "state": state}]}}))?;
            }
            let rev = format!("main@sha1:{:040x}", rng.next() as u128 * 104_729);
            let mut spec = json!({"interval": *rng.pick(&intervals[3..]), "path": format!("./apps/{name}"), "prune": true, "sourceRef": {"kind": skind, "name": sname}, "serviceAccountName": format!("{tenant}-reconciler"), "timeout": "5m0s"});
            if stuck_cycle {
                spec["dependsOn"] = json!([{"name": format!("app-{:05}", app - a - 1 + (a + 1) % 3)}]);
            }
            let (st, reason, msg) = if stuck_cycle {
                ("False", "DependencyNotReady", "dependency is not ready".to_string())
            } else if failing || storage {
                (
                    "False",
                    "HealthCheckFailed",
                    format!(
                        "health check failed after 5m0s: timeout waiting for: [Deployment/{tenant}/{deploy} status: 'InProgress']"
                    ),
                )
            } else {
                ("True", "ReconciliationSucceeded", format!("Applied revision: {rev}"))
            };
            let mut km = meta(seed, "Kustomization", &tenant, &name, tl.clone());
            km["generation"] = json!(1);
            let kustomization = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": km, "spec": spec,
                "status": {"observedGeneration": 1, "lastAppliedRevision": rev, "lastAttemptedRevision": rev, "conditions": ready(st, reason, &msg, &ts(600 + rng.below(3000))), "inventory": {"entries": inventory}}});
            o.item(&kustomization)?;
            if app % 10 == 0 {
                let repo = sources
                    .iter()
                    .find(|(k, _)| *k == "HelmRepository")
                    .map(|(_, n)| n.clone())
                    .unwrap_or_else(|| "src-00".into());
                let mut hm = meta(seed, "HelmRelease", &tenant, &name, tl.clone());
                hm["generation"] = json!(1);
                o.item(&json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": hm,
                    "spec": {"interval": "30m0s", "chart": {"spec": {"chart": "web", "version": "1.x", "sourceRef": {"kind": "HelmRepository", "name": repo}}}, "valuesFrom": [{"kind": "ConfigMap", "name": format!("{name}-config")}]},
                    "status": {"observedGeneration": 1, "conditions": ready("True", "UpgradeSucceeded", "Helm upgrade succeeded", &ts(900))}}))?;
            }
            // Events: reconcile successes, and warnings where something is wrong.
            for e in 0..EVENTS_PER_APP {
                let warn = (failing || storage || stuck_cycle) && e % 2 == 0;
                let (reason, message, typ) = if warn {
                    ("HealthCheckFailed", msg.clone(), "Warning")
                } else {
                    (
                        "ReconciliationSucceeded",
                        "Reconciliation finished in 1.2s, next run in 10m0s".to_string(),
                        "Normal",
                    )
                };
                let ename = format!("{name}.{e:04x}{:08x}", rng.next() as u32);
                let at = ts(60 * (EVENTS_PER_APP - e) as u64 + rng.below(50));
                o.item(&json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": ename, "namespace": tenant, "uid": uid(seed, "Event", &tenant, &ename), "creationTimestamp": at},
                    "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": name, "namespace": tenant, "uid": uid(seed, "Kustomization", &tenant, &name)},
                    "reason": reason, "message": message, "type": typ, "count": 1, "firstTimestamp": at, "lastTimestamp": at, "source": {"component": "kustomize-controller"}}))?;
            }
            for l in 0..LOG_LINES_PER_APP {
                let at = ts(36 * (LOG_LINES_PER_APP - l) as u64);
                let (level, msg) = if (failing || storage) && l % 10 == 0 {
                    ("error", "Reconciliation failed after 5m0.2s, next try in 10m0s")
                } else {
                    ("info", "Reconciliation finished in 1.2s, next run in 10m0s")
                };
                writeln!(
                    logs,
                    r#"{{"level":"{level}","ts":"{at}","msg":"{msg}","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{{"name":"{name}","namespace":"{tenant}"}},"namespace":"{tenant}","name":"{name}","reconcileID":"{:016x}"}}"#,
                    rng.next()
                )?;
                o.counts.log_lines += 1;
            }
        }
    }
    o.w.write_all(b"\n]}\n")?;
    o.w.flush()?;
    logs.flush()?;
    Ok(o.counts)
}
