//! Installing Flux's CRDs from the controllers' Go modules (`config/crd/bases`), at the pinned
//! Flux release, and the flux-operator's from its module, plus the static ones of `crds/`
//! (source-watcher's ArtifactGenerator, whose module the proxy refuses), and waiting until the
//! API server serves them.

use crate::build::module_dir_with;
use crate::versions::{Versions, flux_modules};
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

/// CRDs of Flux controllers whose modules the proxy does not serve, written here (`crds/`).
const STATIC: &[(&str, &str)] = &[(
    "artifactgenerators.source.extensions.fluxcd.io",
    include_str!("../crds/artifactgenerators.source.extensions.fluxcd.io.yaml"),
)];

/// Server-side applies every Flux CRD, then waits for each to be Established.
pub async fn install(client: &kube::Client, versions: &Versions) -> Result<()> {
    let mut names = Vec::new();
    for (name, text) in STATIC {
        let doc: serde_json::Value = serde_saphyr::from_str(text).with_context(|| name.to_string())?;
        apply(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", name, &doc).await?;
        names.push(name.to_string());
    }
    let operator = &versions.flux_operator;
    let mut modules: Vec<(String, String, Option<String>)> =
        flux_modules(versions).into_iter().map(|(m, v)| (m, v, None)).collect();
    if let Some(module) = &operator.module {
        modules.push((module.clone(), operator.version.clone(), operator.toolchain.clone()));
    }
    for (module, version, toolchain) in modules {
        let dir = module_dir_with(&module, &version, toolchain.as_deref())?.join("config/crd/bases");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("{}: no CRDs", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)?;
            let doc: serde_json::Value = serde_saphyr::from_str(&text).with_context(|| file.display().to_string())?;
            let name =
                doc.pointer("/metadata/name").and_then(|n| n.as_str()).context("CRD without a name")?.to_string();
            apply(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &name, &doc).await?;
            names.push(name);
        }
    }
    let start = Instant::now();
    for name in names {
        loop {
            let req = http::Request::get(format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"))
                .body(Vec::new())?;
            let crd: serde_json::Value = client.request(req).await?;
            let established = crd
                .pointer("/status/conditions")
                .and_then(|c| c.as_array())
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
            if established {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("CRD {name} not Established after 60s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Server-side apply of one object at `collection/name`.
pub async fn apply(
    client: &kube::Client,
    collection: &str,
    name: &str,
    doc: &serde_json::Value,
) -> Result<serde_json::Value> {
    let req = http::Request::patch(format!("{collection}/{name}?fieldManager=devcluster&force=true"))
        .header(http::header::CONTENT_TYPE, "application/apply-patch+yaml")
        .body(serde_json::to_vec(doc)?)?;
    client.request(req).await.with_context(|| format!("applying {collection}/{name}"))
}
