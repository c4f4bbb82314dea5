//! What a message is about, in one word. The first class whose pattern matches wins; the order
//! puts the specific before the general (a 403 "rate limit exceeded" is rate-limit, not auth).

use regex::RegexSet;
use serde::Serialize;
use std::sync::OnceLock;

/// The classes, in the order they are tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// GitHub or API rate limiting.
    RateLimit,
    /// Credentials refused.
    Auth,
    /// Optimistic concurrency conflicts.
    Conflict,
    /// Out of memory.
    Oom,
    /// dependsOn not ready.
    DependencyNotReady,
    /// Health checks failing (timing out included).
    HealthCheck,
    /// Timeouts and deadlines.
    Timeout,
    /// Something referenced does not exist.
    NotFound,
    /// Anything else.
    Other,
}

impl Class {
    /// The word shown in tables.
    pub fn word(self) -> &'static str {
        match self {
            Class::RateLimit => "rate-limit",
            Class::Auth => "auth",
            Class::Conflict => "conflict",
            Class::Oom => "oom",
            Class::Timeout => "timeout",
            Class::DependencyNotReady => "dependency-not-ready",
            Class::HealthCheck => "health-check",
            Class::NotFound => "not-found",
            Class::Other => "other",
        }
    }
}

const CLASSES: [(Class, &str); 8] = [
    (Class::RateLimit, r"(?i)rate limit|ratelimit|too many requests|status code: 429|\b429\b"),
    (
        Class::Auth,
        r"(?i)authenticat|authoriz|forbidden|unauthorized|permission denied|status code: 40[13]|\b40[13]\b|invalid credentials|access denied",
    ),
    // Specific phrases only: the API server's finalizer-name warning speaks of "accidental
    // conflicts with other finalizer writers" on every Flux object it creates.
    (
        Class::Conflict,
        r#"(?i)operation cannot be fulfilled|the object has been modified|apply failed with \d+ conflicts?|conflict with "|\b409\b"#,
    ),
    // "memory limit" alone is also how the API server words a requests-above-limits validation error.
    (Class::Oom, r"(?i)oomkill|out of memory|memory limit (reached|exceeded)|\boom\b"),
    (
        Class::DependencyNotReady,
        // source-watcher: "get sources failed: source 'GitRepository/ns/name' is not ready".
        r"(?i)dependenc(y|ies) .*not (be )?ready|dependencynotready|do not meet ready condition|source '[^']*' is not ready",
    ),
    (Class::HealthCheck, r"(?i)health ?check"),
    (Class::Timeout, r"(?i)timeout|timed out|deadline exceeded|context canceled"),
    (Class::NotFound, r"(?i)not found|notfound|no such file|does not exist"),
];

fn set() -> &'static RegexSet {
    static SET: OnceLock<RegexSet> = OnceLock::new();
    SET.get_or_init(|| RegexSet::new(CLASSES.iter().map(|(_, p)| *p)).expect("class patterns compile"))
}

/// Classifies a reason and message.
pub fn classify(reason: &str, message: &str) -> Class {
    let text = format!("{reason} {message}");
    let matches = set().matches(&text);
    CLASSES.iter().enumerate().find(|(i, _)| matches.matched(*i)).map(|(_, (c, _))| *c).unwrap_or(Class::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fall_in_the_class_an_sre_would_pick() {
        let cases = [
            (
                "GitOperationFailed",
                "unexpected requesting \"https://github.com/x/info/refs\" status code: 429",
                Class::RateLimit,
            ),
            ("GitOperationFailed", "status code: 403 (API rate limit exceeded for installation)", Class::RateLimit),
            ("AuthenticationFailed", "failed to checkout: authentication required", Class::Auth),
            (
                "ReconciliationFailed",
                "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified",
                Class::Conflict,
            ),
            ("ArtifactFailed", "giving up after 10 attempt(s): context deadline exceeded", Class::Timeout),
            ("DependencyNotReady", "dependency 'flux-system/infra' is not ready", Class::DependencyNotReady),
            (
                "SourceFetchFailed",
                "get sources failed: source 'GitRepository/flux-system/apps' is not ready",
                Class::DependencyNotReady,
            ),
            (
                "HealthCheckFailed",
                "health check failed after 5m0s: timeout waiting for: [Deployment/x/y status: 'InProgress']",
                Class::HealthCheck,
            ),
            ("HealthCheckFailed", "health check failed: Deployment/x/y status: 'Failed'", Class::HealthCheck),
            ("ValuesError", "configmaps \"prom-values\" not found", Class::NotFound),
            ("BackOff", "Container userapp was OOMKilled", Class::Oom),
            ("ReconciliationSucceeded", "Reconciliation finished in 1.8s, next run in 10m0s", Class::Other),
            (
                "info",
                "metadata.finalizers: \"finalizers.fluxcd.io\": prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers",
                Class::Other,
            ),
            (
                "ReconciliationFailed",
                "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas",
                Class::Conflict,
            ),
        ];
        for (reason, message, class) in cases {
            assert_eq!(classify(reason, message), class, "{message}");
        }
    }
}
