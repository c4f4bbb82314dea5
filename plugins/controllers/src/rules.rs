//! `-o prometheus-rules`: a PrometheusRule (prometheus-operator's `monitoring.coreos.com/v1`)
//! with the guide's alerts, written against the metrics Flux controllers expose today.
//! `gotk_reconcile_condition` and `gotk_suspend_status`, which the guide's alerts use, were
//! removed in Flux 2.1 (flux2#5083): Ready comes from `gotk_resource_info`, which
//! kube-state-metrics' custom resource state produces (fluxcd/flux2-monitoring-example); OOM
//! kills from kube-state-metrics; everything else from the controllers' own endpoint.

use crate::verdicts::Thresholds;
use serde_json::{Value, json};

/// The rule document for `namespace`, with the thresholds in force.
pub fn document(namespace: &str, t: &Thresholds) -> Value {
    let job = format!("namespace=\"{namespace}\"");
    let alert = |name: &str, expr: String, r#for: &str, severity: &str, summary: &str, description: &str| {
        json!({
            "alert": name,
            "expr": expr,
            "for": r#for,
            "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description},
        })
    };
    let rules = vec![
        alert(
            "FluxReconcileTooSlow",
            format!(
                "histogram_quantile(0.99, sum by (le, kind, pod) (rate(controller_runtime_reconcile_time_seconds_bucket{{{job}}}[10m]))) > {}",
                t.reconcile
            ),
            "15m",
            "critical",
            "Flux reconciles take longer than the guide allows",
            "p99 reconcile time of {{ $labels.pod }} is {{ $value | humanizeDuration }}: resource contention (shard, or raise CPU).",
        ),
        alert(
            "FluxWorkqueueBackpressure",
            format!("sum by (pod, name) (workqueue_depth{{{job}}}) > {}", t.queue),
            "10m",
            "critical",
            "A Flux controller's workqueue is backing up",
            "{{ $value }} items wait in {{ $labels.name }} of {{ $labels.pod }}.",
        ),
        alert(
            "FluxWorkersSaturated",
            format!(
                "sum by (pod) (controller_runtime_active_workers{{{job}}}) >= sum by (pod) (controller_runtime_max_concurrent_reconciles{{{job}}}) and sum by (pod) (workqueue_depth{{{job}}}) > 0"
            ),
            "15m",
            "warning",
            "Every worker of a Flux controller is busy while objects wait",
            "Long reconciles hold every --concurrent worker of {{ $labels.pod }}: `kubectl flux-controllers` names them.",
        ),
        alert(
            "FluxControllerMemoryGrowth",
            format!("deriv(process_resident_memory_bytes{{{job}}}[1h]) * 3600 > {}", t.growth),
            "1h",
            "warning",
            "A Flux controller's memory keeps growing",
            "{{ $labels.pod }} grows {{ $value | humanize1024 }}B/h: a leak; restart it and find the cause.",
        ),
        alert(
            "FluxControllerMemoryNearLimit",
            format!(
                "max by (pod) (container_memory_working_set_bytes{{{job},container!=\"\"}}) / max by (pod) (kube_pod_container_resource_limits{{{job},resource=\"memory\"}}) > {}",
                t.memory
            ),
            "10m",
            "warning",
            "A Flux controller is near its memory limit",
            "{{ $labels.pod }} uses {{ $value | humanizePercentage }} of its memory limit: the next spike is an OOM kill.",
        ),
        alert(
            "FluxControllerOOMKilled",
            format!(
                "max by (pod) (kube_pod_container_status_last_terminated_reason{{{job},reason=\"OOMKilled\"}}) > 0"
            ),
            "0m",
            "critical",
            "A Flux controller was OOMKilled",
            "{{ $labels.pod }} was killed for its memory: raise its limit (2GB per controller at scale).",
        ),
        alert(
            "FluxReconcileErrors",
            format!(
                "sum by (pod) (rate(controller_runtime_reconcile_total{{{job},result=\"error\"}}[10m])) / sum by (pod) (rate(controller_runtime_reconcile_total{{{job}}}[10m])) > {}",
                t.not_ready
            ),
            "15m",
            "critical",
            "Many Flux reconciles fail",
            "{{ $value | humanizePercentage }} of the reconciles of {{ $labels.pod }} end in an error: a systemic failure.",
        ),
        alert(
            "FluxObjectsNotReady",
            format!(
                "count by (customresource_kind) (gotk_resource_info{{ready=\"False\"}}) / count by (customresource_kind) (gotk_resource_info) > {}",
                t.not_ready
            ),
            "15m",
            "critical",
            "Many Flux objects are not Ready",
            "{{ $value | humanizePercentage }} of the {{ $labels.customresource_kind }} objects are not Ready (gotk_resource_info stands for the removed gotk_reconcile_condition).",
        ),
        alert(
            "FluxAPIServerThrottling",
            format!("sum by (pod) (rate(rest_client_requests_total{{{job},code=\"429\"}}[10m])) > 0"),
            "15m",
            "warning",
            "The API server throttles a Flux controller",
            "{{ $labels.pod }} gets 429 Too Many Requests: raise --kube-api-qps/--kube-api-burst or check API Priority and Fairness.",
        ),
    ];
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "flux-controllers",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "flux", "app.kubernetes.io/managed-by": "kubectl-flux"},
        },
        "spec": {"groups": [{"name": "flux-controllers", "rules": rules}]},
    })
}
