//! The tools: which plugin answers each, with which of its flags fixed or withheld, and the
//! call itself (the plugin's own parser, resolver and printers; nothing of its logic copied).

use kubectl_flux_cli::{Command, Resolved};
use kubectl_flux_model::error::Error;
use kubectl_flux_output::{Format, Output, Printer};
use kubectl_flux_source::WatchCache;

/// The plugin behind a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// `kubectl flux-lineage`.
    Lineage,
    /// `kubectl flux-events`.
    Events,
    /// `kubectl flux-tenants`.
    Tenants,
    /// `kubectl flux-ratelimit`.
    Ratelimit,
    /// `kubectl flux-controllers`.
    Controllers,
    /// `kubectl flux-reset`: its `plan`, and its `run` when the server allows writes.
    Reset,
}

/// One tool: a plugin with some flags fixed (`preset`) and some withheld (`withheld`).
#[derive(Debug)]
pub struct Tool {
    /// The tool's name.
    pub name: &'static str,
    /// A short title.
    pub title: &'static str,
    /// What it answers and when to use it.
    pub description: &'static str,
    /// Who answers.
    pub plugin: Plugin,
    /// Arguments always passed (a mode flag, a subcommand).
    pub preset: &'static [&'static str],
    /// The plugin's flags (by id) this tool does not offer.
    pub withheld: &'static [&'static str],
    /// The properties a call must give.
    pub required: &'static [&'static str],
    /// Whether it changes the cluster: listed only with `--allow-write`, and each call must
    /// give `confirm`, the name of the context it writes to.
    pub writes: bool,
}

/// The property a writing tool's call confirms with.
pub const CONFIRM: &str = "confirm";

/// Flags no tool offers: how to print (the server decides), where objects come from and as
/// whom (the server's own flags), and exit codes for CI.
pub const SERVER_FLAGS: &[&str] = &[
    "help",
    "version",
    "output",
    "no_headers",
    "jq",
    "color",
    "completion",
    "kubeconfig",
    "cluster",
    "user",
    "server",
    "token",
    "certificate_authority",
    "insecure_skip_tls_verify",
    "as_user",
    "as_groups",
    "filenames",
    "cluster_from_dir",
    "request_timeout",
    "parallel",
    "fail_on",
];

/// Every tool the server lists.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "lineage_why",
        title: "Why is this object not ready?",
        description: "The root cause first: the deepest failing or missing objects the target waits for \
            (sources, dependsOn, valuesFrom, the Kustomization or HelmRelease that manages it, owners, \
            volumes, StorageClasses), each with its Ready reason and message, then the evidence. Use it \
            first when a Kustomization, HelmRelease, source or workload is not Ready. target is KIND/NAME \
            as kubectl accepts it (ks/apps, hr/podinfo, deploy/web); namespace defaults to the context's.",
        plugin: Plugin::Lineage,
        preset: &["--why"],
        withheld: &["why", "cycles", "name"],
        required: &["target"],
        writes: false,
    },
    Tool {
        name: "lineage_cycles",
        title: "Dependency deadlocks",
        description: "Every cycle of waits-for edges across kinds (dependsOn, health checks, valuesFrom on \
            produced objects, sources), with the edge that closes each loop. Use it when objects wait on \
            each other forever or a dependsOn chain never becomes Ready.",
        plugin: Plugin::Lineage,
        preset: &["--cycles"],
        withheld: &["why", "cycles", "name", "target", "depth", "upstream", "downstream"],
        required: &[],
        writes: false,
    },
    Tool {
        name: "lineage_tree",
        title: "Everything around an object",
        description: "The chain around any object with health on every node: what it waits for and who \
            manages it (upstream), what it produces or owns and who uses it (downstream). Use it to see \
            which Kustomization applied a Deployment, from which source, and what a HelmRelease created.",
        plugin: Plugin::Lineage,
        preset: &[],
        withheld: &["why", "cycles", "name"],
        required: &["target"],
        writes: false,
    },
    Tool {
        name: "events_timeline",
        title: "What happened, in order",
        description: "One timeline of Kubernetes Events about Flux objects (and with related, about what \
            they manage), optionally merged with the controllers' logs, deduplicated and classified \
            (auth, rate-limit, conflict, timeout, dependency-not-ready, not-found, oom, health-check), \
            with counts per class, the noisiest objects and the objects that are stuck. Narrow it with \
            for (KIND/NAME), since (Go duration), type, reason, tenant and grep.",
        plugin: Plugin::Events,
        preset: &[],
        withheld: &["watch", "logs_files"],
        required: &[],
        writes: false,
    },
    Tool {
        name: "tenants_load",
        title: "Who is hurting everyone?",
        description: "Per-tenant Flux load (fetch bytes per hour, Git and API calls per hour), failing and \
            stalled objects, isolation findings, the guilty tenant first with its reason, and sizing \
            advice. Use it when the controllers are slow or a shared cluster degrades for everyone.",
        plugin: Plugin::Tenants,
        preset: &[],
        withheld: &[],
        required: &[],
        writes: false,
    },
    Tool {
        name: "ratelimit_budget",
        title: "When does the GitHub API budget run out?",
        description: "Requests per hour per GitHub credential (one token shared by many Secrets is one \
            budget), time to exhaustion within the hour, who spends most, the interval changes that bring \
            it under target, and rate-limit errors already visible. Use it on 403/429 from GitHub or \
            before adding repositories. The check argument (asking GitHub) is offered only when the \
            server was started with --allow-network.",
        plugin: Plugin::Ratelimit,
        preset: &[],
        withheld: &[],
        required: &[],
        writes: false,
    },
    Tool {
        name: "controllers_health",
        title: "Are the controllers keeping up?",
        description: "Per Flux controller and shard, from each pod's own Prometheus endpoint: restarts and \
            OOM kills, reconciles per minute and errors, reconcile-time percentiles, the workqueue and \
            its workers, memory against its limit and its growth, API throttling, the slowest objects; \
            verdicts against Flux's performance guide, what to change first, the shard plan, and why \
            listing Flux objects is slow. Use it when reconciles lag or controllers restart.",
        plugin: Plugin::Controllers,
        preset: &[],
        withheld: &["watch", "interval", "metrics_files"],
        required: &[],
        writes: false,
    },
    Tool {
        name: "reset_plan",
        title: "What would a Flux reset do?",
        description: "Every API call a safe reset of the Flux objects in scope would make, in order \
            (back up, suspend, delete, restart the controllers, recreate, resume, verify), and what it \
            would touch. It changes nothing. Scope with namespace (comma-separated), all, kind and \
            selector.",
        plugin: Plugin::Reset,
        preset: &["plan"],
        withheld: &["command", "yes", "dir"],
        required: &[],
        writes: false,
    },
    Tool {
        name: "reset_run",
        title: "Reset Flux objects (changes the cluster)",
        description: "CHANGES THE CLUSTER. Resets the Flux objects in scope safely: backs them up to dir, \
            suspends them, deletes only what is confirmed suspended (nothing is pruned or uninstalled), \
            restarts the controllers, recreates, resumes and verifies that nothing was lost; every step is \
            journaled in dir so `kubectl flux-reset resume --dir DIR` finishes it after a failure. Call \
            reset_plan first and show the user what it would do. confirm must be the name of the context \
            the reset writes to (reset_plan's document names it), given by the user. Takes minutes; a \
            cancelled call does not stop a reset that has begun. dir defaults to ./flux-reset-<UTC time> \
            in the server's working directory.",
        plugin: Plugin::Reset,
        preset: &["run"],
        withheld: &["command", "yes", "all_contexts"],
        required: &["confirm"],
        writes: true,
    },
];

/// The tool named `name` that a server started with `allow_write` (or not) offers.
pub fn find(name: &str, allow_write: bool) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name && (allow_write || !t.writes))
}

/// The plugin's command line (clap), the source of every tool's input schema.
pub fn command(plugin: Plugin) -> clap::Command {
    use clap::CommandFactory;
    match plugin {
        Plugin::Lineage => kubectl_flux_lineage::Args::command(),
        Plugin::Events => kubectl_flux_events::Args::command(),
        Plugin::Tenants => kubectl_flux_tenants::Args::command(),
        Plugin::Ratelimit => kubectl_flux_ratelimit::Args::command(),
        Plugin::Controllers => kubectl_flux_controllers::Args::command(),
        Plugin::Reset => kubectl_flux_reset::Args::command(),
    }
}

/// A tool's answer: the plugin's JSON document and the text it prints by default.
#[derive(Debug)]
pub struct Reply {
    /// The `-o json` document.
    pub document: serde_json::Value,
    /// The default output (tree or table), without colour.
    pub text: String,
    /// With a watch cache: how current the lists that answered were.
    pub freshness: Option<String>,
}

/// Why a call has no answer.
#[derive(Debug)]
pub enum Refusal {
    /// The arguments do not parse or resolve (the CLI's message).
    Usage(String),
    /// The plugin failed (the CLI's `error:` message).
    Failed(String),
}

/// Runs the plugin of `tool` on `argv` (its program name first); a writing tool's call also
/// gives the name it was confirmed with. With a watch cache, the plugin's cluster reads are
/// answered from it (a reset's own reads and writes still go to the cluster).
pub fn call(
    tool: &Tool,
    argv: &[String],
    confirmed: Option<&str>,
    cache: Option<WatchCache>,
) -> Result<Reply, Refusal> {
    let call = Call { argv, cache };
    if tool.writes {
        let context =
            confirmed.ok_or_else(|| Refusal::Usage(format!("{}: the argument '{CONFIRM}' is required", tool.name)))?;
        return call.answer(kubectl_flux_reset::FORMATS, "flux-reset", |args, resolved, printers| {
            kubectl_flux_reset::reset_confirmed(args, resolved, context, printers)
        });
    }
    match tool.plugin {
        Plugin::Lineage => call.answer(kubectl_flux_lineage::FORMATS, "flux-lineage", kubectl_flux_lineage::answer),
        Plugin::Events => call.answer(kubectl_flux_events::FORMATS, "flux-events", kubectl_flux_events::answer),
        Plugin::Tenants => call.answer(kubectl_flux_tenants::FORMATS, "flux-tenants", kubectl_flux_tenants::answer),
        Plugin::Ratelimit => {
            call.answer(kubectl_flux_ratelimit::FORMATS, "flux-ratelimit", kubectl_flux_ratelimit::answer)
        }
        Plugin::Controllers => {
            call.answer(kubectl_flux_controllers::FORMATS, "flux-controllers", kubectl_flux_controllers::answer)
        }
        Plugin::Reset => call.answer(kubectl_flux_reset::FORMATS, "flux-reset", kubectl_flux_reset::print_plan),
    }
}

/// One call's command line, and the watch cache its reads go through.
struct Call<'a> {
    argv: &'a [String],
    cache: Option<WatchCache>,
}

impl Call<'_> {
    /// Parses the command line as the plugin's, resolves it as the binary would, and prints the
    /// one answer twice: as the JSON document and as the default text.
    fn answer<A: Command>(
        self,
        formats: &[Format],
        plugin: &str,
        answer: impl FnOnce(&A, &Resolved, &mut [Printer]) -> kubectl_flux_model::Result<u8>,
    ) -> Result<Reply, Refusal> {
        let args = A::try_parse_from(self.argv).map_err(|e| Refusal::Usage(clap_message(&e)))?;
        let mut resolved = args.common().resolve(formats).map_err(|e| refusal(plugin, e))?;
        if let Some(cache) = &self.cache {
            resolved.read_through(cache);
        }
        let mut reply = print_twice(&args, &resolved, formats, plugin, answer)?;
        reply.freshness = self.cache.as_ref().and_then(WatchCache::freshness);
        Ok(reply)
    }
}

/// The one answer printed as the JSON document and as the default text.
fn print_twice<A: Command>(
    args: &A,
    resolved: &Resolved,
    formats: &[Format],
    plugin: &str,
    answer: impl FnOnce(&A, &Resolved, &mut [Printer]) -> kubectl_flux_model::Result<u8>,
) -> Result<Reply, Refusal> {
    let (mut json, mut text) = (Vec::new(), Vec::new());
    let mut printers = [
        Printer { output: resolved.output.clone(), out: &mut json },
        Printer { output: Output { inline_notes: true, ..Output::plain(formats[0]) }, out: &mut text },
    ];
    // Exit code 3 (findings at --fail-on) is an answer too; the document holds the findings.
    answer(args, resolved, &mut printers).map_err(|e| refusal(plugin, e))?;
    let document = serde_json::from_slice(&json)
        .map_err(|e| Refusal::Failed(format!("{plugin}: its JSON document does not parse: {e}")))?;
    Ok(Reply { document, text: String::from_utf8_lossy(&text).into_owned(), freshness: None })
}

fn refusal(plugin: &str, e: Error) -> Refusal {
    let message = format!("{plugin}: {e}");
    if e.exit_code() == kubectl_flux_model::error::EXIT_USAGE {
        Refusal::Usage(message)
    } else {
        Refusal::Failed(message)
    }
}

/// clap's message without its usage and help lines (the caller has no command line).
fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    rendered
        .lines()
        .take_while(|l| !l.trim_start().starts_with("Usage:") && !l.starts_with("For more information"))
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
