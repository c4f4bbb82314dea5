//! Helm storage: the objects a HelmRelease installed, read from the release helm-controller
//! stored in a Secret.

use crate::flux;
use kubectl_flux_model::kinds;
use kubectl_flux_model::object::{Object, ObjectRef, split_api_version};
use kubectl_flux_model::snapshot::Snapshot;
use serde_json::Value;
use std::collections::HashMap;

/// The latest Helm storage Secret of every release in a snapshot, by (namespace, release name):
/// one pass over the Secrets, so finding each HelmRelease's release costs a lookup, not a scan
/// (at 10,000 apps, thousands of HelmReleases times tens of thousands of Secrets).
pub struct Releases<'a> {
    latest: HashMap<(&'a str, &'a str), (u64, &'a Object)>,
}

/// The name prefix of Helm storage Secrets: `sh.helm.release.v1.<release>.v<N>`.
const STORAGE_PREFIX: &str = "sh.helm.release.v1.";

impl<'a> Releases<'a> {
    /// Indexes the Helm storage Secrets of a snapshot.
    pub fn index(snapshot: &'a Snapshot) -> Self {
        let mut latest: HashMap<(&str, &str), (u64, &Object)> = HashMap::new();
        for secret in snapshot.of_kind("", "Secret") {
            // The version is what follows the last ".v" (release names may hold dots).
            let Some((release, version)) =
                secret.id.name.strip_prefix(STORAGE_PREFIX).and_then(|rest| rest.rsplit_once(".v"))
            else {
                continue;
            };
            let Ok(version) = version.parse::<u64>() else { continue };
            let entry = latest.entry((secret.id.namespace.as_str(), release)).or_insert((version, secret));
            if version > entry.0 {
                *entry = (version, secret);
            }
        }
        Releases { latest }
    }

    /// The objects of a HelmRelease's current Helm release, decoded from its storage Secret
    /// (`sh.helm.release.v1.<release>.v<N>`, data.release = base64(base64(gzip(JSON)))),
    /// reading only the `manifest` field: the release also holds values, which may be secret
    /// and are never kept. See FLUX-FACTS "HelmRelease inventory" and flux2
    /// `cmd/flux/tree_kustomization.go`.
    pub fn objects(&self, hr: &Object) -> Result<Vec<ObjectRef>, String> {
        let (storage_ns, release) = flux::helm_release_storage(hr);
        match self.latest.get(&(storage_ns.as_str(), release.as_str())) {
            Some((_, secret)) => manifest_objects(secret, hr),
            None => Ok(Vec::new()),
        }
    }
}

/// The objects of the release stored in one Helm storage Secret.
fn manifest_objects(secret: &Object, hr: &Object) -> Result<Vec<ObjectRef>, String> {
    use base64::Engine;
    use std::io::Read;
    let Some(data) = secret.str_at("/data/release") else { return Ok(Vec::new()) };
    let fail = |what: &str| format!("Secret {}: cannot read the Helm release ({what})", secret.id.namespaced_name());
    let b64 = base64::engine::general_purpose::STANDARD;
    let once = b64.decode(data).map_err(|_| fail("data.release is not base64"))?;
    let twice = b64.decode(&once).map_err(|_| fail("release is not base64"))?;
    let json = if twice.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&twice[..]).take(256 << 20).read_to_end(&mut out).map_err(|_| fail("gzip"))?;
        out
    } else {
        twice
    };
    #[derive(serde::Deserialize)]
    struct Release {
        #[serde(default)]
        manifest: String,
    }
    let release: Release = serde_json::from_slice(&json).map_err(|_| fail("JSON"))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&release.manifest).map_err(|_| fail("manifest YAML"))?;
    let target_ns = flux::helm_target_namespace(hr);
    Ok(docs
        .iter()
        .filter_map(|d| {
            let (group, _) = split_api_version(d.get("apiVersion")?.as_str()?);
            let kind = d.get("kind")?.as_str()?;
            let name = d.pointer("/metadata/name")?.as_str()?;
            let namespaced = kinds::find(group, kind).is_none_or(|k| k.namespaced);
            let ns = match d.pointer("/metadata/namespace").and_then(Value::as_str) {
                Some(ns) => ns,
                None if namespaced => &target_ns,
                None => "",
            };
            Some(ObjectRef::new(group, kind, ns, name))
        })
        .collect())
}
