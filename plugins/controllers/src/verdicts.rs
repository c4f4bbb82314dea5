//! Verdicts against the breaking points of Flux's performance guide (FLUX-FACTS.md: reconcile
//! time over 300 s, a workqueue over 100 items, memory growing over 10 MB/h, more than 10% of
//! objects not Ready, the sizing table, sharding beyond 200 apps), plus what the metrics show
//! directly (every worker held, OOM kills, memory near its limit, the API server throttling),
//! each with its evidence; then the decision: what to change first.

use crate::Severity;
use crate::controllers::Controller;
use crate::vitals::Vitals;
use bytesize::ByteSize;
use chrono::{DateTime, Utc};
use kubectl_flux_graph::sizing;
use kubectl_flux_model::duration::format_go;
use serde::Serialize;
use std::time::Duration;

/// The thresholds, from the flags (the guide's by default).
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// Reconcile time, seconds.
    pub reconcile: f64,
    /// Workqueue depth.
    pub queue: f64,
    /// Memory growth, bytes per hour.
    pub growth: f64,
    /// Share of objects not Ready (0..1).
    pub not_ready: f64,
    /// Share of the memory limit (0..1).
    pub memory: f64,
    /// How recent an OOM kill counts.
    pub oom_within: Duration,
}

/// One finding about one controller.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// How serious.
    pub severity: Severity,
    /// The controller (Deployment).
    pub controller: String,
    /// What was checked: `reconcile-time`, `queue`, `workers`, `memory-growth`, `not-ready`,
    /// `oom`, `memory-limit`, `sizing`, `sharding`, `throttled`, `not-running`.
    pub check: &'static str,
    /// What it means, in words.
    pub message: String,
    /// The figures it rests on.
    pub evidence: Vec<String>,
}

/// What to change, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// `memory`, `leak`, `shard`, `api-rate`, `github-rate`, `fix-objects`.
    pub action: &'static str,
    /// What to do and why.
    pub message: String,
    /// How to do it where the controllers are installed by a FluxInstance (the operator undoes
    /// edits to its Deployments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
}

fn bytes(b: f64) -> String {
    ByteSize(b.max(0.0) as u64).display().iec().to_string()
}

/// Growth in the guide's units (MB, decimal).
fn si(b: f64) -> String {
    ByteSize(b.max(0.0) as u64).display().si().to_string()
}

fn seconds(s: f64) -> String {
    format_go(Duration::from_secs_f64(s.max(0.0).round()))
}

/// Judges every controller; `apps` is the cluster's Kustomizations and HelmReleases.
pub fn judge(
    controllers: &[Controller],
    vitals: &[Vitals],
    apps: usize,
    now: DateTime<Utc>,
    t: &Thresholds,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    let sharded: Vec<&str> = controllers.iter().filter(|c| c.shard.is_some()).map(|c| c.component).collect();
    for (c, v) in controllers.iter().zip(vitals) {
        let mut say = |severity, check, message: String, evidence: Vec<String>| {
            out.push(Verdict { severity, controller: c.name.clone(), check, message, evidence })
        };
        if c.replicas.0 > 0 && (c.pods.is_empty() || c.pods.iter().all(|p| !p.ready)) {
            say(
                Severity::Critical,
                "not-running",
                format!("no pod of {} is Ready: nothing it owns is reconciled", c.name),
                c.pods.iter().map(|p| format!("pod {} {}", p.name, p.phase)).collect(),
            );
        }
        for p in &c.pods {
            let Some(term) = p.last_termination.as_ref().filter(|t| t.reason == "OOMKilled") else { continue };
            let at = term.finished_at.as_deref().and_then(kubectl_flux_model::time::parse);
            let recent = at.is_none_or(|at| (now - at).to_std().is_ok_and(|ago| ago <= t.oom_within) || at > now);
            if recent {
                let ago = at.map(|at| format!(" {} ago", kubectl_flux_model::time::age(now, at))).unwrap_or_default();
                let limit = c.resources.memory_limit.map(|l| format!(" at its {} limit", bytes(l))).unwrap_or_default();
                say(
                    Severity::Critical,
                    "oom",
                    format!("pod {} was OOMKilled{ago}{limit}: the limit is too low for what it holds", p.name),
                    vec![format!(
                        "lastState.terminated: OOMKilled, exit code {}, restarts {}",
                        term.exit_code, p.restarts
                    )],
                );
            }
        }
        let count = c.object_count();
        if count.total > 0 && count.not_ready as f64 / count.total as f64 > t.not_ready {
            say(
                Severity::Critical,
                "not-ready",
                format!(
                    "{} of its {} objects are not Ready ({:.0}%, over {:.0}%): a systemic failure, not one object",
                    count.not_ready,
                    count.total,
                    count.not_ready as f64 / count.total as f64 * 100.0,
                    t.not_ready * 100.0
                ),
                c.objects
                    .iter()
                    .filter(|(_, n)| n.not_ready > 0)
                    .map(|(k, n)| format!("{k}: {}/{} not Ready", n.not_ready, n.total))
                    .collect(),
            );
        }
        if let Some([p50, p95, p99]) = v.reconcile_seconds
            && p99 > t.reconcile
        {
            say(
                Severity::Critical,
                "reconcile-time",
                format!("reconciles take up to {} (p99), over {}: contention", seconds(p99), seconds(t.reconcile)),
                std::iter::once(format!("p50 {}, p95 {}, p99 {}", seconds(p50), seconds(p95), seconds(p99)))
                    .chain(
                        v.slowest
                            .iter()
                            .take(3)
                            .map(|s| format!("{}: {} on average", s.object, seconds(s.mean_seconds))),
                    )
                    .collect(),
            );
        }
        if let Some(depth) = v.queue_depth.filter(|d| *d > t.queue) {
            let trend = v.queue_depth_before.map(|b| format!(", was {b:.0} at the first scrape")).unwrap_or_default();
            say(
                Severity::Critical,
                "queue",
                format!("{depth:.0} items wait in its workqueue (over {:.0}): backpressure", t.queue),
                std::iter::once(format!("workqueue_depth {depth:.0}{trend}"))
                    .chain(
                        v.queue_wait_p95
                            .map(|w| format!("an item waits {} (p95) before a worker takes it", seconds(w))),
                    )
                    .collect(),
            );
        }
        if !v.saturated.is_empty() {
            let all = f64::from(c.concurrent);
            let longest = v.longest_running.unwrap_or(0.0);
            let holders: Vec<String> = v
                .slowest
                .iter()
                .take(all as usize)
                .map(|s| format!("{} ({} on average, tenant {})", s.object, seconds(s.mean_seconds), s.tenant))
                .collect();
            let severity = if longest > 60.0 { Severity::Critical } else { Severity::Warning };
            say(
                severity,
                "workers",
                format!(
                    "every {} worker (--concurrent={}) is busy and {:.0} objects wait: long reconciles hold them all",
                    v.saturated.join(", "),
                    c.concurrent,
                    v.queue_depth.unwrap_or(0.0)
                ),
                std::iter::once(format!("the longest running reconcile has run {}", seconds(longest)))
                    .chain(holders.into_iter().map(|h| format!("holding a worker: {h}")))
                    .collect(),
            );
        }
        if let Some(g) = v.memory_growth_per_hour.filter(|g| *g > t.growth) {
            say(
                Severity::Warning,
                "memory-growth",
                format!("memory grows {}/h (over {}/h): a leak; restart it and find the cause", si(g), si(t.growth)),
                vec![format!("resident memory {} now", v.memory.map(bytes).unwrap_or_else(|| "?".into()))],
            );
        }
        if let (Some(m), Some(limit)) = (v.memory, c.resources.memory_limit)
            && limit > 0.0
            && m / limit > t.memory
        {
            say(
                Severity::Warning,
                "memory-limit",
                format!("memory is {:.0}% of its limit: the next spike is an OOM kill", m / limit * 100.0),
                vec![format!("resident {} of {}", bytes(m), bytes(limit))],
            );
        }
        let owned = c.apps();
        if owned > 0 || c.component == "source-controller" {
            let want = sizing::band(owned.max(apps));
            let low_memory = c.resources.memory_limit.is_some_and(|l| l < want.memory_bytes());
            let low_cpu = c.resources.cpu_limit.is_some_and(|l| l < want.cpu_millis());
            if low_memory || low_cpu {
                say(
                    Severity::Warning,
                    "sizing",
                    format!(
                        "limits below the guide's sizing for {} ({} memory, {} CPU per controller)",
                        want.scale, want.memory_per_controller, want.cpu_per_controller
                    ),
                    vec![format!(
                        "limits: memory {}, cpu {}",
                        c.resources.memory_limit.map(bytes).unwrap_or_else(|| "none".into()),
                        c.resources.cpu_limit.map(|m| format!("{m:.0}m")).unwrap_or_else(|| "none".into())
                    )],
                );
            }
        }
        if sizing::band(owned).sharded && c.shard.is_none() && !sharded.contains(&c.component) {
            say(
                Severity::Warning,
                "sharding",
                format!("{} reconciles {owned} apps alone: the guide shards beyond 200 apps", c.name),
                vec![format!("{apps} apps in the cluster, no shard of {}", c.component)],
            );
        }
        if v.throttled > 0.0 {
            say(
                Severity::Warning,
                "throttled",
                format!(
                    "the API server answered {:.0} of its requests with 429 Too Many Requests{}",
                    v.throttled,
                    if v.sampled { " in the sample" } else { " since it started" }
                ),
                vec![format!("--kube-api-qps {} --kube-api-burst {}", c.kube_api.0, c.kube_api.1)],
            );
        }
    }
    out.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.controller.cmp(&b.controller)).then(a.check.cmp(b.check))
    });
    out
}

/// What to change first, from the verdicts: memory, then CPU and queues (shard), then the API
/// rate; a systemic failure points at the objects.
pub fn decide(verdicts: &[Verdict], apps: usize, github_rate_limited: bool) -> Vec<Step> {
    let band = sizing::band(apps);
    let with = |checks: &[&str]| -> Vec<&Verdict> { verdicts.iter().filter(|v| checks.contains(&v.check)).collect() };
    let names = |vs: &[&Verdict]| -> String {
        let mut n: Vec<&str> = vs.iter().map(|v| v.controller.as_str()).collect();
        n.sort();
        n.dedup();
        n.join(", ")
    };
    let mut steps = Vec::new();
    let memory = with(&["oom", "memory-limit", "sizing"]);
    if !memory.is_empty() {
        steps.push(Step {
            action: "memory",
            message: format!(
                "memory first: raise the memory limit of {}: the guide gives {} per controller at {} (2GB at 500+ apps); a controller that is OOMKilled reconciles nothing",
                names(&memory),
                band.memory_per_controller,
                band.scale
            ),
            through: None,
        });
    }
    let leaking = with(&["memory-growth"]);
    if !leaking.is_empty() {
        steps.push(Step {
            action: "leak",
            message: format!(
                "restart {} (its memory keeps growing) and find the cause: a bigger limit only postpones the OOM kill",
                names(&leaking)
            ),
            through: None,
        });
    }
    let busy = with(&["reconcile-time", "queue", "workers", "sharding"]);
    if !busy.is_empty() {
        steps.push(Step {
            action: "shard",
            message: format!(
                "then CPU and queues: shard {} (the shard plan below says which objects go where); raising --concurrent only helps when the CPU limit has room",
                names(&busy)
            ),
            through: None,
        });
    }
    if !with(&["throttled"]).is_empty() {
        steps.push(Step {
            action: "api-rate",
            message: "the API server throttles the controllers: raise --kube-api-qps/--kube-api-burst, or check its API Priority and Fairness limits".to_string(),
            through: None,
        });
    }
    if github_rate_limited {
        steps.push(Step {
            action: "github-rate",
            message: "sources fail on GitHub's rate limit: see `kubectl flux-ratelimit` for the budget and the intervals that fix it".to_string(),
            through: None,
        });
    }
    if !with(&["not-ready"]).is_empty() {
        steps.push(Step {
            action: "fix-objects",
            message: "many objects are not Ready for a shared cause: `kubectl flux-lineage --why` on one of them, `kubectl flux-events --type Warning` for the pattern".to_string(),
            through: None,
        });
    }
    steps
}
