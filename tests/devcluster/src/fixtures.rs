//! What `up --flux` serves and reconciles: Git repositories (a platform repo and two app repos
//! with a `dependsOn` chain), a Helm chart repository, and the Flux objects pointing at them.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// Files of the platform repository.
const PLATFORM: &[(&str, &str)] = &[
    (
        "infrastructure/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- namespace.yaml\n- settings.yaml\n",
    ),
    ("infrastructure/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n"),
    (
        "infrastructure/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform-settings\n  namespace: apps\ndata:\n  environment: dev\n",
    ),
];

/// Files of an app repository (`{app}` replaced by its name).
const APP: &[(&str, &str)] = &[
    (
        "deploy/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: apps\nresources:\n- configmap.yaml\n- deployment.yaml\n- service.yaml\n",
    ),
    (
        "deploy/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}-config\ndata:\n  greeting: hello from {app}\n",
    ),
    (
        "deploy/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  labels:\n    app: {app}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      containers:\n      - name: {app}\n        image: ghcr.io/example/{app}:1.0.0\n        envFrom:\n        - configMapRef:\n            name: {app}-config\n",
    ),
    (
        "deploy/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  selector:\n    app: {app}\n  ports:\n  - port: 80\n    targetPort: 8080\n",
    ),
];

/// The app repositories.
pub const APPS: &[&str] = &["app-a", "app-b"];

/// The chart the chart repository serves.
const CHART: &[(&str, &str)] = &[
    (
        "demo/Chart.yaml",
        "apiVersion: v2\nname: demo\ndescription: devcluster's demo chart\ntype: application\nversion: 0.1.0\nappVersion: \"1.0.0\"\n",
    ),
    ("demo/values.yaml", "replicaCount: 1\nimage: ghcr.io/example/demo:1.0.0\n"),
    (
        "demo/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-demo\n  labels:\n    app: {{ .Release.Name }}-demo\nspec:\n  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels:\n      app: {{ .Release.Name }}-demo\n  template:\n    metadata:\n      labels:\n        app: {{ .Release.Name }}-demo\n    spec:\n      containers:\n      - name: demo\n        image: {{ .Values.image }}\n",
    ),
    (
        "demo/templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-demo\ndata:\n  release: {{ .Release.Name }}\n",
    ),
];

/// The chart's version (the one the HelmRelease asks for).
pub const CHART_VERSION: &str = "0.1.0";

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        // A fixed identity and date: the same content gives the same commit.
        .env("GIT_AUTHOR_NAME", "devcluster")
        .env("GIT_AUTHOR_EMAIL", "devcluster@127.0.0.1")
        .env("GIT_COMMITTER_NAME", "devcluster")
        .env("GIT_COMMITTER_EMAIL", "devcluster@127.0.0.1")
        .env("GIT_AUTHOR_DATE", "2026-11-20T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-11-20T10:00:00Z")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!("git {} in {}: {}", args.join(" "), dir.display(), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn write_files(root: &Path, files: &[(&str, &str)], app: &str) -> Result<()> {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap_or(root))?;
        std::fs::write(&path, text.replace("{app}", app))?;
    }
    Ok(())
}

/// Creates the bare repositories `git/<name>.git` (branch `main`, one commit) and the chart
/// repository `charts/` (index.yaml with a relative URL, and the chart archive) under `root`.
pub fn write(root: &Path) -> Result<()> {
    let work = root.join("work");
    let mut repos: Vec<(&str, &[(&str, &str)])> = vec![("platform", PLATFORM)];
    repos.extend(APPS.iter().map(|a| (*a, APP)));
    for (name, files) in repos {
        let dir = work.join(name);
        std::fs::create_dir_all(&dir)?;
        write_files(&dir, files, name)?;
        git(&dir, &["init", "-q", "-b", "main"])?;
        git(&dir, &["add", "."])?;
        git(&dir, &["commit", "-q", "-m", &format!("{name}: initial content")])?;
        std::fs::create_dir_all(root.join("git"))?;
        git(&root.join("git"), &["clone", "-q", "--bare", dir.to_str().context("path")?, &format!("{name}.git")])?;
    }

    let charts = root.join("charts");
    let chart_src = work.join("chart");
    write_files(&chart_src, CHART, "")?;
    std::fs::create_dir_all(&charts)?;
    let archive = format!("demo-{CHART_VERSION}.tgz");
    let out = Command::new("tar")
        .args(["--sort=name", "--mtime=2026-11-20 10:00Z", "--owner=0", "--group=0", "-czf"])
        .arg(charts.join(&archive))
        .arg("-C")
        .arg(&chart_src)
        .arg("demo")
        .output()
        .context("running tar")?;
    if !out.status.success() {
        bail!("tar: {}", String::from_utf8_lossy(&out.stderr));
    }
    use sha2::Digest;
    let digest = format!("{:x}", sha2::Sha256::digest(std::fs::read(charts.join(&archive))?));
    std::fs::write(
        charts.join("index.yaml"),
        format!(
            "apiVersion: v1\nentries:\n  demo:\n  - apiVersion: v2\n    name: demo\n    version: {CHART_VERSION}\n    appVersion: \"1.0.0\"\n    description: devcluster's demo chart\n    type: application\n    created: \"2026-11-20T10:00:00Z\"\n    digest: {digest}\n    urls:\n    - {archive}\ngenerated: \"2026-11-20T10:00:00Z\"\n"
        ),
    )?;
    Ok(())
}

/// The Flux objects `up --flux` creates in flux-system, as JSON documents with their API path.
/// `server` is the Git/chart server's base URL.
pub fn flux_objects(server: &str) -> Vec<(String, String, serde_json::Value)> {
    use serde_json::json;
    let ns = "flux-system";
    let source = "/apis/source.toolkit.fluxcd.io/v1";
    let mut out = Vec::new();
    let mut repos = vec!["platform"];
    repos.extend(APPS);
    for repo in &repos {
        out.push((
            format!("{source}/namespaces/{ns}/gitrepositories"),
            repo.to_string(),
            json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": repo, "namespace": ns},
                "spec": {"url": format!("{server}/git/{repo}.git"), "ref": {"branch": "main"}, "interval": "1m", "timeout": "20s"},
            }),
        ));
    }
    let kustomization = |name: &str, repo: &str, path: &str, depends: Option<&str>, health: Option<&str>| {
        let mut spec = json!({
            "sourceRef": {"kind": "GitRepository", "name": repo},
            "path": path, "prune": true, "interval": "1m", "retryInterval": "10s", "timeout": "1m",
        });
        if let Some(d) = depends {
            spec["dependsOn"] = json!([{"name": d}]);
        }
        match health {
            Some(app) => {
                spec["healthChecks"] =
                    json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "namespace": "apps"}])
            }
            None => spec["wait"] = json!(true),
        }
        (
            format!("/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations"),
            name.to_string(),
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": name, "namespace": ns}, "spec": spec}),
        )
    };
    out.push(kustomization("infrastructure", "platform", "./infrastructure", None, None));
    out.push(kustomization("app-a", "app-a", "./deploy", Some("infrastructure"), Some("app-a")));
    out.push(kustomization("app-b", "app-b", "./deploy", Some("app-a"), Some("app-b")));
    out.push((
        format!("{source}/namespaces/{ns}/helmrepositories"),
        "charts".into(),
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": ns},
            "spec": {"url": format!("{server}/charts"), "interval": "1m", "timeout": "20s"},
        }),
    ));
    out.push((
        format!("/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases"),
        "demo".into(),
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "demo", "namespace": ns},
            "spec": {
                "interval": "1m", "timeout": "1m", "releaseName": "demo", "targetNamespace": "apps",
                "install": {"createNamespace": true},
                "chart": {"spec": {"chart": "demo", "version": CHART_VERSION, "interval": "1m",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
            },
        }),
    ));
    let notification = "/apis/notification.toolkit.fluxcd.io/v1beta3";
    out.push((
        format!("{notification}/namespaces/{ns}/providers"),
        "sink".into(),
        json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": {"name": "sink", "namespace": ns},
            "spec": {"type": "generic", "address": format!("{server}/alerts")},
        }),
    ));
    out.push((
        format!("{notification}/namespaces/{ns}/alerts"),
        "all".into(),
        json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": "all", "namespace": ns},
            "spec": {"providerRef": {"name": "sink"}, "eventSeverity": "info",
                "eventSources": [{"kind": "Kustomization", "name": "*"}, {"kind": "HelmRelease", "name": "*"}, {"kind": "GitRepository", "name": "*"}]},
        }),
    ));
    out
}
