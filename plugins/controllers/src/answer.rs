//! One cluster's answer: the controllers as they run, what their metrics say, the verdicts and
//! the decision, the shard plan when sharding is the answer, and the API weight of Flux objects.
//! Read with one list per kind (the Flux kinds, Helm storage, and the Flux namespace's
//! Deployments and Pods) plus one scrape per controller pod: never a request per object.

use crate::controllers::{self, Controller};
use crate::verdicts::{self, Step, Thresholds, Verdict};
use crate::vitals::{self, Vitals};
use crate::weight::{self, Weight};
use crate::{Args, scrape, shard};
use kubectl_flux_cli::Resolved;
use kubectl_flux_graph::{flux, sizing};
use kubectl_flux_model::Snapshot;
use kubectl_flux_model::error::Result;
use kubectl_flux_model::kinds::{self, FLUX_KINDS};
use kubectl_flux_source::{self as source, Namespaces, Source, Want};
use serde::Serialize;

/// One cluster's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// Kustomizations and HelmReleases in the cluster (the guide's "apps").
    pub apps: usize,
    /// The controllers, with their figures.
    pub controllers: Vec<Health>,
    /// What is wrong, most serious first.
    pub verdicts: Vec<Verdict>,
    /// What to change, in order.
    pub decision: Vec<Step>,
    /// The shard plan, when sharding is part of the answer or `--shards` asks for one.
    pub shard_plan: Option<shard::Plan>,
    /// What listing the Flux objects costs.
    pub api_weight: Weight,
    /// The flux-operator's FluxInstance that installed the controllers, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flux_instance: Option<crate::instance::Instance>,
    /// What the answer lacks or assumes.
    pub notes: Vec<String>,
}

/// A controller and its figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// The controller as it runs.
    #[serde(flatten)]
    pub controller: Controller,
    /// What its metrics say.
    pub vitals: Vitals,
}

impl Answer {
    /// The most serious verdict's severity, and how many verdicts there are (fleets rank by it).
    pub fn weight(&self) -> (Option<crate::Severity>, usize) {
        (self.verdicts.iter().map(|v| v.severity).max(), self.verdicts.len())
    }
}

/// What flux-controllers lists: every Flux kind (objects per controller, Ready, API weight),
/// Helm storage Secrets (their weight), the Namespaces' metadata (the slowest objects' tenants)
/// and the Flux namespace's Deployments and Pods.
pub fn wants(flux_namespace: &str) -> Vec<Want> {
    let mut wants: Vec<Want> = FLUX_KINDS.iter().map(Want::all).collect();
    wants.push(Want::helm_storage());
    wants.push(Want::namespaces());
    for (group, kind) in [("apps", "Deployment"), ("", "Pod")] {
        if let Some(k) = kinds::find(group, kind) {
            wants.push(Want::all(k).in_namespace(flux_namespace));
        }
    }
    wants
}

/// The thresholds the flags set.
pub fn thresholds(args: &Args) -> Thresholds {
    Thresholds {
        reconcile: args.max_reconcile.as_secs_f64(),
        queue: args.max_queue as f64,
        growth: args.max_growth as f64,
        not_ready: args.max_not_ready / 100.0,
        memory: args.memory_warn / 100.0,
        oom_within: args.oom_within,
    }
}

/// Reads one cluster (or snapshot with saved scrapes) and judges its controllers.
pub fn read(source: &Source, args: &Args, resolved: &Resolved) -> Result<Answer> {
    let ns = args.flux_namespace.as_str();
    let snapshot = source::load(source, &Namespaces::All, &wants(ns))?;
    let mut notes = snapshot.notes.clone();
    let found = controllers::find(&snapshot, ns);
    if found.is_empty() {
        notes.push(format!("no Flux controller Deployment in {ns} (--flux-namespace)"));
    }
    let scrapes = scrape::read(source, ns, &found, &args.metrics_files, args.sample)?;
    notes.extend(scrapes.notes.iter().cloned());
    let now_unix = resolved.now.timestamp_millis() as f64 / 1000.0;
    let tenant = |id: &kubectl_flux_model::ObjectRef| flux::tenant(&snapshot, id, flux::TENANT_LABEL);
    // A pod's scrape belongs to the controller whose pod it is, else to the one whose name is
    // the longest prefix of the pod's (a saved scrape of a pod the snapshot does not hold).
    let mut per_controller: Vec<Vec<&scrape::Sampled>> = vec![Vec::new(); found.len()];
    let mut unmatched = Vec::new();
    for (pod, sampled) in &scrapes.pods {
        match owner(&found, pod) {
            Some(i) => per_controller[i].push(sampled),
            None => unmatched.push(pod.as_str()),
        }
    }
    if !unmatched.is_empty() {
        notes.push(format!("scrapes of pods that are no Flux controller's: {}", unmatched.join(", ")));
    }
    let all_vitals: Vec<Vitals> =
        per_controller.iter().map(|pods| vitals::of(pods, now_unix, args.top, tenant)).collect();
    let apps = apps_of(&snapshot);
    let t = thresholds(args);
    let verdicts = verdicts::judge(&found, &all_vitals, apps, resolved.now, &t);
    let github = rate_limited(&snapshot);
    let mut decision = verdicts::decide(&verdicts, apps, github);
    let wants_shards = decision.iter().any(|s| s.action == "shard") || sizing::band(apps).sharded;
    let shards = args.shards.unwrap_or(sizing::band(apps).shards().max(1));
    let shard_plan = match args.shards {
        Some(n) => Some(shard::plan(&snapshot, n, ns)),
        None if wants_shards => Some(shard::plan(&snapshot, shards, ns)),
        None => None,
    };
    let flux_instance = crate::instance::find(&snapshot, ns);
    if let Some(instance) = &flux_instance {
        for step in &mut decision {
            step.through = instance.advice(step.action, &sizing::band(apps), shards);
        }
    }
    let api_weight = weight::weigh(&snapshot);
    let controllers =
        found.into_iter().zip(all_vitals).map(|(controller, vitals)| Health { controller, vitals }).collect();
    Ok(Answer { apps, controllers, verdicts, decision, shard_plan, api_weight, flux_instance, notes })
}

/// The controller a pod belongs to: the one that has it, else the one with the longest name
/// the pod's name starts with.
fn owner(controllers: &[Controller], pod: &str) -> Option<usize> {
    controllers.iter().position(|c| c.pods.iter().any(|p| p.name == pod)).or_else(|| {
        controllers
            .iter()
            .enumerate()
            .filter(|(_, c)| pod.starts_with(&format!("{}-", c.name)))
            .max_by_key(|(_, c)| c.name.len())
            .map(|(i, _)| i)
    })
}

/// Kustomizations and HelmReleases.
fn apps_of(snapshot: &Snapshot) -> usize {
    snapshot.of_kind(kinds::KUSTOMIZE_GROUP, "Kustomization").count()
        + snapshot.of_kind(kinds::HELM_GROUP, "HelmRelease").count()
}

/// Whether a source fails on GitHub's rate limit (its Ready condition says so).
fn rate_limited(snapshot: &Snapshot) -> bool {
    snapshot.of_kind(kinds::SOURCE_GROUP, "GitRepository").any(|o| {
        flux::condition(o, "Ready").is_some_and(|c| {
            c.status == "False"
                && (c.message.contains("rate limit") || c.message.contains("403") || c.message.contains("429"))
        })
    })
}
