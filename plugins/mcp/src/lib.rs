//! `kubectl flux-mcp`: the suite's answers as MCP tools for AI assistants. Each tool is one
//! plugin's own command line ([`tools`]), offered with an input schema made from that plugin's
//! flags ([`schema`]); the server ([`server`]) speaks MCP over stdio or streamable HTTP
//! ([`http`]).

mod args;
pub mod http;
pub mod schema;
pub mod server;
pub mod tools;

pub use args::Args;

use kubectl_flux_model::error::{Error, Result};
use server::Server;

/// Runs the server until the client closes stdio (or, with `--listen`, until the process is
/// stopped); returns the exit code.
pub fn run(args: Args) -> Result<u8> {
    check_sources(&args)?;
    let token = token(&args)?;
    if let Some(addr) = args.listen
        && token.is_none()
        && !http::open_without_token(&addr)
    {
        return Err(Error::usage(format!(
            "--listen {addr}: serving beyond loopback needs a bearer token ($KUBECTL_FLUX_MCP_TOKEN or --token-file)"
        )));
    }
    // A call answers without waiting for its snapshot to be freed.
    kubectl_flux_model::snapshot::free_in_background();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Output)?;
    let listen = args.listen;
    let server = Server::new(args)?;
    let served = runtime.block_on(async move {
        match listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| Error::usage(format!("--listen {addr}: {e}")))?;
                // The address actually bound (port 0 picks a free one), for whoever started us.
                eprintln!("kubectl-flux mcp: serving http://{}{}", listener.local_addr()?, http::PATH);
                http::serve(listener, server, token).await?;
            }
            None => {
                use rmcp::ServiceExt;
                use rmcp::service::ServerInitializeError;
                match server.serve(rmcp::transport::stdio()).await {
                    Ok(running) => {
                        let _ = running.waiting().await;
                    }
                    // The client went away before it began (stdin closed): no session, no error.
                    Err(ServerInitializeError::ConnectionClosed(_)) => {}
                    Err(e) => return Err(Error::usage(format!("stdin: not an MCP client: {e}"))),
                }
            }
        }
        Ok(0)
    });
    // A read abandoned by a client may still wait on the API server (up to --request-timeout);
    // the process does not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

/// The bearer token: `--token-file`, else `$KUBECTL_FLUX_MCP_TOKEN` (never a flag value, which
/// other users of the machine could read in the process list).
fn token(args: &Args) -> Result<Option<String>> {
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| Error::usage(format!("--token-file {}: {e}", path.display())))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("KUBECTL_FLUX_MCP_TOKEN").ok().filter(|t| !t.is_empty()),
    };
    if token.as_deref() == Some("") {
        return Err(Error::usage("--token-file: the file is empty"));
    }
    Ok(token)
}

/// Snapshot paths are checked at start, so a wrong one is named now (exit 2) rather than in
/// every tool's answer.
fn check_sources(args: &Args) -> Result<()> {
    let named =
        args.filenames.iter().map(|p| ("-f", p)).chain(args.metrics_files.iter().map(|p| ("--metrics-file", p)));
    for (flag, path) in named {
        if !path.exists() {
            return Err(Error::usage(format!("{flag} {}: no such file or directory", path.display())));
        }
    }
    Ok(())
}
