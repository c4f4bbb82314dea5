//! Streamable HTTP (`--listen`): the official Python SDK as the client, two at once; a bearer
//! token beyond loopback, checked on every request.

mod common;

use common::{assert_same_as_cli, bin, drive, result, serve};
use kubectl_flux_testkit::{example, run_with};
use serde_json::json;
use std::io::{Read, Write};

/// The status code of an `initialize` POST with these extra headers.
fn status_of_post(url: &str, headers: &[&str]) -> u16 {
    status_of_post_as(url, None, headers)
}

/// Like [`status_of_post`], naming another host in the Host header.
fn status_of_post_as(url: &str, host: Option<&str>, headers: &[&str]) -> u16 {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let port = authority.rsplit_once(':').unwrap().1;
    let host = host.map(|h| format!("{h}:{port}")).unwrap_or_else(|| authority.to_string());
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    let mut request = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{response}"))
}

#[test]
fn two_clients_at_once_get_the_plugins_answers() {
    let demo = example("demo");
    let served = serve(&["-f", &demo], &[]);
    let calls = json!([
        {"tool": "tenants_load", "arguments": {"all_namespaces": true}},
        {"tool": "events_timeline", "arguments": {"type": "Warning"}},
        {"tool": "lineage_tree", "arguments": {"target": "ks/flux-system", "namespace": "flux-system"}},
    ]);
    let reports: Vec<_> = std::thread::scope(|s| {
        let clients: Vec<_> =
            (0..2).map(|_| s.spawn(|| drive("http", std::slice::from_ref(&served.url), &calls, &[]))).collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for report in &reports {
        assert_same_as_cli(result(report, 0), "tenants", &["-A", "-f", &demo]);
        assert_same_as_cli(result(report, 1), "events", &["--type", "Warning", "-f", &demo]);
        assert_same_as_cli(result(report, 2), "lineage", &["ks/flux-system", "-n", "flux-system", "-f", &demo]);
    }
}

#[test]
fn a_bearer_token_guards_the_server() {
    // Beyond loopback, never without a token.
    let r = run_with(bin(), &["--listen", "0.0.0.0:0"], &[("KUBECTL_FLUX_MCP_TOKEN", "")]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: flux-mcp: --listen 0.0.0.0:0: serving beyond loopback needs a bearer token ($KUBECTL_FLUX_MCP_TOKEN or --token-file)\n"
    );
    let r = run_with(bin(), &["--listen", "127.0.0.1:0", "--token-file", "/nonexistent/token"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: flux-mcp: --token-file /nonexistent/token: "), "{}", r.stderr);

    let demo = example("demo");
    let served = serve(&["-f", &demo], &[("KUBECTL_FLUX_MCP_TOKEN", "s3cr3t-t0ken")]);
    assert_eq!(status_of_post(&served.url, &[]), 401);
    assert_eq!(status_of_post(&served.url, &["Authorization: Bearer wrong-token!"]), 401);
    assert_eq!(status_of_post(&served.url, &["Authorization: Bearer s3cr3t-t0ken"]), 200);
    let report = drive(
        "http",
        std::slice::from_ref(&served.url),
        &json!([{"tool": "tenants_load"}]),
        &[("MCP_TOKEN", "s3cr3t-t0ken")],
    );
    assert_same_as_cli(result(&report, 0), "tenants", &["-f", &demo]);
}

#[test]
fn without_a_token_only_loopback_host_names_are_answered() {
    let served = serve(&["-f", &example("demo")], &[]);
    assert_eq!(status_of_post(&served.url, &[]), 200);
    // A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) is refused.
    assert_eq!(status_of_post_as(&served.url, Some("attacker.example"), &[]), 403);
    assert_eq!(status_of_post_as(&served.url, Some("localhost"), &[]), 200);
}
