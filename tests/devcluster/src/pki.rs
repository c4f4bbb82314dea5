//! Certificates and keys for one cluster: a CA, the API server's serving certificate, the admin
//! client certificate (group system:masters) and the service-account signing key.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;

/// The common name of the aggregation layer's client certificate.
pub const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

/// PEM material written under `D/pki`.
pub struct Pki {
    /// CA certificate (PEM).
    pub ca_cert: String,
    /// Admin client certificate (PEM).
    pub admin_cert: String,
    /// Admin client key (PEM).
    pub admin_key: String,
    /// Client certificate of the cluster's own components (controllers, kwok, Flux), a
    /// different user than `admin` so request counts show only what a test did.
    pub components_cert: String,
    /// Its key.
    pub components_key: String,
}

fn write(dir: &Path, name: &str, body: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Generates everything into `dir` and returns what the kubeconfig embeds.
pub fn generate(dir: &Path) -> Result<Pki> {
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, "devcluster-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
        "10.0.0.1".to_string(),
    ])?;
    serving.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving.signed_by(&serving_key, &issuer)?;

    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::new(Vec::<String>::new())?;
    admin.distinguished_name = DistinguishedName::new();
    admin.distinguished_name.push(DnType::CommonName, "admin");
    admin.distinguished_name.push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin.signed_by(&admin_key, &issuer)?;

    let components_key = KeyPair::generate()?;
    let mut components = CertificateParams::new(Vec::<String>::new())?;
    components.distinguished_name = DistinguishedName::new();
    components.distinguished_name.push(DnType::CommonName, "devcluster-components");
    components.distinguished_name.push(DnType::OrganizationName, "system:masters");
    components.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let components_cert = components.signed_by(&components_key, &issuer)?;

    // The aggregation layer's client (`--proxy-client-cert-file`): the API server presents it
    // to aggregated API servers (metrics-server), which trust the X-Remote-User it forwards
    // because the CA and CN match `--requestheader-client-ca-file`/`--requestheader-allowed-names`.
    let front_key = KeyPair::generate()?;
    let mut front = CertificateParams::new(Vec::<String>::new())?;
    front.distinguished_name = DistinguishedName::new();
    front.distinguished_name.push(DnType::CommonName, FRONT_PROXY_CLIENT);
    front.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let front_cert = front.signed_by(&front_key, &issuer)?;

    let sa_key = KeyPair::generate()?;

    write(dir, "ca.crt", &ca_cert.pem())?;
    write(dir, "ca.key", &ca_key.serialize_pem())?;
    write(dir, "apiserver.crt", &serving_cert.pem())?;
    write(dir, "apiserver.key", &serving_key.serialize_pem())?;
    write(dir, "admin.crt", &admin_cert.pem())?;
    write(dir, "admin.key", &admin_key.serialize_pem())?;
    write(dir, "front-proxy-client.crt", &front_cert.pem())?;
    write(dir, "front-proxy-client.key", &front_key.serialize_pem())?;
    write(dir, "sa.key", &sa_key.serialize_pem())?;
    write(dir, "sa.pub", &sa_key.public_key_pem())?;
    Ok(Pki {
        ca_cert: ca_cert.pem(),
        admin_cert: admin_cert.pem(),
        admin_key: admin_key.serialize_pem(),
        components_cert: components_cert.pem(),
        components_key: components_key.serialize_pem(),
    })
}
