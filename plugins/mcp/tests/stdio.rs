//! The official Python MCP SDK as the client, over stdio, on the bundled snapshots: every tool's
//! result is the plugin's own answer (its `-o json` document, its default text); bad arguments
//! and unknown tools are refused with the CLI's words while the server keeps serving; the tool
//! list is exact and offers nothing that writes; no planted secret reaches any result.

mod common;

use common::{assert_same_as_cli, drive, result, stdio};
use kubectl_flux_testkit::{assert_golden, example, planted_secrets};
use serde_json::json;
use std::path::Path;

#[test]
fn every_tool_answers_as_its_plugin_does() {
    let storage = example("missing-storageclass");
    let calls = json!([
        {"tool": "lineage_why", "arguments": {"target": "kustomization/userapp", "namespace": "flux-system"}},
        {"tool": "lineage_tree", "arguments": {"target": "ks/userapp", "namespace": "flux-system", "upstream": true}},
        {"tool": "reset_plan", "arguments": {"all": true}},
    ]);
    let report = drive("stdio", &stdio(&["-f", &storage]), &calls, &[]);
    assert_eq!(report["server"], "kubectl-flux");
    let f = ["-f", storage.as_str()];
    assert_same_as_cli(
        result(&report, 0),
        "lineage",
        &[&["--why", "kustomization/userapp", "-n", "flux-system"], &f[..]].concat(),
    );
    assert_same_as_cli(
        result(&report, 1),
        "lineage",
        &[&["ks/userapp", "-n", "flux-system", "--upstream"], &f[..]].concat(),
    );
    assert_same_as_cli(result(&report, 2), "reset", &[&["plan", "--all"], &f[..]].concat());

    let cycle = example("cycle");
    let report = drive("stdio", &stdio(&["-f", &cycle]), &json!([{"tool": "lineage_cycles"}]), &[]);
    assert_same_as_cli(result(&report, 0), "lineage", &["--cycles", "-f", &cycle]);

    let demo = example("demo");
    let calls = json!([
        {"tool": "events_timeline", "arguments": {}},
        {"tool": "events_timeline", "arguments": {"tenant": "team-b", "since": "2h"}},
        {"tool": "tenants_load", "arguments": {"all_namespaces": true}},
    ]);
    let report = drive("stdio", &stdio(&["-f", &demo]), &calls, &[]);
    assert_same_as_cli(result(&report, 0), "events", &["-f", &demo]);
    assert_same_as_cli(result(&report, 1), "events", &["--tenant", "team-b", "--since", "2h", "-f", &demo]);
    assert_same_as_cli(result(&report, 2), "tenants", &["-A", "-f", &demo]);

    let rate = example("rate-limit");
    let report = drive(
        "stdio",
        &stdio(&["-f", &rate]),
        &json!([{"tool": "ratelimit_budget", "arguments": {"target": "50"}}]),
        &[],
    );
    assert_same_as_cli(result(&report, 0), "ratelimit", &["--target", "50", "-f", &rate]);

    let overload = example("controllers-overload");
    let scrapes = kubectl_flux_testkit::root().join("examples/scrapes/controllers-overload");
    let (before, after) = (scrapes.join("before").display().to_string(), scrapes.join("after").display().to_string());
    let server = stdio(&["-f", &overload, "--metrics-file", &before, "--metrics-file", &after]);
    let report = drive("stdio", &server, &json!([{"tool": "controllers_health", "arguments": {"sample": "10m"}}]), &[]);
    assert_same_as_cli(
        result(&report, 0),
        "controllers",
        &["--sample", "10m", "-f", &overload, "--metrics-file", &before, "--metrics-file", &after],
    );
    // The verdicts are there, as the plugin judged them.
    assert!(result(&report, 0)["structured"]["verdicts"].as_array().is_some_and(|v| !v.is_empty()));
}

#[test]
fn bad_calls_are_refused_with_the_clis_words_and_the_server_keeps_serving() {
    let storage = example("missing-storageclass");
    let calls = json!([
        {"tool": "lineage_why", "arguments": {}},
        {"tool": "lineage_why", "arguments": {"target": "ks/userapp", "bogus": 1}},
        {"tool": "lineage_why", "arguments": {"target": "nonsense/userapp"}},
        {"tool": "events_timeline", "arguments": {"since": "yesterday"}},
        {"tool": "lineage_tree", "arguments": {"target": "--kubeconfig=/etc/passwd"}},
        {"tool": "lineage_why", "arguments": {"target": "ks/userapp", "upstream": "yes"}},
        {"tool": "no_such_tool", "arguments": {}},
        {"tool": "lineage_why", "arguments": {"target": "ks/userapp", "namespace": "flux-system"}},
    ]);
    let report = drive("stdio", &stdio(&["-f", &storage]), &calls, &[]);
    let message = |i: usize| {
        let r = result(&report, i);
        assert_eq!(r["isError"], true, "call {i}: {r:#}");
        r["text"][0].as_str().unwrap().to_string()
    };
    assert_eq!(message(0), "lineage_why: the argument 'target' is required");
    assert!(
        message(1)
            .starts_with("lineage_why: unknown argument 'bogus' (it takes: target, depth, upstream, downstream, "),
        "{}",
        message(1)
    );
    // The plugin's own error, as the CLI prints it after "error: ".
    let cli = common::cli("lineage", &["--why", "nonsense/userapp", "-f", &storage]);
    assert_eq!(cli.code, 2);
    assert_eq!(format!("error: {}\n", message(2)), cli.stderr);
    // clap's refusal, as the CLI prints it (without the usage lines that follow).
    let cli = common::cli("events", &["--since", "yesterday", "-f", &storage]);
    assert_eq!(cli.code, 2);
    assert_eq!(cli.stderr.lines().next(), Some(message(3).as_str()));
    assert!(message(3).starts_with("error: invalid value 'yesterday' for '--since <DURATION>'"), "{}", message(3));
    // A value is never read as a flag: it is the target, an unknown kind.
    let cli = common::cli("lineage", &["-f", &storage, "--", "--kubeconfig=/etc/passwd"]);
    assert_eq!(format!("error: {}\n", message(4)), cli.stderr);
    assert_eq!(message(5), "lineage_why: 'upstream' must be true or false, not \"yes\"");
    assert!(result(&report, 6)["protocolError"].as_str().unwrap().contains("unknown tool 'no_such_tool'"));
    assert_eq!(result(&report, 7)["isError"], false, "the server still answers after refusals");
}

#[test]
fn the_tool_list_is_exact_and_nothing_writes() {
    let report = drive("stdio", &stdio(&[]), &json!([]), &[]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let tools = serde_json::to_string_pretty(&report["tools"]).unwrap() + "\n";
    assert_golden(&dir, "tools", &kubectl_flux_testkit::Run { code: 0, stdout: tools, stderr: String::new() });
    for tool in report["tools"].as_array().unwrap() {
        assert_eq!(tool["annotations"]["readOnlyHint"], true, "{}", tool["name"]);
        let properties = tool["inputSchema"]["properties"].as_object().unwrap();
        for never in ["yes", "watch", "output", "jq", "kubeconfig", "filename", "token", "as", "fix", "check"] {
            assert!(!properties.contains_key(never), "{} offers {never}", tool["name"]);
        }
    }
    // Asking GitHub is offered only when the server was started with --allow-network.
    let report = drive("stdio", &stdio(&["--allow-network"]), &json!([]), &[]);
    let ratelimit = report["tools"].as_array().unwrap().iter().find(|t| t["name"] == "ratelimit_budget").unwrap();
    assert_eq!(ratelimit["inputSchema"]["properties"]["check"]["type"], "boolean");
    assert_eq!(ratelimit["annotations"]["openWorldHint"], true);
}

#[test]
fn no_result_carries_a_secret() {
    let files: Vec<String> =
        ["demo", "rate-limit", "missing-storageclass", "corrupted-state"].iter().map(|n| example(n)).collect();
    let mut flags: Vec<&str> = Vec::new();
    for f in &files {
        flags.extend(["-f", f.as_str()]);
    }
    let calls = json!([
        {"tool": "lineage_why", "arguments": {"target": "kustomization/userapp", "namespace": "flux-system"}},
        {"tool": "lineage_cycles"},
        {"tool": "lineage_tree", "arguments": {"target": "ks/flux-system", "namespace": "flux-system"}},
        {"tool": "events_timeline", "arguments": {"related": true}},
        {"tool": "tenants_load", "arguments": {"all_namespaces": true}},
        {"tool": "ratelimit_budget", "arguments": {"all_namespaces": true}},
        {"tool": "controllers_health", "arguments": {}},
        {"tool": "reset_plan", "arguments": {"all": true}},
    ]);
    let report = drive("stdio", &stdio(&flags), &calls, &[]);
    let text = report.to_string();
    for (i, r) in report["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["isError"], false, "call {i}: {r:#}");
    }
    for secret in planted_secrets() {
        assert!(!text.contains(&secret), "a result carries a planted secret ({} chars)", secret.len());
    }
    assert_eq!(report["results"].as_array().map(Vec::len), Some(8));
}
