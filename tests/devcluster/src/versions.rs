//! The pins of `versions.toml`.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `versions.toml`.
#[derive(Debug, Deserialize)]
pub struct Versions {
    /// Kubernetes release.
    pub kubernetes: Pin,
    /// etcd.
    pub etcd: Pin,
    /// kwok.
    pub kwok: Pin,
    /// Flux release and controller versions.
    pub flux: BTreeMap<String, String>,
    /// metrics-server (`up --metrics-server`).
    #[serde(rename = "metrics-server")]
    pub metrics_server: Pin,
    /// actionlint, the workflow linter of the packaging tests.
    pub actionlint: Pin,
    /// krew and its manifest validator (the packaging tests).
    pub krew: Pin,
    /// The flux-operator: its CRDs at every `up`, the operator with `up --flux-operator`.
    #[serde(rename = "flux-operator")]
    pub flux_operator: Pin,
}

/// One pinned component.
#[derive(Debug, Deserialize)]
pub struct Pin {
    /// Go module, where it is not k8s.io/kubernetes.
    pub module: Option<String>,
    /// Version.
    pub version: String,
    /// The Go release its go commands need (`GOTOOLCHAIN`), where the machine's Go is too old.
    pub toolchain: Option<String>,
}

/// Reads the pins compiled into the binary.
pub fn load() -> Result<Versions> {
    toml::from_str(include_str!("../versions.toml")).context("versions.toml")
}

/// The Flux controllers whose CRDs `up` installs, as (Go module, version).
pub fn flux_modules(v: &Versions) -> Vec<(String, String)> {
    v.flux
        .iter()
        .filter(|(k, _)| k.ends_with("-controller"))
        .map(|(k, ver)| (format!("github.com/fluxcd/{k}"), ver.clone()))
        .collect()
}
