//! `--flux` against the real Flux controllers: flux-system like `flux install`, the users'
//! kubectl and flux CLI workflows unchanged, rollout restart restarting the local process,
//! `kubectl logs` returning its real log, Flux's deletion semantics (prune, suspend,
//! finalizers), and real Events and log lines for every induced failure.

mod common;

use common::*;
use devcluster::flux::{Failure, current_pid, induce};
use devcluster::{Cluster, Options, build};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const CONTROLLERS: &[&str] = devcluster::flux::CONTROLLERS;

/// Runs the built `flux` CLI.
fn flux(kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(build::build_flux(false).unwrap().join("flux"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("flux");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs a shell pipeline with the built kubectl first on PATH.
fn sh(kubeconfig: &Path, script: &str) -> (i32, String, String) {
    let path = format!("{}:{}", build::build(false).unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh").args(["-c", script]).env("KUBECONFIG", kubeconfig).env("PATH", path).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_users_workflows_run_unchanged_and_rollout_restart_restarts_the_processes() {
    let tmp = tempfile::tempdir().unwrap();
    // The command-line form: the Git server and supervisor run as a process of their own.
    let cluster = CliCluster::up(tmp.path().join("c"), &["--flux"]);
    let (kc, cache, dir) = (cluster.kubeconfig(), tmp.path().join("cache"), cluster.dir.clone());
    let names: Vec<String> = std::fs::read_to_string(dir.join("pids"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    for c in CONTROLLERS.iter().chain(&["flux-daemon", "kwok", "kube-controller-manager"]) {
        assert!(names.iter().any(|n| n == c), "{c} runs: {names:?}");
    }

    // flux get all: every object Ready, reconciled by the real controllers.
    let (code, out, err) = flux(&kc, &["get", "all", "-A"]);
    assert_eq!(code, 0, "{err}");
    for object in [
        "gitrepository/platform",
        "gitrepository/app-a",
        "helmrepository/charts",
        "helmchart/flux-system-demo",
        "helmrelease/demo",
        "kustomization/infrastructure",
        "kustomization/app-b",
        "provider/sink",
        "alert/all",
    ] {
        // Each kind is a table of its own; READY's column comes from that table's header.
        let mut ready_column = 0;
        let ready = out.lines().find_map(|l| {
            let fields: Vec<&str> = l.split('\t').map(str::trim).collect();
            if fields[0] == "NAMESPACE" {
                ready_column = fields.iter().position(|f| *f == "READY").unwrap_or(0);
            }
            (fields.get(1) == Some(&object)).then(|| fields[ready_column].to_string())
        });
        assert_eq!(ready.as_deref(), Some("True"), "{object} Ready: {out}");
    }
    let (code, out, err) = flux(&kc, &["tree", "kustomization", "app-b"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "Kustomization/flux-system/app-b\n├── ConfigMap/apps/app-b-config\n├── Service/apps/app-b\n└── Deployment/apps/app-b\n\n"
    );
    let (code, out, err) = flux(&kc, &["events", "-A"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Kustomization/app-a") && out.contains("NewArtifact"), "{out}");
    let (code, out, err) = flux(&kc, &["logs", "--kind=Kustomization", "--name=app-a"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("server-side apply completed"), "{out}");

    // The seed's kubectl workflows (FLUX-FACTS), unchanged.
    let ok = |script: &str| {
        let (code, out, err) = sh(&kc, script);
        assert_eq!(code, 0, "{script}: {err}");
        out
    };
    assert!(ok("kubectl get gitrepositories,kustomizations,helmreleases -A -o wide").contains("app-b"));
    assert!(ok("kubectl describe kustomization app-a -n flux-system").contains("Applied revision: main@sha1:"));
    assert!(
        ok("kubectl get events --sort-by=.metadata.creationTimestamp -A | grep -E 'flux|gitops'")
            .contains("flux-system")
    );
    ok("kubectl get all -l app.kubernetes.io/managed-by=flux-system -o wide | grep -v Running || true");
    ok("kubectl get pvc,storageclass -A");
    let logs = ok(
        "kubectl logs -n flux-system deployment/source-controller | grep -E 'error|failed|timeout|stored' | tail -20",
    );
    assert!(logs.contains("\"level\":\"info\""), "{logs}");
    ok("kubectl logs -n flux-system deployment/kustomize-controller | grep 'operation cannot be fulfilled' || true");
    let sizes = ok(
        "kubectl get gitrepository -A -o json | jq -r '.items[] | [.metadata.namespace, .metadata.name, .spec.interval, .status.artifact.size // \"unknown\"] | @tsv'",
    );
    assert_eq!(sizes.lines().count(), 3, "{sizes}");
    assert!(sizes.lines().all(|l| l.starts_with("flux-system\t") && l.contains("\t1m\t")), "{sizes}");
    let stalled = ok(
        "kubectl get kustomizations -A -o json | jq -r '.items[] | select(.status.lastAttemptedRevision != .status.lastAppliedRevision) | [.metadata.namespace, .metadata.name, .status.conditions[0].message] | @tsv'",
    );
    assert_eq!(stalled, "", "nothing stalled in the working flow");
    ok("kubectl get events --field-selector reason=OwnerRefInvalidNamespace");
    let backup = tmp.path().join("flux-state-backup.yaml");
    ok(&format!("kubectl get gitrepository,kustomization,helmrelease -A -o yaml > {}", backup.display()));
    assert!(std::fs::read_to_string(&backup).unwrap().contains("kind: HelmRelease"));
    // kubectl top needs metrics-server, which devcluster does not run: the clear error.
    let (code, _, err) = sh(&kc, "kubectl top pods -n flux-system --containers");
    assert_eq!(code, 1);
    assert!(err.contains("Metrics API not available"), "{err}");

    // kubectl logs returns the process's real log: every line it prints is in the file.
    let file = std::fs::read_to_string(dir.join("logs/kustomize-controller.log")).unwrap();
    let (code, served, err) = kubectl(&kc, &cache, &["logs", "-n", "flux-system", "deployment/kustomize-controller"]);
    assert_eq!(code, 0, "{err}");
    assert!(served.lines().count() > 5, "{served}");
    assert!(served.lines().all(|l| file.contains(l)), "served lines come from the process's log");

    // Rollout restart of every controller restarts every process; the old log is --previous.
    let before: Vec<u32> = CONTROLLERS.iter().map(|c| current_pid(&dir, c).unwrap()).collect();
    ok("kubectl rollout restart deployment -n flux-system");
    eventually("every controller restarted", Duration::from_secs(60), || {
        let now: Vec<Option<u32>> = CONTROLLERS.iter().map(|c| current_pid(&dir, c)).collect();
        let done = now.iter().zip(&before).all(|(n, b)| n.is_some_and(|n| n != *b && alive(n)));
        (!done).then(|| format!("{now:?} vs {before:?}"))
    });
    assert!(before.iter().all(|p| !alive(*p)), "the old processes are gone");
    ok("kubectl rollout status deployment -n flux-system --timeout=60s");
    let (code, previous, err) =
        kubectl(&kc, &cache, &["logs", "-n", "flux-system", "deployment/kustomize-controller", "--previous"]);
    assert_eq!(code, 0, "{err}");
    assert!(previous.contains("server-side apply completed"), "{previous}");
    // The restarted controllers reconcile again.
    eventually("a reconcile after the restart", Duration::from_secs(60), || {
        // flux prints its progress on stderr.
        let (_, _, err) = flux(&kc, &["reconcile", "kustomization", "app-a"]);
        (!err.contains("applied revision main@sha1:")).then_some(err)
    });

    // A failure made on demand through the command line.
    let out = devcluster(&["break", "--dir", dir.to_str().unwrap(), "wrong-path"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually("wrong-path fails", Duration::from_secs(60), || {
        let (_, out, _) = flux(&kc, &["get", "kustomization", "wrong-path"]);
        (!out.contains("kustomization path not found")).then_some(out)
    });

    let pids = pids(&dir);
    let out = devcluster(&["down", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(pids.iter().all(|p| !alive(*p)), "down stopped every controller and the daemon");
}

fn exists(kc: &Path, cache: &Path, args: &[&str]) -> bool {
    kubectl(kc, cache, &[&["get"], args].concat()).0 == 0
}

#[test]
fn failures_leave_real_events_and_logs_and_deletion_follows_flux() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::up(&tmp.path().join("c"), &Options { flux: true, ..Default::default() }).unwrap();
    let (kc, cache, dir) = (cluster.kubeconfig.clone(), tmp.path().join("cache"), cluster.dir.clone());

    // Every failure, made real: the controllers' own Events and log lines say what broke.
    for failure in
        [Failure::WrongBranch, Failure::MissingSecret, Failure::FailingDependency, Failure::MissingChartVersion]
    {
        induce(&dir, failure).unwrap();
    }
    let expected = [
        ("GitRepository/wrong-branch", "GitOperationFailed", "source-controller", "couldn't find remote ref"),
        ("GitRepository/missing-secret", "AuthenticationFailed", "source-controller", "no-such-secret"),
        ("Kustomization/wrong-path", "ArtifactFailed", "kustomize-controller", "kustomization path not found"),
        (
            "Kustomization/waits-on-failure",
            "DependencyNotReady",
            "kustomize-controller",
            "Dependencies do not meet ready condition",
        ),
        (
            "HelmChart/flux-system-missing-chart",
            "InvalidChartReference",
            "source-controller",
            "no 'demo' chart with version matching '9.9.9'",
        ),
    ];
    eventually("an Event and a log line for every failure", Duration::from_secs(90), || {
        let (_, events, _) = kubectl(
            &kc,
            &cache,
            &[
                "get",
                "events",
                "-n",
                "flux-system",
                "-o",
                "jsonpath={range .items[*]}{.involvedObject.kind}/{.involvedObject.name} {.reason}{\"\\n\"}{end}",
            ],
        );
        let missing: Vec<String> = expected
            .iter()
            .filter(|(object, reason, controller, line)| {
                let log = std::fs::read_to_string(dir.join(format!("logs/{controller}.log"))).unwrap_or_default();
                !events.contains(&format!("{object} {reason}")) || !log.contains(line)
            })
            .map(|(object, ..)| object.to_string())
            .collect();
        (!missing.is_empty()).then(|| format!("missing {missing:?}"))
    });
    // notification-controller forwarded the events to the Provider's address.
    let alerts = std::fs::read_to_string(dir.join("flux/alerts.log")).unwrap_or_default();
    assert!(alerts.contains("kustomization path not found"), "{alerts}");

    // Deleting an active `prune: true` Kustomization garbage-collects its inventory.
    assert!(exists(&kc, &cache, &["deployment", "app-b", "-n", "apps"]));
    assert_eq!(kubectl(&kc, &cache, &["delete", "kustomization", "app-b", "-n", "flux-system", "--timeout=60s"]).0, 0);
    eventually("app-b's objects pruned", Duration::from_secs(60), || {
        let left: Vec<&str> = [["deployment", "app-b"], ["service", "app-b"], ["configmap", "app-b-config"]]
            .iter()
            .filter(|o| exists(&kc, &cache, &[o[0], o[1], "-n", "apps"]))
            .map(|o| o[0])
            .collect();
        (!left.is_empty()).then(|| format!("{left:?} left"))
    });

    // Deleting a suspended one leaves every object.
    let (code, _, err) = flux(&kc, &["suspend", "kustomization", "app-a"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(kubectl(&kc, &cache, &["delete", "kustomization", "app-a", "-n", "flux-system", "--timeout=60s"]).0, 0);
    for object in [["deployment", "app-a"], ["service", "app-a"], ["configmap", "app-a-config"]] {
        assert!(exists(&kc, &cache, &[object[0], object[1], "-n", "apps"]), "{object:?} kept");
    }

    // A suspended HelmRelease is deleted without uninstall: the release (stored in the
    // HelmRelease's namespace, FLUX-FACTS) and its objects stay.
    let (code, _, err) = flux(&kc, &["suspend", "helmrelease", "demo"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(kubectl(&kc, &cache, &["delete", "helmrelease", "demo", "-n", "flux-system", "--timeout=60s"]).0, 0);
    assert!(exists(&kc, &cache, &["secret", "sh.helm.release.v1.demo.v1", "-n", "flux-system"]));
    assert!(exists(&kc, &cache, &["deployment", "demo-demo", "-n", "apps"]));

    // The finalizer blocks deletion while kustomize-controller is stopped (scaled to 0).
    let running = current_pid(&dir, "kustomize-controller").unwrap();
    let scale = |n: &str| {
        kubectl(
            &kc,
            &cache,
            &["scale", "deployment/kustomize-controller", "-n", "flux-system", &format!("--replicas={n}")],
        )
    };
    assert_eq!(scale("0").0, 0);
    eventually("kustomize-controller stopped", Duration::from_secs(30), || alive(running).then(|| "running".into()));
    assert_eq!(
        kubectl(&kc, &cache, &["delete", "kustomization", "infrastructure", "-n", "flux-system", "--wait=false"]).0,
        0
    );
    std::thread::sleep(Duration::from_secs(3));
    let (code, stamp, _) = kubectl(
        &kc,
        &cache,
        &[
            "get",
            "kustomization",
            "infrastructure",
            "-n",
            "flux-system",
            "-o",
            "jsonpath={.metadata.deletionTimestamp} {.metadata.finalizers}",
        ],
    );
    assert_eq!(code, 0, "still there while the controller is stopped");
    assert!(stamp.contains("finalizers.fluxcd.io"), "{stamp}");
    assert_eq!(scale("1").0, 0);
    eventually("the Kustomization gone once the controller runs", Duration::from_secs(60), || {
        exists(&kc, &cache, &["kustomization", "infrastructure", "-n", "flux-system"]).then(|| "still there".into())
    });
    assert_ne!(current_pid(&dir, "kustomize-controller"), Some(running), "a new process");
}
