//! The controller's own PKI as it is kept (the TLS Secret's `tls.crt`, `tls.key`, `ca.crt` and
//! `ca.key`), and what it says when read at a given time: when each certificate is valid, whether
//! the serving certificate names the Service and chains to the bundle, whether the signing CA's
//! key is there.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{KeyPair, PublicKeyData};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::generate::{Issued, Validity};
use super::serving::ServingCert;

/// The PKI as stored: the serving certificate and key, the trust bundle (the CAs sidecars and the
/// API server trust, the signing CA first) and the signing CA's key, all PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPki {
    /// The serving certificate chain, leaf first.
    pub cert_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
    /// Every CA a served certificate may chain to, the one that signs renewals first.
    pub ca_bundle_pem: String,
    /// The key of the bundle's first CA; absent in Secrets written before renewal existed.
    pub ca_key_pem: Option<String>,
}

impl std::fmt::Debug for StoredPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPki")
            .field("cert_pem", &self.cert_pem)
            .field("ca_bundle_pem", &self.ca_bundle_pem)
            .field("ca_key", &self.ca_key_pem.as_ref().map(|_| "<present>"))
            .finish_non_exhaustive()
    }
}

/// What a stored PKI says at one moment, read off its certificates.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The serving certificate's validity, when the certificate and its key are usable together.
    pub serving: Option<Validity>,
    /// The serving certificate names `<service>.<namespace>.svc`.
    pub names_service: bool,
    /// The serving certificate chains to a CA of the bundle and is valid now.
    pub trusted: bool,
    /// The serving certificate chains to the bundle's first CA, the one that signs renewals.
    pub signed_by_signer: bool,
    /// The validity of each CA of the bundle, in bundle order.
    pub bundle: Vec<Validity>,
    /// The signing CA's key is stored and belongs to the bundle's first CA.
    pub signing_key: bool,
}

impl StoredPki {
    /// What this PKI says at `now` for the Service name `dns_name`.
    pub fn facts(&self, dns_name: &str, now: SystemTime) -> Facts {
        let bundle_der = ders(&self.ca_bundle_pem);
        let bundle: Vec<Validity> = bundle_der.iter().filter_map(|d| validity(d)).collect();
        let bundle = if bundle.len() == bundle_der.len() {
            bundle
        } else {
            Vec::new()
        };
        let leaf = ders(&self.cert_pem).into_iter().next();
        let usable =
            ServingCert::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes()).is_ok();
        let serving = leaf.as_ref().filter(|_| usable).and_then(|d| validity(d));
        Facts {
            serving,
            names_service: leaf.as_ref().is_some_and(|d| names(d, dns_name)),
            trusted: leaf
                .as_ref()
                .is_some_and(|d| chains_to(d, &bundle_der, now)),
            signed_by_signer: leaf
                .as_ref()
                .zip(bundle_der.first())
                .is_some_and(|(d, ca)| chains_to(d, std::slice::from_ref(ca), now)),
            bundle,
            signing_key: bundle_der
                .first()
                .zip(self.ca_key_pem.as_deref())
                .is_some_and(|(ca, key)| key_belongs(ca, key)),
        }
    }

    /// The bundle's CAs, each as its own PEM block, in order.
    pub fn bundle_blocks(&self) -> Vec<String> {
        ders(&self.ca_bundle_pem).iter().map(pem_block).collect()
    }

    /// The bundle's CAs still valid at `now`, each as its own PEM block, in order.
    pub fn unexpired_blocks(&self, now: SystemTime) -> Vec<String> {
        ders(&self.ca_bundle_pem)
            .iter()
            .filter(|der| validity(der).is_some_and(|v| v.not_after > now))
            .map(pem_block)
            .collect()
    }

    /// The signing CA (the bundle's first) with its key, when the key is stored.
    pub fn signer(&self) -> Option<Issued> {
        let key_pem = self.ca_key_pem.clone()?;
        let cert_pem = ders(&self.ca_bundle_pem).first().map(pem_block)?;
        Some(Issued { cert_pem, key_pem })
    }
}

/// The certificates of a PEM text; unreadable blocks are left out.
fn ders(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(std::result::Result::ok)
        .collect()
}

/// One certificate as a PEM block.
fn pem_block(der: &CertificateDer<'_>) -> String {
    let block = pem::Pem::new("CERTIFICATE", der.as_ref());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// When a DER certificate is valid, if it parses.
pub(crate) fn validity(der: &CertificateDer<'_>) -> Option<Validity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let at = |t: i64| {
        u64::try_from(t)
            .ok()
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
    };
    Some(Validity {
        not_before: at(cert.validity().not_before.timestamp())?,
        not_after: at(cert.validity().not_after.timestamp())?,
    })
}

/// Whether the certificate is valid for DNS name `name`.
fn names(der: &CertificateDer<'_>, name: &str) -> bool {
    let (Ok(cert), Ok(server)) = (
        webpki::EndEntityCert::try_from(der),
        ServerName::try_from(name),
    ) else {
        return false;
    };
    cert.verify_is_valid_for_subject_name(&server).is_ok()
}

/// Whether the serving certificate chains to one of `cas` for server use at `now`.
fn chains_to(leaf: &CertificateDer<'_>, cas: &[CertificateDer<'static>], now: SystemTime) -> bool {
    let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else {
        return false;
    };
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|ca| webpki::anchor_from_trusted_cert(ca).ok())
        .collect();
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        return false;
    };
    let algorithms = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    cert.verify_for_usage(
        algorithms,
        &anchors,
        &[],
        UnixTime::since_unix_epoch(since_epoch),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .is_ok()
}

/// Whether `key_pem` is the private key of the CA certificate `ca`.
fn key_belongs(ca: &CertificateDer<'_>, key_pem: &str) -> bool {
    let (Ok(key), Ok((_, cert))) = (
        KeyPair::from_pem(key_pem),
        x509_parser::parse_x509_certificate(ca.as_ref()),
    ) else {
        return false;
    };
    key.subject_public_key_info() == cert.tbs_certificate.subject_pki.raw
}
