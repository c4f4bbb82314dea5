//! `kubectl flux-mcp`: the suite's answers as MCP tools.

use clap::{CommandFactory, FromArgMatches};
use kubectl_flux_mcp::{Args, run};
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__complete") {
        // kubectl's plugin completion (`kubectl_complete-flux_mcp`).
        let (words, directive) = kubectl_flux_cli::run::complete(&Args::command(), &[], &argv[2..]);
        for w in words {
            println!("{w}");
        }
        println!(":{directive}");
        return ExitCode::SUCCESS;
    }
    kubectl_flux_cli::run::run("flux-mcp", || {
        // --version names the commit; run as flux-mcp (a Flux CLI plugin), help says `flux mcp`.
        let mut cmd =
            kubectl_flux_cli::run::named(Args::command(), argv.first().map(String::as_str).unwrap_or_default());
        let args = Args::from_arg_matches_mut(&mut cmd.clone().get_matches())
            .map_err(|e| e.format(&mut cmd))
            .unwrap_or_else(|e| e.exit());
        if let Some(shell) = args.completion {
            return kubectl_flux_cli::print_completion(shell, cmd);
        }
        run(args)
    })
}
