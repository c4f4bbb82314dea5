//! `--check`: the real remaining budget from the API's `/rate_limit`, asked with each
//! credential's token. The token is sent in the Authorization header and never printed: errors
//! are reduced to the host and the HTTP status.

use crate::args::Args;
use crate::budget::{Analysis, Auth};
use std::time::Duration;

/// Per budget, in order: `None` without `--check`, else what GitHub said or why it was not asked.
pub type Checks = Vec<Option<Result<Remaining, String>>>;

/// Asks GitHub about every budget when `--check` is given (each credential once, never an
/// App installation, whose tokens the controller mints).
pub fn all(analysis: &Analysis, args: &Args, timeout: Duration) -> Checks {
    analysis
        .budgets
        .iter()
        .map(|b| {
            args.check.then(|| {
                let base = api_base(&b.key.host, args.github_api_url.as_deref());
                match (b.key.auth, &b.token) {
                    (Auth::App, _) => {
                        Err("GitHub App: installation tokens are minted by the controller; not checked".into())
                    }
                    (Auth::Token, None) => Err("token not readable".into()),
                    (_, token) => rate_limit(&base, token.as_deref(), timeout),
                }
            })
        })
        .collect()
}

/// What `/rate_limit` said about the core budget.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Remaining {
    /// Requests allowed per hour.
    pub limit: u64,
    /// Requests left in this window.
    pub remaining: u64,
    /// Unix time when the window resets.
    pub reset: u64,
}

/// The API base for a Git host: `https://api.github.com` for github.com, else
/// `https://HOST/api/v3` (GitHub Enterprise Server); `--github-api-url` overrides both.
pub fn api_base(host: &str, override_url: Option<&str>) -> String {
    match override_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None if host == "github.com" => "https://api.github.com".to_string(),
        None => format!("https://{host}/api/v3"),
    }
}

/// Asks `GET {base}/rate_limit`, with the token when there is one.
pub fn rate_limit(base: &str, token: Option<&str>, timeout: Duration) -> Result<Remaining, String> {
    let url = format!("{base}/rate_limit");
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
    let mut req =
        agent.get(&url).header("Accept", "application/vnd.github+json").header("User-Agent", "kubectl-flux_ratelimit");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("token {t}"));
    }
    let mut resp = req.call().map_err(|e| format!("GET {url}: {}", redact(&e.to_string(), token)))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(format!("GET {url}: HTTP {status}"));
    }
    let text = resp.body_mut().read_to_string().map_err(|e| format!("GET {url}: {}", redact(&e.to_string(), token)))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("GET {url}: invalid JSON: {e}"))?;
    let core = doc
        .pointer("/resources/core")
        .or_else(|| doc.get("rate"))
        .ok_or_else(|| format!("GET {url}: no rate in the answer"))?;
    let n = |k: &str| core.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    Ok(Remaining { limit: n("limit"), remaining: n("remaining"), reset: n("reset") })
}

/// Removes a token from a message, should a library ever echo it.
fn redact(text: &str, token: Option<&str>) -> String {
    match token.filter(|t| !t.is_empty()) {
        Some(t) => text.replace(t, "<redacted>"),
        None => text.to_string(),
    }
}
