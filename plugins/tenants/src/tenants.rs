//! Tenants, their load and findings, ranked guilty first.

use crate::args::{Args, Severity};
use crate::cost::{self, Load};
use bytesize::ByteSize;
use kubectl_flux_cli::Scope;
use kubectl_flux_cli::fleet;
use kubectl_flux_graph::flux;
use kubectl_flux_graph::sizing;
use kubectl_flux_model::kinds::{self, HELM_GROUP, KUSTOMIZE_GROUP};
use kubectl_flux_model::{Object, ObjectRef, Snapshot};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Something a tenant should fix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// Warning (isolation) or error (budget breach).
    pub severity: Severity,
    /// The tenant.
    pub tenant: String,
    /// The object concerned.
    #[serde(rename = "object")]
    pub object: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// One tenant's totals.
#[derive(Debug, Clone, Default)]
pub struct Tenant {
    /// Name (label value or namespace).
    pub name: String,
    /// Objects by kind.
    pub by_kind: BTreeMap<String, usize>,
    /// Shortest interval and the object that has it.
    pub shortest: Option<(Duration, ObjectRef)>,
    /// Sum of known artifact sizes.
    pub artifact_bytes: u64,
    /// Sources whose artifact size is unknown.
    pub unknown_sizes: usize,
    /// Bytes fetched per hour.
    pub fetch_bytes_per_hour: f64,
    /// Git calls per hour.
    pub git_calls_per_hour: f64,
    /// API calls per hour.
    pub api_calls_per_hour: f64,
    /// Failing objects.
    pub failing: usize,
    /// Stalled objects.
    pub stalled: usize,
    /// Suspended objects.
    pub suspended: usize,
    /// The ServiceAccounts its Kustomizations and HelmReleases impersonate
    /// (`spec.serviceAccountName`), as `namespace/name`: whose RBAC bounds what the tenant applies.
    pub service_accounts: BTreeSet<String>,
    /// Share of all fetch load (0..=1).
    pub share: f64,
    /// The objects responsible for most of its load, largest first.
    pub top: Vec<Load>,
    /// Findings.
    pub findings: Vec<Finding>,
}

impl Tenant {
    /// Total objects.
    pub fn objects(&self) -> usize {
        self.by_kind.values().sum()
    }
}

/// The whole answer.
#[derive(Debug, Clone)]
pub struct Report {
    /// Tenants, guilty first.
    pub tenants: Vec<Tenant>,
    /// Every finding, errors first.
    pub findings: Vec<Finding>,
    /// Applications (Kustomizations + HelmReleases).
    pub apps: usize,
    /// Flux objects.
    pub objects: usize,
    /// Share of Flux objects failing.
    pub failing_share: f64,
    /// Sizing advice lines.
    pub advice: Vec<String>,
    /// The scale band.
    pub band: sizing::Band,
    /// Notes (unknown sizes, what the snapshot lacks).
    pub notes: Vec<String>,
}

/// Builds the report from a snapshot.
pub fn build(snapshot: &Snapshot, args: &Args, scope: &Scope) -> Result<Report, String> {
    let flux_objects: Vec<&Object> = snapshot
        .objects()
        .iter()
        .filter(|o| kinds::is_flux_group(&o.id.group) && kinds::find(&o.id.group, &o.id.kind).is_some())
        .filter(|o| scope.selector.as_ref().is_none_or(|s| s.matches(o)))
        .filter(|o| scope.holds_namespace(&o.id.namespace))
        .collect();
    let tenant_of = |o: &Object| flux::tenant(snapshot, &o.id, &args.tenant_label);
    let mut tenants: BTreeMap<String, Tenant> = BTreeMap::new();
    let mut loads = Vec::new();
    let releases = kubectl_flux_graph::helm::Releases::index(snapshot);
    for obj in &flux_objects {
        let applied = match obj.id.group.as_str() {
            KUSTOMIZE_GROUP => flux::inventory(obj).len(),
            HELM_GROUP => releases.objects(obj).map(|o| o.len()).unwrap_or(0),
            _ => 0,
        };
        loads.push(cost::of(obj, tenant_of(obj), applied)?);
    }
    let total_fetch: f64 = loads.iter().filter_map(|l| l.fetch_bytes_per_hour).sum();
    for l in &loads {
        let t =
            tenants.entry(l.tenant.clone()).or_insert_with(|| Tenant { name: l.tenant.clone(), ..Tenant::default() });
        *t.by_kind.entry(l.id.kind.to_string()).or_default() += 1;
        if let Some(i) = l.interval.filter(|_| !l.suspended)
            && t.shortest.as_ref().is_none_or(|(s, id)| (i, &l.id) < (*s, id))
        {
            t.shortest = Some((i, l.id.clone()));
        }
        if l.is_source {
            match l.artifact_bytes {
                Some(b) => t.artifact_bytes += b,
                None => t.unknown_sizes += 1,
            }
        }
        t.fetch_bytes_per_hour += l.fetch_bytes_per_hour.unwrap_or(0.0);
        t.git_calls_per_hour += l.git_calls_per_hour;
        t.api_calls_per_hour += l.api_calls_per_hour;
        t.failing += usize::from(l.failing);
        t.stalled += usize::from(l.stalled);
        t.suspended += usize::from(l.suspended);
        t.top.push(l.clone());
    }
    for obj in &flux_objects {
        if let (Some(sa), Some(t)) = (flux::service_account(obj), tenants.get_mut(&tenant_of(obj))) {
            t.service_accounts.insert(sa.namespaced_name());
        }
    }
    for t in tenants.values_mut() {
        t.share = if total_fetch > 0.0 { t.fetch_bytes_per_hour / total_fetch } else { 0.0 };
        t.top.sort_by(|a, b| {
            b.fetch_bytes_per_hour
                .unwrap_or(0.0)
                .total_cmp(&a.fetch_bytes_per_hour.unwrap_or(0.0))
                .then_with(|| a.id.cmp(&b.id))
        });
        t.top.retain(|l| l.fetch_bytes_per_hour.unwrap_or(0.0) > 0.0);
        t.top.truncate(3);
    }
    let mut findings = isolation_findings(snapshot, &flux_objects, &tenant_of, &args.tenant_label);
    findings.extend(budget_findings(&loads, &tenants, args));
    findings.sort();
    for f in &findings {
        if let Some(t) = tenants.get_mut(&f.tenant) {
            t.findings.push(f.clone());
        }
    }
    let mut ranked: Vec<Tenant> = tenants.into_values().collect();
    ranked.sort_by(|a, b| {
        b.fetch_bytes_per_hour
            .total_cmp(&a.fetch_bytes_per_hour)
            .then(b.api_calls_per_hour.total_cmp(&a.api_calls_per_hour))
            .then(b.failing.cmp(&a.failing))
            .then(a.name.cmp(&b.name))
    });
    let apps = loads.iter().filter(|l| matches!(l.id.group.as_str(), KUSTOMIZE_GROUP | HELM_GROUP)).count();
    let failing = loads.iter().filter(|l| l.failing).count();
    let failing_share = if loads.is_empty() { 0.0 } else { failing as f64 / loads.len() as f64 };
    let band = sizing::band(apps);
    let mut notes = snapshot.notes.clone();
    let unknown: Vec<String> =
        loads.iter().filter(|l| l.is_source && l.artifact_bytes.is_none()).map(|l| l.id.to_string()).collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "artifact size unknown (no status.artifact.size; older source-controller or never fetched) for {}: their fetch load is not counted",
            unknown.join(", ")
        ));
    }
    let advice = advice(&loads, &flux_objects, band, failing_share, failing);
    Ok(Report { tenants: ranked, findings, apps, objects: loads.len(), failing_share, advice, band, notes })
}

fn isolation_findings(
    snapshot: &Snapshot,
    objects: &[&Object],
    tenant_of: &dyn Fn(&Object) -> String,
    label: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let by_id: BTreeMap<&ObjectRef, &Object> = objects.iter().map(|o| (&o.id, *o)).collect();
    let mut users: BTreeMap<ObjectRef, BTreeSet<String>> = BTreeMap::new();
    for obj in objects {
        let tenant = tenant_of(obj);
        let finding = |message: String| Finding {
            severity: Severity::Warning,
            tenant: tenant.clone(),
            object: obj.id.to_string(),
            message,
        };
        let applies = matches!(obj.id.group.as_str(), KUSTOMIZE_GROUP | HELM_GROUP);
        let account = flux::service_account(obj);
        // What an object that impersonates a ServiceAccount can reach is that account's RBAC:
        // each finding on it names the account.
        let as_account = account.as_ref().map(|sa| format!(" (applies as ServiceAccount {})", sa.namespaced_name()));
        let as_account = as_account.as_deref().unwrap_or("");
        if applies && account.is_none() && obj.id.namespace != "flux-system" {
            out.push(finding(
                "no spec.serviceAccountName: applies with the controller's own (cluster-admin) permissions".into(),
            ));
        }
        if let Some(sa) = &account {
            let owner = flux::tenant(snapshot, sa, label);
            if owner != tenant {
                out.push(finding(format!(
                    "applies as ServiceAccount {} of tenant {owner}: it acts with another tenant's permissions",
                    sa.namespaced_name()
                )));
            }
        }
        if let Some(src) = flux::source_ref(obj) {
            if src.namespace != obj.id.namespace {
                out.push(finding(format!("cross-namespace sourceRef to {src}{as_account}")));
            }
            if let Some(source) = by_id.get(&src) {
                let owner = tenant_of(source);
                if owner != tenant {
                    out.push(finding(format!("uses {src} of tenant {owner}{as_account}")));
                }
            }
            users.entry(src).or_default().insert(tenant.clone());
        }
    }
    for (src, tenants) in users {
        if tenants.len() > 1
            && let Some(source) = by_id.get(&src)
        {
            let list: Vec<&str> = tenants.iter().map(String::as_str).collect();
            out.push(Finding {
                severity: Severity::Warning,
                tenant: tenant_of(source),
                object: src.to_string(),
                message: format!("source shared by tenants {}", list.join(", ")),
            });
        }
    }
    out
}

fn budget_findings(loads: &[Load], tenants: &BTreeMap<String, Tenant>, args: &Args) -> Vec<Finding> {
    let mut out = Vec::new();
    let go = kubectl_flux_model::duration::format_go;
    for l in loads.iter().filter(|l| !l.suspended) {
        if let (Some(min), Some(i)) = (args.min_interval, l.interval)
            && i < min
        {
            out.push(Finding {
                severity: Severity::Error,
                tenant: l.tenant.clone(),
                object: l.id.to_string(),
                message: format!("interval {} is below the budget of {}", go(i), go(min)),
            });
        }
        if let (Some(max), Some(size)) = (args.max_repo_size, l.artifact_bytes)
            && size > max
        {
            out.push(Finding {
                severity: Severity::Error,
                tenant: l.tenant.clone(),
                object: l.id.to_string(),
                message: format!("artifact of {} exceeds the budget of {}", bytes(size as f64), bytes(max as f64)),
            });
        }
    }
    if let Some(max) = args.max_fetch_rate {
        for t in tenants.values().filter(|t| t.fetch_bytes_per_hour > max as f64) {
            out.push(Finding {
                severity: Severity::Error,
                tenant: t.name.clone(),
                object: format!("tenant {}", t.name),
                message: format!(
                    "fetches {}/h, above the budget of {}/h",
                    bytes(t.fetch_bytes_per_hour),
                    bytes(max as f64)
                ),
            });
        }
    }
    out
}

fn advice(loads: &[Load], objects: &[&Object], band: sizing::Band, failing_share: f64, failing: usize) -> Vec<String> {
    let go = kubectl_flux_model::duration::format_go;
    let mut out = Vec::new();
    let fast: Vec<&Load> =
        loads.iter().filter(|l| !l.suspended && l.interval.is_some_and(|i| i < band.interval)).collect();
    if let Some(worst) = fast.iter().min_by(|a, b| (a.interval, &a.id).cmp(&(b.interval, &b.id))) {
        let objects = if fast.len() == 1 {
            "1 object reconciles".to_string()
        } else {
            format!("{} objects reconcile", fast.len())
        };
        out.push(format!(
            "{objects} more often than the recommended {} for this scale; start with {} (every {})",
            go(band.interval),
            worst.id,
            go(worst.interval.unwrap_or_default())
        ));
    }
    for l in loads.iter().filter(|l| l.artifact_bytes.is_some_and(|b| b > sizing::MOVE_TO_OCI)) {
        out.push(format!(
            "{} has a {} artifact: above 100 MB the guide says to move to OCI artifacts",
            l.id,
            bytes(l.artifact_bytes.unwrap_or(0) as f64)
        ));
    }
    let mut per_source: BTreeMap<ObjectRef, usize> = BTreeMap::new();
    for o in objects {
        if let Some(src) = flux::source_ref(o) {
            *per_source.entry(src).or_default() += 1;
        }
    }
    for (src, n) in per_source.iter().filter(|(_, n)| **n > sizing::APPS_PER_REPO) {
        out.push(format!(
            "{src} feeds {n} applications: Git performance degrades beyond {} per repository; split it",
            sizing::APPS_PER_REPO
        ));
    }
    let repos = loads.iter().filter(|l| l.is_source && !l.suspended).count();
    if let Ok(max) = band.max_repos.parse::<usize>()
        && repos > max
    {
        out.push(format!(
            "{repos} sources exceed the {max} repositories per controller of this scale: shard the source-controller or lengthen intervals"
        ));
    }
    if band.sharded {
        out.push(format!("{} calls for sharded controllers ({}): shard by tenant label", band.scale, band.controllers));
    }
    if failing_share > sizing::SYSTEMIC_FAILING_SHARE {
        out.push(format!(
            "{failing} of {} objects ({:.0}%) are failing: above 10% the problem is systemic (controller resources, API server, Git host), not one app",
            loads.len(),
            failing_share * 100.0
        ));
    }
    out
}

/// Bytes in IEC units (`600.0 GiB`).
pub fn bytes(b: f64) -> String {
    ByteSize::b(b.round() as u64).display().iec().to_string()
}

/// The guilty tenant's reason in words, e.g. `team-x: 10s interval on the 600.0 GiB
/// GitRepository big-mono = 210.9 TiB/h of fetches, 97% of all load`.
pub fn reason(t: &Tenant) -> String {
    let go = kubectl_flux_model::duration::format_go;
    match t.top.first() {
        Some(top) => {
            let interval = top.interval.map(go).unwrap_or_else(|| "?".into());
            format!(
                "{}: {interval} interval on the {} {} {} = {}/h of fetches, {:.0}% of all load",
                t.name,
                bytes(top.artifact_bytes.unwrap_or(0) as f64),
                top.id.kind,
                top.id.namespaced_name(),
                bytes(top.fetch_bytes_per_hour.unwrap_or(0.0)),
                t.share * 100.0
            )
        }
        None if t.failing > 0 => format!("{}: {} failing objects, no measurable fetch load", t.name, t.failing),
        None => format!("{}: no measurable fetch load", t.name),
    }
}

/// The fleet's tenants ranked together (each tenant of each cluster, heaviest first, shares
/// of the fleet's load), with their clusters; findings and notes name their cluster.
pub fn rank_fleet(outcomes: &[fleet::Outcome<Report>]) -> (Report, Vec<String>) {
    let mut ranked: Vec<(String, Tenant)> = Vec::new();
    let mut merged = Report {
        tenants: Vec::new(),
        ..outcomes.iter().find_map(|o| o.result.as_ref().ok()).cloned().expect("one cluster answered")
    };
    merged.findings.clear();
    merged.advice.clear();
    let mut notes = Vec::new();
    for o in outcomes {
        let Ok(r) = &o.result else { continue };
        ranked.extend(r.tenants.iter().map(|t| (o.cluster.clone(), t.clone())));
        merged.findings.extend(r.findings.iter().map(|f| {
            let mut f = f.clone();
            f.tenant = format!("{}/{}", o.cluster, f.tenant);
            f
        }));
        notes.push((o.cluster.clone(), r.notes.clone()));
    }
    merged.findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.tenant.cmp(&b.tenant)));
    let total: f64 = ranked.iter().map(|(_, t)| t.fetch_bytes_per_hour).sum();
    for (_, t) in &mut ranked {
        t.share = if total > 0.0 { t.fetch_bytes_per_hour / total } else { 0.0 };
    }
    ranked.sort_by(|(ca, a), (cb, b)| {
        b.fetch_bytes_per_hour
            .total_cmp(&a.fetch_bytes_per_hour)
            .then(b.api_calls_per_hour.total_cmp(&a.api_calls_per_hour))
            .then(b.failing.cmp(&a.failing))
            .then((ca, &a.name).cmp(&(cb, &b.name)))
    });
    let (clusters, tenants): (Vec<String>, Vec<Tenant>) = ranked.into_iter().unzip();
    merged.tenants = tenants;
    merged.notes = fleet::notes(notes);
    (merged, clusters)
}
