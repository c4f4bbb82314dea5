//! The MCP conformance suite (npm `@modelcontextprotocol/conformance`) against the server over
//! streamable HTTP: every server scenario that can apply to a server of read-only tools passes.
//! The others test features this server does not offer (see NOT_APPLICABLE).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The newest release that runs on Node 20 (0.1.14 and later need Node 22's `fs.globSync`).
const SUITE: &str = "@modelcontextprotocol/conformance@0.1.13";

/// Scenarios that apply to this server, each of which must pass.
const APPLICABLE: &[&str] = &["server-initialize", "ping", "tools-list", "dns-rebinding-protection"];

/// The suite's other server scenarios, and why they cannot apply: they call tools, prompts
/// and resources of the suite's reference server by name, or features this server does not
/// offer (logging, completion, sampling, elicitation, resources, prompts).
pub const NOT_APPLICABLE: &[(&str, &str)] = &[
    ("logging-set-level", "no logging capability"),
    ("completion-complete", "no completion capability"),
    ("tools-call-simple-text", "calls the reference server's test_simple_text tool"),
    ("tools-call-image", "calls the reference server's test_image_content tool"),
    ("tools-call-audio", "calls the reference server's test_audio_content tool"),
    ("tools-call-embedded-resource", "calls the reference server's test_embedded_resource tool"),
    ("tools-call-mixed-content", "calls the reference server's test_multiple_content_types tool"),
    ("tools-call-with-logging", "calls the reference server's test_tool_with_logging tool"),
    ("tools-call-error", "calls the reference server's test_error_handling tool"),
    ("tools-call-with-progress", "calls the reference server's test_tool_with_progress tool"),
    ("tools-call-sampling", "calls the reference server's test_sampling tool; no sampling"),
    ("tools-call-elicitation", "calls the reference server's test_elicitation tool; no elicitation"),
    ("json-schema-2020-12", "looks for the reference server's json_schema_2020_12_tool"),
    ("elicitation-sep1034-defaults", "no elicitation"),
    ("elicitation-sep1330-enums", "no elicitation"),
    ("server-sse-polling", "calls the reference server's test_reconnection tool"),
    ("server-sse-multiple-streams", "calls the reference server's test_multiple_streams tool"),
    ("resources-list", "no resources"),
    ("resources-read-text", "no resources"),
    ("resources-read-binary", "no resources"),
    ("resources-templates-read", "no resources"),
    ("resources-subscribe", "no resources"),
    ("resources-unsubscribe", "no resources"),
    ("prompts-list", "no prompts"),
    ("prompts-get-simple", "no prompts"),
    ("prompts-get-with-args", "no prompts"),
    ("prompts-get-embedded-resource", "no prompts"),
    ("prompts-get-with-image", "no prompts"),
];

/// The suite's entry point, installed once per machine outside the checkout (npm registry).
fn suite() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
        .join("kubectl-flux")
        .join(SUITE.replace(['@', '/'], "_"));
    let entry = cache.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    if !entry.exists() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&cache)
            .arg(SUITE)
            .status()
            .expect("npm must be installed (Node.js 20 or newer)");
        assert!(status.success(), "npm install {SUITE} failed");
    }
    entry
}

#[test]
fn every_applicable_conformance_scenario_passes() {
    let suite = suite();
    let mut server = Command::new(common::bin())
        .args(["--listen", "127.0.0.1:0", "-f"])
        .arg(kubectl_flux_testkit::example("demo"))
        .env_remove("KUBECTL_FLUX_MCP_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    stderr.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let url = line.trim().strip_prefix("kubectl-flux mcp: serving ").unwrap().to_string();
    // Every listed scenario is one the suite has: a scenario renamed upstream is noticed here.
    let listed = Command::new("node").arg(&suite).args(["list", "--server"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    let names: Vec<&str> = listed.lines().filter_map(|l| l.trim().strip_prefix("- ")).collect();
    let known: Vec<&str> = APPLICABLE.iter().copied().chain(NOT_APPLICABLE.iter().map(|(n, _)| *n)).collect();
    let mut sorted_names = names.clone();
    sorted_names.sort();
    let mut sorted_known = known.clone();
    sorted_known.sort();
    assert_eq!(sorted_names, sorted_known, "the suite's server scenarios changed");
    let mut failures = Vec::new();
    for scenario in APPLICABLE {
        let out =
            Command::new("node").arg(&suite).args(["server", "--url", &url, "--scenario", scenario]).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() || text.contains("FAILURE") || text.contains("✗") {
            failures.push(format!("{scenario}:\n{text}"));
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
