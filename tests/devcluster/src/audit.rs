//! `devcluster requests`: API requests by verb, resource and namespace since `up`, counted from
//! the API server's audit log (one `ResponseComplete` entry per request). Only requests made by
//! the kubeconfig's user (`admin`) count, so the cluster's own components do not blur what a
//! plugin or kubectl did.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The user `up` writes into the kubeconfig.
pub const ADMIN: &str = "admin";

/// Requests of one kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Count {
    /// get, list, watch, create, update, patch, delete...
    pub verb: String,
    /// `group/resource` (`kustomize.toolkit.fluxcd.io/kustomizations`), `resource` for core,
    /// or the path for non-resource requests (`/apis`).
    pub resource: String,
    /// Namespace, empty for cluster-wide.
    pub namespace: String,
    /// How many.
    pub count: u64,
}

/// Counts the admin's requests in `dir/audit.log` and the files the API server rotated it into
/// (`audit-TIMESTAMP.log`, every 100 MB: loading a scale scenario writes several).
pub fn requests(dir: &Path) -> Result<Vec<Count>> {
    let mut counts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut paths = vec![dir.join("audit.log")];
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("audit-") && name.ends_with(".log") {
            paths.push(dir.join(name));
        }
    }
    for path in paths {
        count_file(&path, &mut counts)?;
    }
    Ok(counts
        .into_iter()
        .map(|((verb, resource, namespace), count)| Count { verb, resource, namespace, count })
        .collect())
}

fn count_file(path: &Path, counts: &mut BTreeMap<(String, String, String), u64>) -> Result<()> {
    // Streamed: a benchmark's audit log runs to gigabytes.
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let admin_quoted = format!("\"{ADMIN}\"");
    for line in std::io::BufRead::lines(std::io::BufReader::new(file)) {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        // Cheap pre-filter before parsing: most entries are the components'.
        if !line.contains(r#""ResponseComplete""#) || !line.contains(&admin_quoted) {
            continue;
        }
        let Ok(e) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if e["stage"] != "ResponseComplete" || e["user"]["username"] != ADMIN {
            continue;
        }
        let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
        let verb = s(&e["verb"]);
        let resource = match e["objectRef"]["resource"].as_str() {
            Some(r) => {
                let sub = e["objectRef"]["subresource"].as_str().map(|s| format!("/{s}")).unwrap_or_default();
                match e["objectRef"]["apiGroup"].as_str().filter(|g| !g.is_empty()) {
                    Some(g) => format!("{g}/{r}{sub}"),
                    None => format!("{r}{sub}"),
                }
            }
            None => s(&e["requestURI"]).split('?').next().unwrap_or("").to_string(),
        };
        *counts.entry((verb, resource, s(&e["objectRef"]["namespace"]))).or_default() += 1;
    }
    Ok(())
}
