//! Renewal of the controller's own PKI: what to do about a stored PKI at a given time ([`decide`],
//! pure) and the new PKI that does it ([`carry_out`]).
//!
//! The trust bundle changes before what is served, never with it (unless what is served is
//! unusable): a new CA joins the bundle first, which the webhook's `caBundle` and newly injected
//! sidecars then carry; a certificate it signs is served only once the certificate in use,
//! signed by the CA before, is in its last [`LAST_CALL`], and the new CA is [`SETTLE`] old. So a
//! sidecar injected after the new CA joined has had a serving certificate's lifetime, less the
//! last call, to be replaced before it would meet a certificate it does not trust. A CA is
//! replaced this way between [`CA_REPLACED_BEFORE`] and one year ahead of its expiry, within
//! [`ADD_CA_WITHIN`] of signing a serving certificate; a Secret written before the CA's key was
//! kept gains a CA at once. Retired CAs stay in the bundle until they expire.

use std::time::{Duration, SystemTime};

use super::error::Result;
use super::generate::{
    CA_VALIDITY, CLOCK_SKEW, Issued, SERVING_VALIDITY, Validity, issue_serving, new_ca,
};
use super::stored::{Facts, StoredPki};

/// How long a new CA must have existed before a serving certificate it signed is served: long
/// enough for every replica (rereading each minute) to have put it into the webhook's `caBundle`,
/// and for a rolling upgrade to have replaced replicas of a version that does not renew.
pub const SETTLE: Duration = Duration::from_secs(3600);

/// How soon after the signing CA issued the serving certificate its successor may join the
/// bundle, so that the certificate in use has nearly its whole lifetime left to overlap.
pub const ADD_CA_WITHIN: Duration = Duration::from_secs(7 * 24 * 3600);

/// The time left on a serving certificate signed by a CA other than the signing one when it is
/// at last replaced.
pub const LAST_CALL: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long before the signing CA expires its successor joins the bundle.
pub const CA_REPLACED_BEFORE: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

/// What to do about the stored PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing is due.
    Keep,
    /// Nothing usable is stored and no CA can sign a replacement: a new CA and certificate (the
    /// stored CAs still valid stay in the bundle, for replicas still serving the old certificate).
    Fresh(Reason),
    /// The signing CA's key is unknown or the CA expires soon: a new CA joins the bundle, first,
    /// and signs renewals from now on; the serving certificate stays until its last call.
    AddCa(Reason),
    /// A new serving certificate from the signing CA.
    Reissue(Reason),
    /// Drop the bundle's expired CAs.
    Prune,
}

/// Why a renewal is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The Secret holds no certificate yet.
    Empty,
    /// The serving certificate or its key does not parse, or they do not belong together.
    Unusable,
    /// The serving certificate has expired or is not valid yet.
    Expired,
    /// The serving certificate does not name the controller's Service.
    OtherService,
    /// The serving certificate does not chain to the bundle.
    Untrusted,
    /// Less than a third of the serving certificate's lifetime is left (for one signed by a CA
    /// that no longer signs, less than [`LAST_CALL`]).
    Due,
    /// The signing CA's key is not stored (a Secret written before renewal existed).
    NoSigningKey,
    /// The signing CA expires within [`CA_REPLACED_BEFORE`].
    CaExpiring,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::Empty => "the Secret holds no certificate",
            Reason::Unusable => "the serving certificate or its key is unusable",
            Reason::Expired => "the serving certificate is expired or not valid yet",
            Reason::OtherService => "the serving certificate names another Service",
            Reason::Untrusted => "the serving certificate does not chain to the stored CAs",
            Reason::Due => "less than a third of the serving certificate's lifetime is left",
            Reason::NoSigningKey => "the CA's key is not stored",
            Reason::CaExpiring => "the CA expires within two years",
        })
    }
}

/// What to do about a PKI that says `facts` at `now` (`None`: nothing stored).
pub fn decide(facts: Option<&Facts>, now: SystemTime) -> Renewal {
    let Some(facts) = facts else {
        return Renewal::Fresh(Reason::Empty);
    };
    let signer = facts.bundle.first().filter(|_| facts.signing_key);
    let can_sign = signer.is_some_and(|ca| ca.not_after >= now + SERVING_VALIDITY);
    let Some(serving) = facts.serving else {
        return replace(can_sign, Reason::Unusable);
    };
    if let Some(reason) = broken(facts, serving, now) {
        return replace(can_sign, reason);
    }
    let Some(signer) = signer else {
        return Renewal::AddCa(Reason::NoSigningKey);
    };
    let expiring = signer.not_after < now + CA_REPLACED_BEFORE;
    if !can_sign || (expiring && facts.signed_by_signer && age(serving, now) <= ADD_CA_WITHIN) {
        return Renewal::AddCa(Reason::CaExpiring);
    }
    let settled = signer.not_before + CLOCK_SKEW + SETTLE <= now;
    let handed_over = facts.signed_by_signer || left(serving, now) < LAST_CALL;
    if left(serving, now) < lifetime(serving) / 3 && settled && handed_over {
        return Renewal::Reissue(Reason::Due);
    }
    if facts.bundle.iter().any(|ca| ca.not_after <= now) {
        return Renewal::Prune;
    }
    Renewal::Keep
}

/// Why the serving certificate cannot stay in use, if it cannot.
fn broken(facts: &Facts, serving: Validity, now: SystemTime) -> Option<Reason> {
    if now < serving.not_before || now >= serving.not_after {
        Some(Reason::Expired)
    } else if !facts.names_service {
        Some(Reason::OtherService)
    } else if !facts.trusted {
        Some(Reason::Untrusted)
    } else {
        None
    }
}

/// A serving certificate that must go: reissued by the signing CA when it can, else all anew.
fn replace(can_sign: bool, reason: Reason) -> Renewal {
    if can_sign {
        Renewal::Reissue(reason)
    } else {
        Renewal::Fresh(reason)
    }
}

fn lifetime(cert: Validity) -> Duration {
    cert.not_after
        .duration_since(cert.not_before)
        .unwrap_or_default()
}

/// Time since the certificate was issued (its `notBefore` is back-dated by [`CLOCK_SKEW`]).
fn age(cert: Validity, now: SystemTime) -> Duration {
    now.duration_since(cert.not_before + CLOCK_SKEW)
        .unwrap_or_default()
}

fn left(cert: Validity, now: SystemTime) -> Duration {
    cert.not_after.duration_since(now).unwrap_or_default()
}

/// The PKI after `renewal` of `stored` (all anew when nothing is stored), for Service `service`
/// in `namespace`, at `now`; `None` when nothing changes.
pub fn carry_out(
    renewal: Renewal,
    stored: Option<&StoredPki>,
    service: &str,
    namespace: &str,
    now: SystemTime,
) -> Result<Option<StoredPki>> {
    let serving_validity = Validity::starting(now, SERVING_VALIDITY);
    let kept = || stored.map(|s| s.unexpired_blocks(now)).unwrap_or_default();
    let new_ca_first = || -> Result<(Issued, Vec<String>)> {
        let ca = new_ca(namespace, Validity::starting(now, CA_VALIDITY))?;
        let mut bundle = vec![ca.cert_pem.clone()];
        bundle.extend(kept());
        Ok((ca, bundle))
    };
    let fresh = || -> Result<StoredPki> {
        let (ca, bundle) = new_ca_first()?;
        let serving = issue_serving(&ca, service, namespace, serving_validity)?;
        Ok(pki(serving, bundle, &ca))
    };
    let Some(stored) = stored else {
        return fresh().map(Some);
    };
    Ok(Some(match renewal {
        Renewal::Keep => return Ok(None),
        Renewal::Fresh(_) => fresh()?,
        Renewal::AddCa(_) => {
            let (ca, bundle) = new_ca_first()?;
            let serving = Issued {
                cert_pem: stored.cert_pem.clone(),
                key_pem: stored.key_pem.clone(),
            };
            pki(serving, bundle, &ca)
        }
        Renewal::Reissue(_) => {
            let Some(ca) = stored.signer() else {
                return fresh().map(Some);
            };
            let serving = issue_serving(&ca, service, namespace, serving_validity)?;
            pki(serving, kept(), &ca)
        }
        Renewal::Prune => StoredPki {
            ca_bundle_pem: kept().concat(),
            ..stored.clone()
        },
    }))
}

fn pki(serving: Issued, bundle: Vec<String>, signing: &Issued) -> StoredPki {
    StoredPki {
        cert_pem: serving.cert_pem,
        key_pem: serving.key_pem,
        ca_bundle_pem: bundle.concat(),
        ca_key_pem: Some(signing.key_pem.clone()),
    }
}
