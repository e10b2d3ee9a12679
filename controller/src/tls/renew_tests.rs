//! Tests of renewal: each decision on generated PKIs at chosen times, and decades of a PKI's life
//! stepped a day at a time, checking what every replica serves and what every injected sidecar
//! trusts.

use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::renew::{LAST_CALL, Reason, Renewal, carry_out, decide};
use super::*;

const SERVICE: &str = "edge-ripcord-controller";
const NAMESPACE: &str = "ops";
const DNS_NAME: &str = "edge-ripcord-controller.ops.svc";
const DAY: Duration = Duration::from_secs(24 * 3600);

fn days(n: u64) -> Duration {
    DAY * u32::try_from(n).expect("a small number of days")
}

/// A PKI as the controller stores it, made at `at` with the current lifetimes.
fn fresh(at: SystemTime) -> StoredPki {
    carry_out(Renewal::Fresh(Reason::Empty), None, SERVICE, NAMESPACE, at)
        .expect("generated")
        .expect("a new PKI")
}

/// A PKI as controllers before renewal stored it: a five-year CA without its key.
fn legacy(at: SystemTime) -> StoredPki {
    let ca = new_ca(NAMESPACE, Validity::starting(at, 5 * 365 * DAY)).expect("CA");
    let serving = issue_serving(
        &ca,
        SERVICE,
        NAMESPACE,
        Validity::starting(at, SERVING_VALIDITY),
    )
    .expect("cert");
    StoredPki {
        cert_pem: serving.cert_pem,
        key_pem: serving.key_pem,
        ca_bundle_pem: ca.cert_pem,
        ca_key_pem: None,
    }
}

fn decision(pki: &StoredPki, at: SystemTime) -> Renewal {
    decide(Some(&pki.facts(DNS_NAME, at)), at)
}

/// `pki` after what is due at `at`, and what that was.
fn step(pki: &StoredPki, at: SystemTime) -> (StoredPki, Renewal) {
    let renewal = decision(pki, at);
    let next = carry_out(renewal, Some(pki), SERVICE, NAMESPACE, at)
        .expect("carried out")
        .unwrap_or_else(|| pki.clone());
    (next, renewal)
}

/// Whether a client trusting `bundle` accepts `cert_pem` for the Service at `at`.
fn accepts(bundle: &str, cert_pem: &str, at: SystemTime) -> bool {
    let pki = StoredPki {
        cert_pem: cert_pem.to_string(),
        key_pem: String::new(),
        ca_bundle_pem: bundle.to_string(),
        ca_key_pem: None,
    };
    let leaf = CertificateDer::pem_slice_iter(cert_pem.as_bytes()).next();
    leaf.is_some() && pki.facts(DNS_NAME, at).trusted
}

#[test]
fn a_fresh_pki_is_kept_until_a_third_of_its_serving_lifetime_is_left() {
    let t0 = SystemTime::now();
    let pki = fresh(t0);
    assert_eq!(decide(None, t0), Renewal::Fresh(Reason::Empty));
    assert_eq!(decision(&pki, t0 + days(1)), Renewal::Keep);
    assert_eq!(decision(&pki, t0 + days(240)), Renewal::Keep);
    assert_eq!(
        decision(&pki, t0 + days(245)),
        Renewal::Reissue(Reason::Due)
    );

    let (renewed, _) = step(&pki, t0 + days(245));
    assert_eq!(renewed.ca_bundle_pem, pki.ca_bundle_pem, "the trust stays");
    assert_eq!(renewed.ca_key_pem, pki.ca_key_pem);
    assert_ne!(renewed.cert_pem, pki.cert_pem);
    let facts = renewed.facts(DNS_NAME, t0 + days(245));
    assert!(facts.trusted && facts.signed_by_signer && facts.names_service);
    assert_eq!(decision(&renewed, t0 + days(246)), Renewal::Keep);
}

#[test]
fn an_unusable_serving_certificate_is_reissued_when_the_ca_can_sign_and_replaced_otherwise() {
    let t0 = SystemTime::now();
    let pki = fresh(t0);
    let other = StoredPki {
        key_pem: fresh(t0).key_pem,
        ..pki.clone()
    };
    assert_eq!(decision(&other, t0), Renewal::Reissue(Reason::Unusable));
    let expired = t0 + SERVING_VALIDITY + DAY;
    assert_eq!(decision(&pki, expired), Renewal::Reissue(Reason::Expired));
    let ca = Issued {
        cert_pem: pki.ca_bundle_pem.clone(),
        key_pem: pki.ca_key_pem.clone().expect("key"),
    };
    let elsewhere = issue_serving(
        &ca,
        "ripcord-controller",
        NAMESPACE,
        Validity::starting(t0, SERVING_VALIDITY),
    )
    .expect("cert");
    let foreign = StoredPki {
        cert_pem: elsewhere.cert_pem,
        key_pem: elsewhere.key_pem,
        ..pki.clone()
    };
    assert_eq!(
        decision(&foreign, t0),
        Renewal::Reissue(Reason::OtherService)
    );
    let untrusted = StoredPki {
        ca_bundle_pem: fresh(t0).ca_bundle_pem,
        ca_key_pem: None,
        ..pki.clone()
    };
    assert_eq!(decision(&untrusted, t0), Renewal::Fresh(Reason::Untrusted));
    assert_eq!(
        decision(&legacy(t0), t0 + SERVING_VALIDITY + DAY),
        Renewal::Fresh(Reason::Expired)
    );
}

#[test]
fn a_secret_from_before_renewal_gains_a_ca_and_serves_its_certificate_until_the_last_call() {
    let t0 = SystemTime::now();
    let old = legacy(t0);
    let (pki, renewal) = step(&old, t0 + days(10));
    assert_eq!(renewal, Renewal::AddCa(Reason::NoSigningKey));
    assert_eq!(pki.cert_pem, old.cert_pem, "the served certificate stays");
    assert_eq!(pki.bundle_blocks().len(), 2);
    assert_eq!(
        pki.bundle_blocks()[1],
        old.bundle_blocks()[0],
        "the old CA stays trusted"
    );
    let facts = pki.facts(DNS_NAME, t0 + days(10));
    assert!(facts.signing_key && facts.trusted && !facts.signed_by_signer);

    // Due by its lifetime, but signed by the CA before: served until its last call.
    assert_eq!(decision(&pki, t0 + days(300)), Renewal::Keep);
    let last_call = t0 + SERVING_VALIDITY - LAST_CALL + DAY;
    let (renewed, renewal) = step(&pki, last_call);
    assert_eq!(renewal, Renewal::Reissue(Reason::Due));
    assert_eq!(renewed.ca_bundle_pem, pki.ca_bundle_pem);
    assert!(accepts(&pki.ca_bundle_pem, &renewed.cert_pem, last_call));
    assert!(
        !accepts(&old.ca_bundle_pem, &renewed.cert_pem, last_call),
        "a sidecar injected before the upgrade trusts only the old CA"
    );
}

#[tokio::test]
async fn a_renewed_certificate_is_served_to_new_connections_without_a_restart() {
    let t0 = SystemTime::now();
    let pki = fresh(t0 - days(250));
    let serving =
        ServingCert::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).expect("usable");
    let expiring = serving.not_after().expect("an expiry");
    assert!(
        expiring < t0 + days(120),
        "the aged certificate expires within four months"
    );
    let (renewed, renewal) = step(&pki, t0);
    assert_eq!(renewal, Renewal::Reissue(Reason::Due));
    serving
        .replace(renewed.cert_pem.as_bytes(), renewed.key_pem.as_bytes())
        .expect("swapped");
    let served = tests::served_certificate(
        serving.acceptor().expect("acceptor"),
        &pki.ca_bundle_pem,
        DNS_NAME,
    )
    .await
    .expect("handshake");
    let expected = CertificateDer::from_pem_slice(renewed.cert_pem.as_bytes()).expect("PEM");
    assert_eq!(
        served,
        expected.as_ref(),
        "the renewed certificate is served"
    );
    assert!(
        serving.not_after().expect("an expiry") > t0 + days(360),
        "the expiry reported follows the renewal"
    );
}

/// One day of the simulated life: what the replicas serve and what a sidecar injected that day
/// trusts.
struct Day {
    at: SystemTime,
    served: String,
    bundle: String,
}

/// Twenty-five years of a PKI, from a Secret written before renewal, checked daily.
fn life() -> (Vec<Day>, Vec<Renewal>) {
    let t0 = SystemTime::now();
    let mut pki = legacy(t0);
    let mut days_lived = Vec::new();
    let mut renewals = Vec::new();
    for day in 0..25 * 365 {
        let at = t0 + days(day);
        let (next, renewal) = step(&pki, at);
        if renewal != Renewal::Keep {
            let served_changed = next.cert_pem != pki.cert_pem;
            let trust_changed = next.ca_bundle_pem != pki.ca_bundle_pem;
            assert!(
                !(served_changed && trust_changed),
                "day {day}: {renewal:?} changed what is served and what is trusted at once"
            );
            renewals.push(renewal);
        }
        pki = next;
        assert!(
            accepts(&pki.ca_bundle_pem, &pki.cert_pem, at),
            "day {day}: the served certificate is not trusted by the bundle"
        );
        days_lived.push(Day {
            at,
            served: pki.cert_pem.clone(),
            bundle: pki.ca_bundle_pem.clone(),
        });
    }
    (days_lived, renewals)
}

#[test]
fn over_decades_every_sidecar_keeps_trusting_what_is_served_for_months() {
    let (lived, renewals) = life();
    assert_eq!(renewals[0], Renewal::AddCa(Reason::NoSigningKey));
    let ca_changes = renewals
        .iter()
        .filter(|r| matches!(r, Renewal::AddCa(Reason::CaExpiring)))
        .count();
    assert_eq!(
        ca_changes, 3,
        "a ten-year CA is replaced in its ninth year, three times in 25 years: {renewals:?}"
    );
    assert!(
        renewals.contains(&Renewal::Prune),
        "the legacy CA is dropped once expired"
    );
    assert!(renewals.iter().all(|r| !matches!(r, Renewal::Fresh(_))));

    // A sidecar injected on day `d` trusts that day's bundle; how long until it meets a served
    // certificate it does not trust? Pods injected after the upgrade (day 0 is the upgrade).
    let mut shortest = usize::MAX;
    let mut d = 1;
    while d < lived.len() {
        let bundle = &lived[d].bundle;
        let last_day_of_bundle = (d..lived.len())
            .take_while(|&i| lived[i].bundle == *bundle)
            .last()
            .unwrap_or(d);
        let injected = last_day_of_bundle;
        let broken =
            (injected..lived.len()).find(|&i| !accepts(bundle, &lived[i].served, lived[i].at));
        if let Some(broken) = broken {
            shortest = shortest.min(broken - injected);
        }
        d = last_day_of_bundle + 1;
    }
    println!("shortest trust of a sidecar injected after the upgrade: {shortest} days");
    assert!(
        shortest >= 320,
        "a sidecar injected after the upgrade stopped trusting the controller after {shortest} days"
    );
}
