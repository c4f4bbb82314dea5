//! Who calls GitHub with which credential, and what it costs per hour.

use crate::args::Args;
use chrono::{DateTime, Utc};
use kubectl_flux_graph::flux;
use kubectl_flux_graph::health::{self, State};
use kubectl_flux_model::{Object, ObjectRef, Snapshot};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// How a credential authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// A personal access token or another bearer/basic token.
    Token,
    /// A GitHub App installation.
    App,
    /// No credential: limited per egress IP.
    Anonymous,
}

/// A budget: one API host and one credential.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Git host (github.com, or an Enterprise Server host).
    pub host: String,
    /// How it authenticates.
    pub auth: Auth,
    /// `sha256:<12 hex>` of the token, `app:<id>/<installation>`, `anonymous`, or
    /// `secret:<ns>/<name>` when the Secret could not be read. Never the token.
    pub id: String,
}

/// One object spending from a budget.
#[derive(Debug, Clone)]
pub struct Spender {
    /// The object.
    pub object: ObjectRef,
    /// Its interval (None for Providers, which spend per event).
    pub interval: Option<Duration>,
    /// Requests per hour.
    pub per_hour: f64,
    /// Requests per reconcile or event.
    pub cost: u64,
    /// The cluster it lives in (fleet mode only).
    pub cluster: Option<String>,
    /// The flux-operator ResourceSet or FluxInstance that generated it: its interval is set
    /// there, as the operator re-applies what it generated over any patch.
    pub generated_by: Option<ObjectRef>,
}

/// A budget's totals.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Host and credential.
    pub key: Key,
    /// Secrets holding the credential (`ns/name`), all sharing one token.
    pub secrets: Vec<String>,
    /// The token, kept only for --check; never printed, serialised or logged.
    pub token: Option<String>,
    /// Who spends, most first.
    pub spenders: Vec<Spender>,
    /// Projected requests per hour.
    pub per_hour: f64,
    /// Requests per hour allowed (None: unlimited).
    pub limit: Option<u64>,
    /// Objects already failing with rate-limit errors (403/429/"rate limit").
    pub rate_limited: Vec<ObjectRef>,
    /// Warning events that say so.
    pub rate_limit_events: u64,
}

impl Budget {
    /// per_hour / limit.
    pub fn utilisation(&self) -> Option<f64> {
        self.limit.map(|l| self.per_hour / l.max(1) as f64)
    }

    /// How long into each hour the budget lasts, when it does not last the hour.
    pub fn exhausted_after(&self) -> Option<Duration> {
        let limit = self.limit? as f64;
        (self.per_hour > limit).then(|| Duration::from_secs((3600.0 * limit / self.per_hour).floor() as u64))
    }
}

/// Requests per reconcile or event, by kind (the documented cost model, overridable).
#[derive(Debug, Clone)]
pub struct Costs {
    /// HTTPS GitRepository on GitHub.
    pub git_repository: u64,
    /// ImageUpdateAutomation.
    pub image_update: u64,
    /// Provider (per forwarded event).
    pub provider: u64,
    /// flux-operator ResourceSetInputProvider of a GitHub or GitLab type.
    pub input_provider: u64,
}

impl Costs {
    /// The defaults, with `--cost` overrides.
    pub fn from_args(args: &Args) -> Result<Self, String> {
        let mut c = Costs { git_repository: 5, image_update: 5, provider: 1, input_provider: 1 };
        for (k, v) in &args.costs {
            match k.as_str() {
                "gitrepository" => c.git_repository = *v,
                "imageupdate" | "imageupdateautomation" => c.image_update = *v,
                "provider" => c.provider = *v,
                "inputprovider" | "resourcesetinputprovider" => c.input_provider = *v,
                other => {
                    return Err(format!(
                        "--cost {other}: unknown kind (use gitrepository, imageupdate, provider or inputprovider)"
                    ));
                }
            }
        }
        Ok(c)
    }
}

/// Whether a host is GitHub: github.com, hosts named `github.*`, or one given with --github-host.
fn is_github(host: &str, extra: &[String]) -> bool {
    host == "github.com" || host.starts_with("github.") || extra.iter().any(|h| h == host)
}

/// Whether a flux-operator input provider calls a GitHub or GitLab REST API: its `spec.type`
/// (flux-operator `api/v1` `ResourceSetInputProvider`: GitHubBranch, GitHubTag,
/// GitHubPullRequest, GitLabBranch, GitLabTag, GitLabMergeRequest, GitLabEnvironment). Each
/// reconcile lists one page of up to 100 branches, tags or requests (`internal/gitprovider`).
fn calls_git_api(provider: &Object) -> bool {
    provider.str_at("/spec/type").is_some_and(|t| t.starts_with("GitHub") || t.starts_with("GitLab"))
}

/// Scheme and host of a Git URL; SSH URLs (`ssh://`, `git@host:`) report scheme `ssh`.
pub fn url_host(url: &str) -> Option<(String, String)> {
    if let Some(rest) = url.strip_prefix("git@") {
        return Some(("ssh".into(), rest.split(':').next()?.to_string()));
    }
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit('@').next()?.split(':').next()?;
    Some((scheme.to_string(), host.to_ascii_lowercase()))
}

/// `sha256:<12 hex>`: identifies a token without revealing it.
pub fn fingerprint(token: &str) -> String {
    let digest = Sha256::digest(token.trim().as_bytes());
    format!("sha256:{}", digest.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>())
}

fn secret_value(secret: &Object, keys: &[&str]) -> Option<String> {
    use base64::Engine;
    keys.iter().find_map(|k| {
        let b64 = secret.str_at(&format!("/data/{k}"))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        String::from_utf8(bytes).ok().filter(|s| !s.trim().is_empty())
    })
}

/// The credential of an object's `spec.secretRef`: (auth, id, token).
fn credential(snapshot: &Snapshot, obj: &Object) -> (Auth, String, Option<String>, Option<String>) {
    let Some(secret_id) = flux::secret_ref(obj) else {
        return (Auth::Anonymous, "anonymous".into(), None, None);
    };
    let name = secret_id.namespaced_name();
    match snapshot.get(&secret_id) {
        Some(secret) => {
            if let (Some(app), Some(inst)) = (
                secret_value(secret, &["githubAppID", "githubAppId"]),
                secret_value(secret, &["githubAppInstallationID", "githubAppInstallationId"]),
            ) {
                return (Auth::App, format!("app:{}/{}", app.trim(), inst.trim()), None, Some(name));
            }
            match secret_value(secret, &["password", "token", "bearerToken"]) {
                Some(token) => (Auth::Token, fingerprint(&token), Some(token), Some(name)),
                None => (Auth::Token, format!("secret:{name}"), None, Some(name)),
            }
        }
        None => (Auth::Token, format!("secret:{name}"), None, Some(name)),
    }
}

/// Everything the analysis found.
pub struct Analysis {
    /// Budgets, worst first.
    pub budgets: Vec<Budget>,
    /// What the answer lacks or assumes.
    pub notes: Vec<String>,
}

/// Builds every budget from a snapshot.
pub fn analyse(snapshot: &Snapshot, args: &Args, now: DateTime<Utc>) -> Result<Analysis, String> {
    let costs = Costs::from_args(args)?;
    // Rate-limit Events count where spenders fail (the only namespaces a cluster is asked for
    // them: crate::reads), so a file and a cluster give the same answer.
    let failing = crate::reads::failing_namespaces(snapshot);
    let failing_providers = crate::reads::failing_providers(snapshot);
    let mut budgets: BTreeMap<Key, Budget> = BTreeMap::new();
    let mut notes = snapshot.notes.clone();
    let mut ssh = 0;
    let mut unreadable: Vec<String> = Vec::new();
    let mut add = |key: Key,
                   secret: Option<String>,
                   token: Option<String>,
                   spender: Spender,
                   limited: Option<(ObjectRef, u64)>| {
        let b = budgets.entry(key.clone()).or_insert_with(|| Budget {
            key,
            secrets: Vec::new(),
            token: None,
            spenders: Vec::new(),
            per_hour: 0.0,
            limit: None,
            rate_limited: Vec::new(),
            rate_limit_events: 0,
        });
        if let Some(s) = secret.filter(|s| !b.secrets.contains(s)) {
            b.secrets.push(s);
        }
        if b.token.is_none() {
            b.token = token;
        }
        b.per_hour += spender.per_hour;
        b.spenders.push(spender);
        if let Some((obj, events)) = limited {
            if !b.rate_limited.contains(&obj) && events > 0 || failing_on_rate_limit(snapshot, &obj) {
                b.rate_limited.push(obj);
            }
            b.rate_limit_events += events;
        }
    };
    for obj in snapshot.objects() {
        if flux::suspended(obj) {
            continue;
        }
        let per_reconcile = match obj.id.kind.as_str() {
            "GitRepository" if obj.id.group == kubectl_flux_model::kinds::SOURCE_GROUP => costs.git_repository,
            "ImageUpdateAutomation" => costs.image_update,
            "Provider" => costs.provider,
            crate::reads::INPUT_PROVIDER if obj.id.group == kubectl_flux_model::kinds::OPERATOR_GROUP => {
                if !calls_git_api(obj) {
                    continue;
                }
                costs.input_provider
            }
            _ => continue,
        };
        // The Git object and URL that decide host and credential.
        let git = match obj.id.kind.as_str() {
            "ImageUpdateAutomation" => match flux::source_ref(obj).and_then(|r| snapshot.get(&r)) {
                Some(repo) => repo,
                None => continue,
            },
            _ => obj,
        };
        let url = match obj.id.kind.as_str() {
            "Provider" => {
                if !crate::reads::is_github_provider(obj) {
                    continue;
                }
                obj.str_at("/spec/address").unwrap_or("https://github.com")
            }
            _ => git.str_at("/spec/url").unwrap_or(""),
        };
        let Some((scheme, host)) = url_host(url) else { continue };
        // An input provider's type names its API, whatever the host is called.
        if !is_github(&host, &args.github_hosts) && obj.id.kind != crate::reads::INPUT_PROVIDER {
            continue;
        }
        if scheme == "ssh" {
            ssh += 1;
            continue;
        }
        let (auth, id, token, secret) = credential(snapshot, git);
        if id.starts_with("secret:") {
            unreadable.push(id.trim_start_matches("secret:").to_string());
        }
        let (interval, per_hour) = if obj.id.kind == "Provider" {
            (None, provider_events_last_hour(snapshot, obj, now) as f64 * per_reconcile as f64)
        } else {
            let interval = flux::interval(obj).transpose()?.unwrap_or(Duration::from_secs(600));
            (Some(interval), 3600.0 / interval.as_secs_f64().max(1.0) * per_reconcile as f64)
        };
        let failing = if obj.id.kind == crate::reads::INPUT_PROVIDER { &failing_providers } else { &failing };
        let events = if failing.contains(obj.id.namespace.as_str()) { rate_limit_events(snapshot, &obj.id) } else { 0 };
        add(
            Key { host, auth, id },
            secret,
            token,
            Spender {
                object: obj.id.clone(),
                interval,
                per_hour,
                cost: per_reconcile,
                cluster: None,
                generated_by: flux::labelled_managers(obj)
                    .into_iter()
                    .find(|m| m.group == kubectl_flux_model::kinds::OPERATOR_GROUP),
            },
            Some((obj.id.clone(), events)),
        );
    }
    if ssh > 0 {
        notes.push(format!("{ssh} sources use SSH: GitHub's REST budget does not apply to them; not counted"));
    }
    unreadable.sort();
    unreadable.dedup();
    if !unreadable.is_empty() {
        notes.push(format!(
            "Secrets not readable ({}): sources using them are grouped by Secret name, not by token",
            unreadable.join(", ")
        ));
    }
    let mut budgets: Vec<Budget> = budgets.into_values().collect();
    for b in &mut budgets {
        b.limit = limit_for(&b.key, args);
        b.spenders.sort_by(|x, y| y.per_hour.total_cmp(&x.per_hour).then_with(|| x.object.cmp(&y.object)));
        b.rate_limited.sort();
    }
    budgets.sort_by(|a, b| {
        let u = |x: &Budget| x.utilisation().unwrap_or(-1.0);
        u(b).total_cmp(&u(a)).then(b.per_hour.total_cmp(&a.per_hour)).then(a.key.cmp(&b.key))
    });
    Ok(Analysis { budgets, notes })
}

fn limit_for(key: &Key, args: &Args) -> Option<u64> {
    let find = |name: &str| args.limits.iter().rev().find(|(k, _)| k == name).map(|(_, v)| *v);
    if let Some(v) = find(&key.id).or_else(|| find(&key.host)) {
        return Some(v);
    }
    if key.host == "gitlab.com" {
        // GitLab.com: 2,000 API requests a minute per user, 500 a minute per IP without one
        // (docs.gitlab.com/user/gitlab_com/rate_limits, "Current rate limits").
        return Some(if key.auth == Auth::Anonymous { 30_000 } else { 120_000 });
    }
    // The credential words name GitHub's limits.
    let word = match key.auth {
        Auth::Token => "token",
        Auth::App => "app",
        Auth::Anonymous => "anonymous",
    };
    if let Some(v) = find(word) {
        return Some(v);
    }
    if key.host != "github.com" {
        return None;
    }
    Some(match key.auth {
        Auth::Token => 5000,
        Auth::App => 5000,
        Auth::Anonymous => 60,
    })
}

/// Whether a message says GitHub refused for rate limiting (HTTP 403/429 or "rate limit").
pub fn says_rate_limited(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("rate limit") || m.contains("status code: 429") || m.contains("status code: 403") || m.contains(" 429 ")
}

fn failing_on_rate_limit(snapshot: &Snapshot, id: &ObjectRef) -> bool {
    snapshot.get(id).is_some_and(|o| {
        let h = health::of(o);
        h.state == State::Failed && says_rate_limited(&h.message)
    })
}

fn rate_limit_events(snapshot: &Snapshot, id: &ObjectRef) -> u64 {
    snapshot.events_for(id).filter(|e| e.is_warning() && says_rate_limited(&e.message)).map(|e| e.count).sum()
}

/// Events in the last hour from the sources of the Alerts that use this Provider.
fn provider_events_last_hour(snapshot: &Snapshot, provider: &Object, now: DateTime<Utc>) -> u64 {
    let hour_ago = now - chrono::Duration::hours(1);
    let mut total = 0;
    for alert in snapshot.of_kind(&provider.id.group, "Alert") {
        if alert.id.namespace != provider.id.namespace
            || alert.str_at("/spec/providerRef/name") != Some(provider.id.name.as_str())
        {
            continue;
        }
        for source in alert.at("/spec/eventSources").and_then(|v| v.as_array()).into_iter().flatten() {
            let kind = source.get("kind").and_then(|v| v.as_str()).unwrap_or("");
            let name = source.get("name").and_then(|v| v.as_str()).unwrap_or("*");
            let ns = source.get("namespace").and_then(|v| v.as_str()).unwrap_or(&alert.id.namespace);
            for e in snapshot.events() {
                let Some((about_kind, about_ns, about_name)) = e.about() else { continue };
                if about_kind == kind
                    && about_ns == ns
                    && (name == "*" || about_name == name)
                    && e.last.is_some_and(|t| t > hour_ago && t <= now)
                {
                    total += e.count.max(1);
                }
            }
        }
    }
    total
}

/// The fleet's budgets: one GitHub token (same fingerprint) or App installation spends one
/// budget wherever it is used, so its spenders across clusters add up; anonymous budgets
/// (per egress IP) and unreadable credentials stay per cluster.
pub fn merge_fleet(outcomes: &[kubectl_flux_cli::fleet::Outcome<Analysis>]) -> Analysis {
    let mut merged: Vec<(Key, Option<String>, Budget)> = Vec::new();
    let mut notes = Vec::new();
    for outcome in outcomes {
        let Ok(analysis) = &outcome.result else { continue };
        notes.push((outcome.cluster.clone(), analysis.notes.clone()));
        for b in &analysis.budgets {
            let shared = b.key.auth == Auth::App || (b.key.auth == Auth::Token && b.key.id.starts_with("sha256:"));
            let scope = (!shared).then(|| outcome.cluster.clone());
            let mut part = b.clone();
            for s in &mut part.spenders {
                s.cluster = Some(outcome.cluster.clone());
            }
            part.secrets = part.secrets.iter().map(|s| format!("{}/{s}", outcome.cluster)).collect();
            match merged.iter_mut().find(|(k, c, _)| *k == b.key && *c == scope) {
                Some((_, _, m)) => {
                    m.per_hour += part.per_hour;
                    m.spenders.extend(part.spenders);
                    m.secrets.extend(part.secrets);
                    m.rate_limited.extend(part.rate_limited);
                    m.rate_limit_events += part.rate_limit_events;
                    m.token = m.token.take().or(part.token);
                }
                None => merged.push((b.key.clone(), scope, part)),
            }
        }
    }
    let mut budgets: Vec<Budget> = merged.into_iter().map(|(_, _, b)| b).collect();
    for b in &mut budgets {
        b.spenders.sort_by(|x, y| {
            y.per_hour.total_cmp(&x.per_hour).then_with(|| (&x.cluster, &x.object).cmp(&(&y.cluster, &y.object)))
        });
    }
    budgets.sort_by(|a, b| {
        let u = |x: &Budget| x.utilisation().unwrap_or(-1.0);
        u(b).total_cmp(&u(a)).then(b.per_hour.total_cmp(&a.per_hour)).then(a.key.cmp(&b.key))
    });
    Analysis { budgets, notes: kubectl_flux_cli::fleet::notes(notes) }
}
