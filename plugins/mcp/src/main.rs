//! `kubectl flux-mcp`: the suite's answers as MCP tools.

use clap::{CommandFactory, Parser};
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
        let args = Args::parse();
        if let Some(shell) = args.completion {
            return kubectl_flux_cli::print_completion(shell, Args::command());
        }
        run(args)
    })
}
