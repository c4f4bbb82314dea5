//! The MCP server: lists the tools and answers calls, each on a thread of its own (a read can
//! take seconds), with progress while it reads and an early reply when the client cancels.

use crate::args::Args;
use crate::schema;
use crate::tools::{self, Refusal};
use kubectl_flux_source::WatchCache;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, Content, ErrorData, Implementation, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ServerCapabilities, ServerInfo, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use std::sync::Arc;
use std::time::Duration;

/// What a session needs: the tool list and the server's own flags. Cheap to clone (one per
/// HTTP session).
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    args: Args,
    tools: Vec<Tool>,
    /// `--watch-cache`: the lists every call reads, kept current by watches.
    cache: Option<WatchCache>,
}

/// How often a running call reports progress to a client that asked for it.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

impl Server {
    /// A server for the flags it was started with.
    pub fn new(args: Args) -> kubectl_flux_model::Result<Self> {
        let cache = if args.watch_cache { Some(WatchCache::new()?) } else { None };
        let tools = tools::TOOLS
            .iter()
            .filter(|t| args.allow_write || !t.writes)
            .map(|t| {
                let cmd = tools::command(t.plugin);
                let schema = schema::input_schema(&cmd, t, args.allow_network);
                let open_world = t.plugin == tools::Plugin::Ratelimit && args.allow_network;
                Tool::new(t.name, t.description, Arc::new(schema)).with_title(t.title).with_annotations(
                    ToolAnnotations::with_title(t.title)
                        .read_only(!t.writes)
                        .destructive(t.writes)
                        .idempotent(!t.writes)
                        .open_world(open_world),
                )
            })
            .collect();
        Ok(Server { inner: Arc::new(Inner { args, tools, cache }) })
    }

    /// The tools this server lists.
    pub fn tools(&self) -> &[Tool] {
        &self.inner.tools
    }

    /// Answers one call: the tool's result, or a tool error with the CLI's message.
    async fn answer(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let tool = tools::find(&request.name, self.inner.args.allow_write)
            .ok_or_else(|| ErrorData::invalid_params(format!("unknown tool '{}'", request.name), None))?;
        let arguments = request.arguments.unwrap_or_default();
        let names_contexts = arguments.contains_key("context") || arguments.contains_key("all_contexts");
        let mut server = self.inner.args.tool_flags(tool.plugin, !names_contexts);
        server.push("--output=json".into());
        let cmd = tools::command(tool.plugin);
        let argv = match schema::argv(&cmd, tool, self.inner.args.allow_network, &arguments, &server) {
            Ok(argv) => argv,
            Err(message) => return Ok(CallToolResult::error(vec![Content::text(message)])),
        };
        let confirmed = match arguments.get(tools::CONFIRM) {
            Some(serde_json::Value::String(name)) if tool.writes => Some(name.clone()),
            Some(other) if tool.writes => {
                let message = format!("{}: '{}' must be a string, not {other}", tool.name, tools::CONFIRM);
                return Ok(CallToolResult::error(vec![Content::text(message)]));
            }
            _ => None,
        };
        let cache = self.inner.cache.as_ref().map(WatchCache::for_call);
        let mut work = tokio::task::spawn_blocking(move || tools::call(tool, &argv, confirmed.as_deref(), cache));
        let progress = context.meta.get_progress_token();
        let mut ticks = tokio::time::interval(PROGRESS_EVERY);
        ticks.tick().await;
        let mut elapsed = 0u64;
        let joined = loop {
            tokio::select! {
                joined = &mut work => break joined,
                // The read goes on until its current request ends (--request-timeout bounds it);
                // the client gets its answer now.
                _ = context.ct.cancelled() => {
                    let goes_on = if tool.writes { "; a reset that has begun goes on to its end (its journal is in its dir)" } else { "" };
                    return Err(ErrorData::invalid_request(format!("{}: cancelled by the client{goes_on}", tool.name), None));
                }
                _ = ticks.tick() => {
                    elapsed += 1;
                    if let Some(token) = &progress {
                        let note = ProgressNotificationParam::new(token.clone(), elapsed as f64)
                            .with_message(format!("{}: reading, {elapsed}s", tool.name));
                        let _ = context.peer.notify_progress(note).await;
                    }
                }
            }
        };
        Ok(match joined {
            Ok(Ok(reply)) => {
                let json = serde_json::to_string(&reply.document).unwrap_or_default();
                let mut content = vec![Content::text(reply.text), Content::text(json)];
                // How current a cached answer is, beside the document (which stays the CLI's).
                content.extend(reply.freshness.map(Content::text));
                let mut result = CallToolResult::success(content);
                result.structured_content = Some(reply.document);
                result
            }
            Ok(Err(Refusal::Usage(message) | Refusal::Failed(message))) => {
                CallToolResult::error(vec![Content::text(message)])
            }
            Err(panic) => CallToolResult::error(vec![Content::text(format!(
                "{}: internal error ({panic}); please report this with the arguments you gave",
                tool.name
            ))]),
        })
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("kubectl-flux", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Flux CD troubleshooting answers, computed rather than guessed: start with lineage_why for \
                 an object that is not Ready, events_timeline for what happened, controllers_health when \
                 reconciles lag, tenants_load when a shared cluster slows down, ratelimit_budget on GitHub \
                 403/429s, lineage_cycles for objects that wait on each other. Every tool is read-only \
                 except reset_run (listed only when the server allows writes), which needs the user's \
                 confirmation: the name of the context it writes to.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.inner.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.answer(request, context).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }
}
