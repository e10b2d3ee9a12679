//! The controller's own PKI: a CA and a serving certificate it signs, for the controller's
//! Service, made at start-up when cert-manager is not used.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use super::error::{Error, Result};

/// The controller's Service name as the chart installs it under release name `ripcord` (the
/// `--service-name` default).
pub const SERVICE_NAME: &str = "ripcord-controller";

/// How long the generated CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(5 * 365 * 24 * 3600);
/// How long the generated serving certificate is valid.
const SERVING_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Back-dating of `notBefore`, for clocks a little behind the controller's.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// A generated CA and the serving certificate it signed, all PEM.
#[derive(Clone)]
pub struct Generated {
    /// The CA certificate: the webhook's `caBundle` and the sidecars' `RIPCORD_CONTROLLER_CA`.
    pub ca_pem: String,
    /// The CA's private key, to keep (for example in a Secret) if the CA must outlive the process.
    pub ca_key_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// The names the Service answers to from inside the cluster: `<service>.<ns>.svc`, its
/// `.cluster.local` form, `<service>.<ns>` and `<service>`.
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        format!("{service}.{namespace}"),
        service.to_string(),
    ]
}

/// Generates a CA and a serving certificate for Service `service` in `namespace` (the names
/// the API server and the sidecars dial: see [`dns_names`]).
pub fn generate(service: &str, namespace: &str) -> Result<Generated> {
    let now = SystemTime::now();
    let not_before = now.checked_sub(CLOCK_SKEW).unwrap_or(now);

    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("ripcord-ca.{namespace}"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = not_before.into();
    ca_params.not_after = (now + CA_VALIDITY).into();
    let ca_key = KeyPair::generate().map_err(generate_error("CA key"))?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(generate_error("CA"))?;

    let names = dns_names(service, namespace);
    let mut params =
        CertificateParams::new(names.clone()).map_err(generate_error("serving certificate"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].clone());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before.into();
    params.not_after = (now + SERVING_VALIDITY).into();
    let key = KeyPair::generate().map_err(generate_error("serving key"))?;
    let cert = params
        .signed_by(&key, &ca)
        .map_err(generate_error("serving certificate"))?;
    Ok(Generated {
        ca_pem: ca.pem(),
        ca_key_pem,
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn generate_error(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |source| Error::Generate { what, source }
}
