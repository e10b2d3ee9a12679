//! The controller's own PKI: a CA and the serving certificates it signs, for the controller's
//! Service, made when cert-manager is not used. The CA's key is kept (in the TLS Secret) so that
//! a serving certificate can be renewed under the same CA, with no change of trust.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use super::error::{Error, Result};

/// The controller's Service name as the chart installs it under release name `ripcord` (the
/// `--service-name` default).
pub const SERVICE_NAME: &str = "ripcord-controller";

/// How long a generated CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a generated serving certificate is valid.
pub const SERVING_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Back-dating of `notBefore`, for clocks a little behind the controller's.
pub const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// A generated CA and the serving certificate it signed, all PEM.
#[derive(Clone)]
pub struct Generated {
    /// The CA certificate, the first of the trust bundle (the webhook's `caBundle` and the
    /// sidecars' `RIPCORD_CONTROLLER_CA`).
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

/// A certificate and its private key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Not valid before.
    pub not_before: SystemTime,
    /// Not valid after.
    pub not_after: SystemTime,
}

impl Validity {
    /// Valid from `now` (back-dated by [`CLOCK_SKEW`]) for `lifetime`.
    pub fn starting(now: SystemTime, lifetime: Duration) -> Validity {
        Validity {
            not_before: now.checked_sub(CLOCK_SKEW).unwrap_or(now),
            not_after: now + lifetime,
        }
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
    let ca = new_ca(namespace, Validity::starting(now, CA_VALIDITY))?;
    let serving = issue_serving(
        &ca,
        service,
        namespace,
        Validity::starting(now, SERVING_VALIDITY),
    )?;
    Ok(Generated {
        ca_pem: ca.cert_pem,
        ca_key_pem: ca.key_pem,
        cert_pem: serving.cert_pem,
        key_pem: serving.key_pem,
    })
}

/// A new self-signed CA for the controller in `namespace`, valid over `validity`.
pub fn new_ca(namespace: &str, validity: Validity) -> Result<Issued> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("ripcord-ca.{namespace}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = validity.not_before.into();
    params.not_after = validity.not_after.into();
    let key = KeyPair::generate().map_err(generate_error("CA key"))?;
    let key_pem = key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(params, key).map_err(generate_error("CA"))?;
    Ok(Issued {
        cert_pem: ca.pem(),
        key_pem,
    })
}

/// A serving certificate for Service `service` in `namespace`, signed by `ca`, valid over
/// `validity`.
pub fn issue_serving(
    ca: &Issued,
    service: &str,
    namespace: &str,
    validity: Validity,
) -> Result<Issued> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(generate_error("CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(generate_error("CA"))?;
    let names = dns_names(service, namespace);
    let mut params =
        CertificateParams::new(names.clone()).map_err(generate_error("serving certificate"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].clone());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = validity.not_before.into();
    params.not_after = validity.not_after.into();
    let key = KeyPair::generate().map_err(generate_error("serving key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(generate_error("serving certificate"))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn generate_error(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |source| Error::Generate { what, source }
}
