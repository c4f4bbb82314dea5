//! flux-ratelimit on the rate-limit incident: golden outputs, credential grouping, fixes,
//! `--check` against a local GitHub-like `/rate_limit` test double, and no token ever printed.

use kubectl_flux_testkit::{Run, assert_golden, example, root, run, run_with};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "ghp_FAKEfakeFAKEfake0123456789abcdefABCD";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_ratelimit"))
}

fn dir() -> PathBuf {
    root().join("plugins/ratelimit/tests/golden")
}

fn ratelimit(args: &[&str]) -> Run {
    let f = example("rate-limit");
    let mut all = args.to_vec();
    all.extend(["-f", f.as_str()]);
    run(bin(), &all)
}

#[test]
fn golden_in_every_format() {
    for (name, args) in [
        ("table", vec![]),
        ("wide", vec!["-o", "wide"]),
        ("json", vec!["-o", "json"]),
        ("tsv", vec!["-o", "tsv"]),
        ("name", vec!["-o", "name"]),
        ("app-limit", vec!["--limit", "app=12500", "--target", "70%"]),
    ] {
        let r = ratelimit(&args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("rate-limit"), name, &r);
    }
}

#[test]
fn demo_golden() {
    let f = example("demo");
    for (name, args) in [("table", vec!["-f", f.as_str()]), ("json", vec!["-f", f.as_str(), "-o", "json"])] {
        let r = run(bin(), &args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("demo"), name, &r);
    }
}

/// A flux-operator ResourceSetInputProvider polling GitHub's pull requests spends from the
/// token its Secret holds, with the sources the ResourceSet generated and the FluxInstance's sync
/// source; each fix is made where it lasts: the provider's reconcileEvery annotation, the
/// ResourceSet's template, the FluxInstance's spec.sync.
#[test]
fn input_providers_spend_and_are_fixed_where_the_operator_keeps_them() {
    let f = example("flux-operator");
    for (name, args) in [("wide", vec!["-o", "wide"]), ("over-limit", vec!["--limit", "token=500"])] {
        let mut all = args.clone();
        all.extend(["-f", f.as_str()]);
        let r = run(bin(), &all);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&dir().join("flux-operator"), name, &r);
    }
    let jq = r#".budgets[0].spenders[] | select(.interval == "1m0s") | [.object, (.requestsPerHour | floor), .generatedBy // "-"] | @tsv"#;
    let r = run(bin(), &["-f", f.as_str(), "--cost", "inputprovider=3", "--jq", jq]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            "GitRepository apps/podinfo-101\t300\tResourceSet apps/previews\n\
             GitRepository apps/podinfo-102\t300\tResourceSet apps/previews\n\
             GitRepository flux-system/flux-system\t300\tFluxInstance flux-system/flux\n\
             ResourceSetInputProvider apps/preview-prs\t180\t-\n"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn one_token_shared_across_namespaces_is_one_budget() {
    let r = ratelimit(&[
        "--jq",
        r#".budgets[] | select(.auth == "token" and .host == "github.com" and .sources > 50) | [.sources, (.secrets | length), .requestsPerHour, .limit, .exhaustedAfter, (.rateLimited | length)] | @tsv"#,
    ]);
    // 56 GitRepositories in four namespaces plus the github Provider, all with the same token.
    assert_eq!(r.stdout, "57\t5\t16806\t5000\t17m51s\t19\n");
}

#[test]
fn app_token_anonymous_and_enterprise_are_told_apart() {
    let r = ratelimit(&["--jq", r#".budgets[] | [.host, .auth, .limit // "unlimited", .sources] | @tsv"#]);
    assert_eq!(
        r.stdout,
        "github.com\tanonymous\t60\t4\ngithub.com\ttoken\t5000\t57\ngithub.com\tapp\t5000\t6\ngithub.com\ttoken\t5000\t1\ngithub.acme-corp.com\ttoken\tunlimited\t3\n"
    );
    let r = ratelimit(&[
        "--limit",
        "github.acme-corp.com=300",
        "--jq",
        r#".budgets[] | select(.host != "github.com") | .utilisation"#,
    ]);
    assert_eq!(r.stdout, "1.5\n");
}

#[test]
fn fixes_are_concrete_interval_patches() {
    let r =
        ratelimit(&["--jq", r#".budgets[1].fix | .requestsPerHourAfter, (.patches | length), .patches[0].command"#]);
    assert_eq!(
        r.stdout,
        "3366\n56\nkubectl patch gitrepository app-01 -n team-a --type merge -p '{\"spec\":{\"interval\":\"5m0s\"}}'\n"
    );
}

#[test]
fn fail_on_gates_ci() {
    assert_eq!(ratelimit(&["--fail-on", "over-limit"]).code, 3);
    assert_eq!(
        ratelimit(&["--fail-on", "over-target", "--cost", "gitrepository=0", "--limit", "anonymous=5000"]).code,
        0
    );
    let r = ratelimit(&["--cost", "banana=1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--cost banana: unknown kind"), "{}", r.stderr);
    assert_eq!(ratelimit(&["--target", "150%"]).code, 2);
}

/// A GitHub-like `/rate_limit` endpoint on 127.0.0.1 that records the Authorization headers it
/// receives and answers like GitHub does.
struct Double {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

fn double() -> Double {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some(v) = line.strip_prefix("authorization: ").or_else(|| line.strip_prefix("Authorization: ")) {
                    auth = v.trim().to_string();
                }
                line.clear();
            }
            record.lock().unwrap().push(auth.clone());
            let (limit, remaining) = if auth.is_empty() { (60, 0) } else { (5000, 312) };
            let body = format!(
                r#"{{"resources":{{"core":{{"limit":{limit},"used":{},"remaining":{remaining},"reset":1795170000}}}},"rate":{{"limit":{limit},"remaining":{remaining},"reset":1795170000}}}}"#,
                limit - remaining
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Double { url, seen }
}

#[test]
fn check_asks_rate_limit_with_the_token_and_never_prints_it() {
    let d = double();
    let r = ratelimit(&[
        "--check",
        "--github-api-url",
        &d.url,
        "--jq",
        r#".budgets[] | select(.sources == 57) | .check | [.remaining, .limit] | @tsv"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "312\t5000\n");
    let seen = d.seen.lock().unwrap().clone();
    assert!(seen.contains(&format!("token {TOKEN}")), "the token is sent in the Authorization header: {seen:?}");
    assert!(seen.contains(&String::new()), "anonymous budgets are checked without a token");
}

#[test]
fn no_token_bytes_in_any_output() {
    use base64::Engine;
    let secrets = [
        TOKEN.to_string(),
        "ghp_ENTERPRISEfake000000000000000000000".to_string(),
        "ghp_DISPATCHfake0000000000000000000000".to_string(),
        "FAKEFAKEFAKEFAKEFAKEFAKE".to_string(),
    ];
    let mut forbidden: Vec<String> = secrets.to_vec();
    for s in &secrets {
        forbidden.push(base64::engine::general_purpose::STANDARD.encode(s));
    }
    let d = double();
    let mut runs = Vec::new();
    for format in ["table", "wide", "json", "yaml", "name", "tsv"] {
        runs.push(ratelimit(&["-o", format]));
        runs.push(ratelimit(&["-o", format, "--check", "--github-api-url", &d.url]));
    }
    runs.push(ratelimit(&["--jq", ".", "--check", "--github-api-url", &d.url]));
    runs.push(ratelimit(&["--jq", ".budgets[].secrets"]));
    // A refused connection and an HTTP error: the error text names the URL, never the token.
    runs.push(ratelimit(&["--check", "--github-api-url", "http://127.0.0.1:9", "-o", "wide"]));
    runs.push(run_with(
        bin(),
        &["--check", "--github-api-url", &format!("{}/missing", d.url), "-f", &example("rate-limit")],
        &[("RUST_LOG", "trace")],
    ));
    for r in &runs {
        for f in &forbidden {
            assert!(!r.stdout.contains(f.as_str()) && !r.stderr.contains(f.as_str()), "a secret leaked: {f}");
        }
    }
    assert!(
        runs.iter().any(|r| r.stdout.contains("unknown: GET http://127.0.0.1:9/rate_limit")),
        "refused connection reported"
    );
}

/// An offline fleet: one token used in two clusters spends one budget (its Secrets and sources
/// add up across the clusters), with the fix's patches naming each object's cluster.
#[test]
fn fleet_of_snapshots_shares_one_budget_per_token() {
    let (rl, demo) = (example("rate-limit"), example("demo"));
    let eu = format!("eu={rl}");
    let us = format!("us={rl}");
    for (name, format) in [
        ("table", vec![]),
        ("wide", vec!["-o", "wide"]),
        ("json", vec!["-o", "json"]),
        ("yaml", vec!["-o", "yaml"]),
        ("tsv", vec!["-o", "tsv"]),
        ("name", vec!["-o", "name"]),
    ] {
        let mut args = vec![
            "--cluster-from-dir",
            eu.as_str(),
            "--cluster-from-dir",
            us.as_str(),
            "--cluster-from-dir",
            demo.as_str(),
        ];
        args.extend(format);
        let r = run(bin(), &args);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_golden(&root().join("plugins/ratelimit/tests/golden/fleet"), name, &r);
    }
    let r = run(
        bin(),
        &[
            "--cluster-from-dir",
            eu.as_str(),
            "--cluster-from-dir",
            us.as_str(),
            "-o",
            "json",
            "--jq",
            ".credentials[0] | [.credential, (.clusters | join(\",\")), .sources, (.secrets | length)] | @tsv",
        ],
    );
    assert_eq!(r.stdout, "sha256:83e8e15db325\teu,us\t114\t10\n", "{}", r.stderr);
}
