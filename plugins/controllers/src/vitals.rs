//! What a controller's own metrics say about it: reconciles per minute and their error ratio,
//! reconcile time percentiles, the workqueue (depth, wait, the longest running reconcile), its
//! workers, memory and its growth, CPU, the API server throttling it, and its slowest objects.
//! Over the `--sample` window when there are two scrapes, else since the process started.
//!
//! The series are controller-runtime's (`controller_runtime_reconcile_total{controller,result}`,
//! `controller_runtime_reconcile_time_seconds`, `controller_runtime_active_workers`,
//! `controller_runtime_max_concurrent_reconciles`, `workqueue_*{name}`), client-go's
//! (`rest_client_requests_total{code}`), the Go and process collectors', and Flux's own
//! `gotk_reconcile_duration_seconds{kind,name,namespace}` (fluxcd/pkg runtime/metrics).

use crate::metrics::{Histogram, Scrape};
use crate::scrape::Sampled;
use kubectl_flux_model::ObjectRef;
use serde::Serialize;

/// One controller's figures (all its pods' scrapes together).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vitals {
    /// Whether any scrape was read.
    pub scraped: bool,
    /// Seconds the figures cover: the sample window, else the process's uptime.
    pub window: Option<f64>,
    /// Whether they cover a `--sample` window (else: since the process started).
    pub sampled: bool,
    /// Reconciles in the window.
    pub reconciles: f64,
    /// Reconciles per minute.
    pub reconciles_per_minute: Option<f64>,
    /// Share of reconciles that ended in an error.
    pub error_ratio: Option<f64>,
    /// Reconcile time, seconds: p50, p95, p99.
    pub reconcile_seconds: Option<[f64; 3]>,
    /// Items waiting in its workqueues now.
    pub queue_depth: Option<f64>,
    /// Items waiting at the first scrape of a sample (the trend).
    pub queue_depth_before: Option<f64>,
    /// p95 of the time an item waits in the queue, seconds.
    pub queue_wait_p95: Option<f64>,
    /// The longest a reconcile running now has been running, seconds.
    pub longest_running: Option<f64>,
    /// Workers busy now, and how many there are (`--concurrent` per kind).
    pub workers: Option<(f64, f64)>,
    /// The kinds (controller-runtime controllers) whose every worker is busy while items of
    /// theirs wait: objects of that kind wait for a worker.
    pub saturated: Vec<String>,
    /// Resident memory, bytes.
    pub memory: Option<f64>,
    /// Memory growth, bytes per hour (with a sample).
    pub memory_growth_per_hour: Option<f64>,
    /// Go heap in use, bytes.
    pub heap: Option<f64>,
    /// CPU, cores used on average over the window.
    pub cpu_cores: Option<f64>,
    /// Requests the API server answered with 429 in the window.
    pub throttled: f64,
    /// Its slowest objects, slowest first.
    pub slowest: Vec<Slow>,
}

/// One object's reconcile time (`gotk_reconcile_duration_seconds`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Slow {
    /// The object.
    #[serde(serialize_with = "object_ref")]
    pub object: ObjectRef,
    /// Mean reconcile time, seconds.
    pub mean_seconds: f64,
    /// Reconciles observed.
    pub reconciles: f64,
    /// Its tenant.
    pub tenant: String,
}

fn object_ref<S: serde::Serializer>(id: &ObjectRef, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}/{}/{}", id.kind, id.namespace, id.name))
}

/// A counter over the window: its increase during a sample, else its value since start.
fn increase(now: &Scrape, before: Option<&Scrape>, metric: &str, matching: &[(&str, &str)]) -> Option<f64> {
    let n = now.sum(metric, matching)?;
    Some(match before.and_then(|b| b.sum(metric, matching)) {
        // A counter that went down restarted: what it counts now is all since the restart.
        Some(b) if b <= n => n - b,
        _ => n,
    })
}

/// A histogram over the window.
fn window(now: &Scrape, before: Option<&Scrape>, metric: &str) -> Option<Histogram> {
    let h = now.histogram(metric, &[])?;
    Some(match before.and_then(|b| b.histogram(metric, &[])) {
        Some(b) if b.count <= h.count => h.since(&b),
        _ => h,
    })
}

/// The figures of one controller from its pods' scrapes (usually one pod); `now` in Unix
/// seconds, for the uptime of an unsampled scrape.
pub fn of(pods: &[&Sampled], now_unix: f64, top: usize, tenant: impl Fn(&ObjectRef) -> String) -> Vitals {
    let mut v = Vitals::default();
    let mut slow: Vec<Slow> = Vec::new();
    let mut quantiles: Option<Histogram> = None;
    let mut waits: Option<Histogram> = None;
    let mut errors_total = 0.0;
    for pod in pods {
        let now = &pod.now;
        let before = pod.before.as_ref().map(|(s, _)| s);
        v.scraped = true;
        let seconds = match &pod.before {
            Some((_, seconds)) => {
                v.sampled = true;
                Some(*seconds)
            }
            None => now.sum("process_start_time_seconds", &[]).map(|start| (now_unix - start).max(1.0)),
        };
        v.window = max(v.window, seconds);
        let total = increase(now, before, "controller_runtime_reconcile_total", &[]).unwrap_or(0.0);
        let errors = increase(now, before, "controller_runtime_reconcile_total", &[("result", "error")]).unwrap_or(0.0);
        v.reconciles += total;
        if let Some(s) = seconds {
            *v.reconciles_per_minute.get_or_insert(0.0) += total / s * 60.0;
            if let Some(cpu) = increase(now, before, "process_cpu_seconds_total", &[]) {
                *v.cpu_cores.get_or_insert(0.0) += cpu / s;
            }
        }
        errors_total += errors;
        // Flux's own histogram reaches 30 minutes; controller-runtime's stops at 60 s, where a
        // p99 of a 5-minute health check would read as 60 s.
        let reconcile_time = if now.has("gotk_reconcile_duration_seconds") {
            "gotk_reconcile_duration_seconds"
        } else {
            "controller_runtime_reconcile_time_seconds"
        };
        if let Some(h) = window(now, before, reconcile_time) {
            match &mut quantiles {
                Some(q) => merge(q, &h),
                None => quantiles = Some(h),
            }
        }
        if let Some(h) = window(now, before, "workqueue_queue_duration_seconds") {
            match &mut waits {
                Some(q) => merge(q, &h),
                None => waits = Some(h),
            }
        }
        v.queue_depth = add(v.queue_depth, now.sum("workqueue_depth", &[]));
        v.queue_depth_before = add(v.queue_depth_before, before.and_then(|b| b.sum("workqueue_depth", &[])));
        v.longest_running = max(
            v.longest_running,
            now.series("workqueue_longest_running_processor_seconds", &[]).map(|(_, s)| s).reduce(f64::max),
        );
        for (labels, all) in now.series("controller_runtime_max_concurrent_reconciles", &[]) {
            let Some(kind) = labels.get("controller") else { continue };
            let busy = now.sum("controller_runtime_active_workers", &[("controller", kind)]).unwrap_or(0.0);
            let waiting = now.sum("workqueue_depth", &[("name", kind)]).unwrap_or(0.0);
            if all > 0.0 && busy >= all && waiting > 0.0 && !v.saturated.contains(kind) {
                v.saturated.push(kind.clone());
            }
        }
        if let (Some(busy), Some(all)) = (
            now.sum("controller_runtime_active_workers", &[]),
            now.sum("controller_runtime_max_concurrent_reconciles", &[]),
        ) {
            let (b, a) = v.workers.unwrap_or((0.0, 0.0));
            v.workers = Some((b + busy, a + all));
        }
        v.memory = add(v.memory, now.sum("process_resident_memory_bytes", &[]));
        if let (Some((b, s)), Some(m)) = (pod.before.as_ref(), now.sum("process_resident_memory_bytes", &[]))
            && let Some(mb) = b.sum("process_resident_memory_bytes", &[])
        {
            *v.memory_growth_per_hour.get_or_insert(0.0) += (m - mb) / s * 3600.0;
        }
        v.heap = add(v.heap, now.sum("go_memstats_heap_inuse_bytes", &[]));
        v.throttled += increase(now, before, "rest_client_requests_total", &[("code", "429")]).unwrap_or(0.0);
        for (labels, h) in now.histograms("gotk_reconcile_duration_seconds") {
            let (Some(kind), Some(name)) = (labels.get("kind"), labels.get("name")) else { continue };
            let namespace = labels.get("namespace").map(String::as_str).unwrap_or("");
            let group = kubectl_flux_model::kinds::all()
                .find(|k| k.kind == kind && kubectl_flux_model::kinds::is_flux_group(k.group))
                .map_or("", |k| k.group);
            let earlier = before.and_then(|b| {
                b.histograms("gotk_reconcile_duration_seconds").find(|(l, _)| *l == labels).map(|(_, h)| h.clone())
            });
            let h = match earlier {
                Some(e) if e.count < h.count => h.since(&e),
                _ => h.clone(),
            };
            if let Some(mean) = h.mean() {
                let object = ObjectRef::new(group, kind, namespace, name);
                let tenant = tenant(&object);
                slow.push(Slow { object, mean_seconds: mean, reconciles: h.count, tenant });
            }
        }
    }
    v.error_ratio = (v.reconciles > 0.0).then(|| errors_total / v.reconciles);
    v.reconcile_seconds = quantiles.and_then(|h| Some([h.quantile(0.5)?, h.quantile(0.95)?, h.quantile(0.99)?]));
    v.queue_wait_p95 = waits.and_then(|h| h.quantile(0.95));
    slow.sort_by(|a, b| {
        b.mean_seconds.total_cmp(&a.mean_seconds).then_with(|| a.object.to_string().cmp(&b.object.to_string()))
    });
    slow.truncate(top);
    v.slowest = slow;
    v
}

fn merge(into: &mut Histogram, other: &Histogram) {
    for &(le, c) in &other.buckets {
        match into.buckets.iter_mut().find(|(l, _)| *l == le) {
            Some((_, count)) => *count += c,
            None => into.buckets.push((le, c)),
        }
    }
    into.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    into.count += other.count;
    into.sum += other.sum;
}

fn add(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(text: &str) -> Scrape {
        Scrape::parse("t", text.as_bytes()).unwrap()
    }

    #[test]
    fn rates_come_from_the_sample_window_or_since_the_process_started() {
        let earlier = scrape(
            "process_start_time_seconds 1000\ncontroller_runtime_reconcile_total{controller=\"kustomization\",result=\"success\"} 100\nprocess_resident_memory_bytes 100000000\nprocess_cpu_seconds_total 10\n",
        );
        let later = scrape(
            "process_start_time_seconds 1000\ncontroller_runtime_reconcile_total{controller=\"kustomization\",result=\"success\"} 160\ncontroller_runtime_reconcile_total{controller=\"kustomization\",result=\"error\"} 20\nprocess_resident_memory_bytes 105000000\nprocess_cpu_seconds_total 40\nworkqueue_depth{name=\"kustomization\"} 150\ncontroller_runtime_active_workers{controller=\"kustomization\"} 4\ncontroller_runtime_max_concurrent_reconciles{controller=\"kustomization\"} 4\n",
        );
        let sampled = Sampled { now: later.clone(), before: Some((earlier, 600.0)) };
        let v = of(&[&sampled], 5000.0, 5, |id| id.namespace.to_string());
        assert_eq!((v.reconciles, v.reconciles_per_minute, v.sampled), (80.0, Some(8.0), true));
        assert_eq!(v.error_ratio, Some(0.25));
        assert_eq!(v.memory_growth_per_hour.map(f64::round), Some(30_000_000.0));
        assert_eq!(v.cpu_cores, Some(0.05));
        assert_eq!((v.queue_depth, v.workers), (Some(150.0), Some((4.0, 4.0))));
        // One scrape: since the process started, 4000 s before "now".
        let once = Sampled { now: later, before: None };
        let v = of(&[&once], 5000.0, 5, |id| id.namespace.to_string());
        let per_minute = v.reconciles_per_minute.map(|r| (r * 10.0).round() / 10.0);
        assert_eq!((v.reconciles, per_minute, v.memory_growth_per_hour), (180.0, Some(2.7), None));
    }

    #[test]
    fn the_slowest_objects_come_first_with_their_tenant() {
        let text = "# TYPE gotk_reconcile_duration_seconds histogram\n\
            gotk_reconcile_duration_seconds_bucket{kind=\"Kustomization\",name=\"fast\",namespace=\"a\",le=\"+Inf\"} 4\n\
            gotk_reconcile_duration_seconds_sum{kind=\"Kustomization\",name=\"fast\",namespace=\"a\"} 2\n\
            gotk_reconcile_duration_seconds_count{kind=\"Kustomization\",name=\"fast\",namespace=\"a\"} 4\n\
            gotk_reconcile_duration_seconds_bucket{kind=\"Kustomization\",name=\"slow\",namespace=\"b\",le=\"+Inf\"} 2\n\
            gotk_reconcile_duration_seconds_sum{kind=\"Kustomization\",name=\"slow\",namespace=\"b\"} 700\n\
            gotk_reconcile_duration_seconds_count{kind=\"Kustomization\",name=\"slow\",namespace=\"b\"} 2\n";
        let sampled = Sampled { now: scrape(text), before: None };
        let v = of(&[&sampled], 0.0, 1, |id| format!("team-{}", id.namespace));
        assert_eq!(v.slowest.len(), 1);
        let s = &v.slowest[0];
        assert_eq!((s.object.name.as_str(), s.mean_seconds, s.tenant.as_str()), ("slow", 350.0, "team-b"));
        assert_eq!(s.object.group, "kustomize.toolkit.fluxcd.io");
    }
}
