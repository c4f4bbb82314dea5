//! The command line of `kubectl flux-ratelimit`.

use clap::{Parser, ValueEnum};
use kubectl_flux_cli::flags::CommonFlags;

/// Which projections make the command exit 3 (for CI gates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// A credential projected above --target of its limit.
    OverTarget,
    /// A credential projected above its limit (the budget runs out within the hour).
    OverLimit,
}

/// Groups every GitHub-calling Flux object (GitRepositories on github.com or a GitHub
/// Enterprise host, notification Providers of type github/githubdispatch, image update
/// automations) by API host and credential, projects requests per hour with a documented cost
/// model, and shows utilisation, when the budget runs out within the hour, who spends most, the
/// smallest interval changes that bring each credential under --target, and rate-limit errors
/// already visible in conditions and events.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-flux_ratelimit",
    bin_name = "kubectl flux-ratelimit",
    version,
    after_help = "\
Examples:
  # Which credential runs out, when, and the cheapest fix.
  kubectl flux-ratelimit

  # A GitHub App installation on a large organisation, and the fix for a 70% target.
  kubectl flux-ratelimit --limit app=12500 --target 70%

  # Ask GitHub for the real remaining budget of each credential (sends each token to GitHub).
  kubectl flux-ratelimit --check

Cost model (requests per reconcile, override with --cost KIND=N):
  gitrepository=5   an HTTPS GitRepository on GitHub. Flux's performance guide: 50+ repositories
                    syncing every minute exhaust 5,000 requests/h in under 20 minutes, i.e. about
                    5 requests per reconcile (ls-remote, fetch negotiation, upload-pack, retries).
                    SSH sources are not counted: GitHub's REST budget does not apply to SSH.
  imageupdate=5     an ImageUpdateAutomation clones and pushes its GitRepository each reconcile.
  provider=1        a github/githubdispatch Provider posts once per event it forwards; events come
                    from the last hour of Events of its Alerts' sources.
  inputprovider=1   a flux-operator ResourceSetInputProvider of a GitHub* or GitLab* type lists
                    one page (up to 100) of branches, tags or pull/merge requests per reconcile,
                    every 10m unless its fluxcd.controlplane.io/reconcileEvery annotation says.
Limits (override with --limit NAME=N, NAME = token | app | anonymous | HOST | CREDENTIAL):
  token 5000/h, GitHub App installation 5000/h (up to 12500/h by organisation size, 15000/h on
  Enterprise Cloud), anonymous 60/h per egress IP, GitHub Enterprise Server hosts unlimited
  (rate limiting is off by default there). gitlab.com: 120000/h per user (2,000/min), 30000/h
  per IP without a token; self-managed GitLab hosts unlimited unless --limit HOST=N.

Output formats (-o): table (default), wide, json, yaml, name, tsv."
)]
pub struct Args {
    /// Override a limit (requests/hour): token=N, app=N, anonymous=N, HOST=N or CREDENTIAL=N.
    #[arg(long = "limit", value_name = "NAME=N", value_parser = parse_pair)]
    pub limits: Vec<(String, u64)>,
    /// Override the cost model (requests per reconcile): gitrepository=N, imageupdate=N, provider=N,
    /// inputprovider=N.
    #[arg(long = "cost", value_name = "KIND=N", value_parser = parse_pair)]
    pub costs: Vec<(String, u64)>,
    /// The utilisation fixes aim for, e.g. 80%.
    #[arg(long, value_name = "PERCENT", default_value = "80%", value_parser = parse_percent)]
    pub target: f64,
    /// Also treat this host as GitHub Enterprise Server (hosts named github.* are by default).
    #[arg(long = "github-host", value_name = "HOST")]
    pub github_hosts: Vec<String>,
    /// Ask the API's /rate_limit endpoint with each credential's token (opt-in: the token is
    /// sent to GitHub; it is never printed).
    #[arg(long)]
    pub check: bool,
    /// The API base URL for --check (default: https://api.github.com for github.com,
    /// https://HOST/api/v3 for Enterprise Server).
    #[arg(long, value_name = "URL")]
    pub github_api_url: Option<String>,
    /// Exit 3 when a credential is projected over its target or its limit.
    #[arg(long, value_enum, value_name = "WHEN")]
    pub fail_on: Option<FailOn>,
    #[command(flatten)]
    common: CommonFlags,
}

fn parse_pair(text: &str) -> Result<(String, u64), String> {
    let (k, v) = text.split_once('=').ok_or_else(|| format!("{text:?}: expected NAME=N"))?;
    let n = v
        .trim()
        .replace([',', '_'], "")
        .parse::<u64>()
        .map_err(|_| format!("{text:?}: {v:?} is not a whole number"))?;
    Ok((k.trim().to_ascii_lowercase(), n))
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let n: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?}: expected a percentage such as 80%"))?;
    if !(1.0..=100.0).contains(&n) {
        return Err(format!("{text:?}: the target must be between 1% and 100%"));
    }
    Ok(n / 100.0)
}

kubectl_flux_cli::command!(Args);
