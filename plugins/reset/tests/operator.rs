//! flux-reset, flux-lineage and flux-ratelimit on a cluster the real flux-operator drives
//! (devcluster `--flux-operator`: the operator built from its module, Flux's controllers as local
//! processes, a local Git server). A ResourceSet generates a GitRepository and a Kustomization per
//! input; the operator applies them and Flux's controllers reconcile them to Ready. Lineage names
//! the ResourceSet as what applied them; a reset of their namespace holds the ResourceSet, so the
//! operator recreates nothing behind its back, loses nothing, and releases it as it was; an input
//! provider polling GitHub spends from the token of its Secret.

use kubectl_flux_testkit::{eventually, run, run_with};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kubectl-flux_reset"))
}

/// A sibling plugin's binary (`cargo test --workspace`, which scripts/test runs, builds them all).
fn plugin(name: &str) -> PathBuf {
    let path = bin().with_file_name(format!("kubectl-flux_{name}"));
    assert!(path.exists(), "{} is not built: run scripts/test (cargo test --workspace)", path.display());
    path
}

const NS: &str = "previews";

/// The real kubectl, as the admin.
fn kubectl(cluster: &devcluster::Cluster, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(devcluster::build::bin_dir().unwrap().join("kubectl"))
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn ready(o: &Value) -> bool {
    o["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["type"] == "Ready" && c["status"] == "True" && c["observedGeneration"] == o["metadata"]["generation"]
        })
    })
}

/// What the test creates: a ResourceSet generating, per app, a GitRepository of the local Git
/// server and a Kustomization applying its `deploy/` into this namespace; an input provider of
/// GitHub pull requests with a token (unreachable from here: only its cost is asked about).
fn objects(git: &str) -> String {
    let template = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: preview-<< inputs.app >>\n  namespace: {NS}\nspec:\n  interval: 1m\n  timeout: 20s\n  url: {git}/git/<< inputs.app >>.git\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: preview-<< inputs.app >>\n  namespace: {NS}\nspec:\n  interval: 1m\n  timeout: 1m\n  retryInterval: 10s\n  path: ./deploy\n  prune: true\n  targetNamespace: {NS}\n  sourceRef:\n    kind: GitRepository\n    name: preview-<< inputs.app >>\n"
    );
    let docs = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "github-token", "namespace": NS},
               "stringData": {"username": "git", "password": "fake-preview-token"}}),
        json!({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSetInputProvider",
               "metadata": {"name": "prs", "namespace": NS, "annotations": {"fluxcd.controlplane.io/reconcileEvery": "2m"}},
               "spec": {"type": "GitHubPullRequest", "url": "https://github.com/acme/app-a", "secretRef": {"name": "github-token"}}}),
        json!({"apiVersion": "fluxcd.controlplane.io/v1", "kind": "ResourceSet",
               "metadata": {"name": "previews", "namespace": NS},
               "spec": {"inputs": [{"app": "app-a"}, {"app": "app-b"}], "resourcesTemplate": template}}),
    ];
    docs.iter().map(|d| serde_json::to_string(d).unwrap()).collect::<Vec<_>>().join("\n---\n")
}

const GENERATED: &[(&str, &str)] = &[
    ("gitrepository", "preview-app-a"),
    ("gitrepository", "preview-app-b"),
    ("kustomization", "preview-app-a"),
    ("kustomization", "preview-app-b"),
];

fn get_if_exists(cluster: &devcluster::Cluster, kind: &str, name: &str) -> Option<Value> {
    let text = kubectl(cluster, &["get", kind, name, "-n", NS, "-o", "json", "--ignore-not-found"], None);
    (!text.trim().is_empty()).then(|| serde_json::from_str(&text).unwrap())
}

fn get(cluster: &devcluster::Cluster, kind: &str, name: &str) -> Value {
    get_if_exists(cluster, kind, name).unwrap_or_else(|| panic!("{kind}/{name} not found"))
}

/// How many times the operator said it would not reconcile the held ResourceSet.
fn disabled_events(cluster: &devcluster::Cluster) -> u64 {
    let selector = "involvedObject.kind=ResourceSet,involvedObject.name=previews,reason=ReconciliationDisabled";
    let list: Value = serde_json::from_str(&kubectl(
        cluster,
        &["get", "events", "-n", NS, "--field-selector", selector, "-o", "json"],
        None,
    ))
    .unwrap();
    list["items"].as_array().into_iter().flatten().map(|e| e["count"].as_u64().unwrap_or(1)).sum()
}

#[test]
fn what_a_resource_set_generated_is_reset_with_the_resource_set_held() {
    let (lineage, ratelimit) = (plugin("lineage"), plugin("ratelimit"));
    let tmp = tempfile::tempdir().unwrap();
    let options = devcluster::Options { flux_operator: true, ..Default::default() };
    let cluster =
        devcluster::Cluster::up(&tmp.path().join("cluster"), &options).expect("devcluster up --flux-operator");
    let git = devcluster::flux::Endpoints::read(&cluster.dir).unwrap().url;
    kubectl(&cluster, &["apply", "-f", "-"], Some(&objects(&git)));
    let kubeconfig = cluster.kubeconfig.display().to_string();

    // The operator applies the template; Flux's controllers reconcile what it applied.
    eventually("the ResourceSet and what it generated Ready", Duration::from_secs(180), || {
        let not: Vec<String> = [("resourceset", "previews")]
            .iter()
            .chain(GENERATED)
            .filter(|(k, n)| !get_if_exists(&cluster, k, n).is_some_and(|o| ready(&o)))
            .map(|(k, n)| format!("{k}/{n}"))
            .collect();
        (!not.is_empty()).then(|| not.join(", "))
    });
    let uids = |cluster: &devcluster::Cluster| -> Vec<Value> {
        GENERATED.iter().map(|(k, n)| get(cluster, k, n)["metadata"]["uid"].clone()).collect()
    };
    let before = uids(&cluster);
    let deployments: Vec<Value> =
        ["app-a", "app-b"].iter().map(|d| get(&cluster, "deployment", d)["metadata"]["uid"].clone()).collect();

    // Lineage: the ResourceSet applied them (its inventory).
    let r = run(
        &lineage,
        &["rset/previews", "-n", NS, "--downstream", "--depth", "1", "-o", "name", "--kubeconfig", &kubeconfig],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            "resourceset.fluxcd.controlplane.io/previews\nkustomization.kustomize.toolkit.fluxcd.io/preview-app-a\nkustomization.kustomize.toolkit.fluxcd.io/preview-app-b\ngitrepository.source.toolkit.fluxcd.io/preview-app-a\ngitrepository.source.toolkit.fluxcd.io/preview-app-b\n"
        ),
        "{}",
        r.stderr
    );
    let up = run(&lineage, &["gitrepo/preview-app-b", "-n", NS, "--upstream", "--kubeconfig", &kubeconfig]);
    assert!(up.stdout.contains("applied by: ResourceSet previews/previews"), "{}\n{}", up.stdout, up.stderr);

    // The budget: the input provider polls GitHub every 2 minutes with the Secret's token.
    let jq = r#".budgets[] | [.host, .auth, .sources, (.requestsPerHour | floor), .spenders[0].object] | @tsv"#;
    let r = run(&ratelimit, &["--kubeconfig", &kubeconfig, "--jq", jq]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "github.com\ttoken\t1\t30\tResourceSetInputProvider previews/prs\n"),
        "{}",
        r.stderr
    );

    // The plan holds the ResourceSet before suspending anything and releases it after resuming.
    let plan = run(bin(), &["plan", "-n", NS, "--kubeconfig", &kubeconfig, "-o", "json", "--jq", ".steps[].name"]);
    assert_eq!(
        plan.stdout,
        "lock\nbacked-up\nheld\nsuspended\ndeleted\nrestarted\nrecreated\nresumed\nreleased\nunlock\nverified\n",
        "{}",
        plan.stderr
    );

    // The reset stops (a crash) right after deleting. Someone asks the ResourceSet to reconcile:
    // held, the operator says so and recreates nothing.
    let dir = tmp.path().join("reset");
    let d = dir.display().to_string();
    let args = ["run", "-n", NS, "--yes", "--dir", &d, "--kubeconfig", &kubeconfig, "--timeout", "3m"];
    let r = run_with(bin(), &args, &[("KUBECTL_FLUX_RESET_CRASH_AFTER", "deleted")]);
    assert_eq!(r.code, -1, "{}\n{}", r.stdout, r.stderr);
    let held = get(&cluster, "resourceset", "previews");
    assert_eq!(held["metadata"]["annotations"]["fluxcd.controlplane.io/reconcile"], "disabled");
    eventually("the operator to see the hold", Duration::from_secs(30), || {
        (disabled_events(&cluster) < 1).then(|| "no ReconciliationDisabled Event".to_string())
    });
    let seen = disabled_events(&cluster);
    let now = "2026-12-05T00:00:00Z";
    kubectl(
        &cluster,
        &[
            "annotate",
            "resourceset",
            "previews",
            "-n",
            NS,
            "--overwrite",
            &format!("reconcile.fluxcd.io/requestedAt={now}"),
        ],
        None,
    );
    eventually("the operator to refuse the requested reconcile", Duration::from_secs(30), || {
        (disabled_events(&cluster) <= seen)
            .then(|| format!("{} ReconciliationDisabled Events", disabled_events(&cluster)))
    });
    let recreated: Vec<String> = GENERATED
        .iter()
        .filter(|(k, n)| get_if_exists(&cluster, k, n).is_some())
        .map(|(k, n)| format!("{k}/{n}"))
        .collect();
    assert!(recreated.is_empty(), "recreated behind the reset's back: {recreated:?}");

    // resume finishes the reset, then releases the ResourceSet as it was.
    let r = run(bin(), &["resume", "--dir", &d, "--yes", "--kubeconfig", &kubeconfig, "--timeout", "3m"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("release    ResourceSet previews/previews released: its reconcile switch is unset again"),
        "{}",
        r.stdout
    );
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    let steps: Vec<String> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        steps,
        [
            "started",
            "backed-up",
            "held",
            "suspended",
            "deleted",
            "restarted",
            "recreated",
            "resumed",
            "released",
            "verified"
        ]
    );
    let rset = get(&cluster, "resourceset", "previews");
    let annotations = rset["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    assert!(
        annotations.keys().all(|k| !k.starts_with("kubectl-flux.io/") && k != "fluxcd.controlplane.io/reconcile"),
        "{annotations:?}"
    );

    // Nothing lost: each generated object is the reset's recreation (a new uid, its generator's
    // labels kept), Ready again; the Deployments they applied were never deleted; the released
    // ResourceSet reconciles again and finds its inventory as it left it.
    let after = uids(&cluster);
    for (((kind, name), a), b) in GENERATED.iter().zip(&after).zip(&before) {
        assert_ne!(a, b, "{kind}/{name} was not reset");
        assert_eq!(
            get(&cluster, kind, name)["metadata"]["labels"]["resourceset.fluxcd.controlplane.io/name"],
            "previews"
        );
    }
    eventually("the generated objects Ready again", Duration::from_secs(120), || {
        let not: Vec<String> =
            GENERATED.iter().filter(|(k, n)| !ready(&get(&cluster, k, n))).map(|(k, n)| format!("{k}/{n}")).collect();
        (!not.is_empty()).then(|| not.join(", "))
    });
    let now: Vec<Value> =
        ["app-a", "app-b"].iter().map(|d| get(&cluster, "deployment", d)["metadata"]["uid"].clone()).collect();
    assert_eq!(now, deployments, "a Deployment the previews applied was deleted");
    eventually("the ResourceSet Ready after the release", Duration::from_secs(60), || {
        let o = get(&cluster, "resourceset", "previews");
        let entries = o["status"]["inventory"]["entries"].as_array().map(Vec::len);
        (!(ready(&o) && entries == Some(4))).then(|| format!("{}", o["status"]))
    });
    assert_eq!(uids(&cluster), after, "the released ResourceSet replaced what the reset recreated");
}
