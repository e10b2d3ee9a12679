//! The outbound calls of flag flips and notifications, against a local HTTP(S) server (the
//! controller's own server loop) that records every request: method, path, headers, body and
//! the webhook signature are checked; so are the client's size cap, timeout and extra CA.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use ring::hmac;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use ripcord_controller::flags::credentials::{
    LAUNCHDARKLY_TOKEN, SLACK_WEBHOOK_URL, UNLEASH_TOKEN, WEBHOOK_SECRET,
};
use ripcord_controller::flags::launchdarkly::SEMANTIC_PATCH;
use ripcord_controller::flags::webhook::SIGNATURE_HEADER;
use ripcord_controller::flags::{
    Credentials, FlagError, FlagFlipper, FlagUrl, FlipContext, FlipOutcome,
};
use ripcord_controller::http::{Disposition, HttpClient, HttpError, HttpLimits, json_request};
use ripcord_controller::notify::{
    ActionTaken, Delivery, Notice, Notifier, WebhookUrl, slack_message,
};
use ripcord_controller::ops::metrics::Metrics;
use ripcord_controller::ops::server::serve;
use ripcord_sidecar::report::Release;
use ripcord_sidecar::verdict::{
    ArmCounts, Decision, Effect, MetricEvidence, VERDICT_VERSION, Verdict,
};

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no header {name} on {} {}",
                    self.method, self.path_and_query
                )
            })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> (StatusCode, String, Duration) + Send + Sync>;

/// A local server answering with `respond` and recording every request; stops when dropped.
struct Recorder {
    origin: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Recorder {
    async fn start(tls: Option<tokio_rustls::TlsAcceptor>, respond: Responder) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let port = listener.local_addr().expect("local address").port();
        let scheme = if tls.is_some() {
            "https://localhost"
        } else {
            "http://127.0.0.1"
        };
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let service = tower::service_fn(move |request: Request<Incoming>| {
            let seen = seen.clone();
            let respond = respond.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let recorded = Recorded {
                    method: parts.method,
                    path_and_query: parts
                        .uri
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    headers: parts.headers,
                    body,
                };
                let (status, answer, delay) = respond(&recorded);
                seen.lock().expect("not poisoned").push(recorded);
                tokio::time::sleep(delay).await;
                let mut response = Response::new(Full::new(Bytes::from(answer)));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, tls, service, async move {
            let _ = stopped.await;
        }));
        Recorder {
            origin: format!("{scheme}:{port}"),
            requests,
            _stop: stop,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

fn respond(f: impl Fn(&Recorded) -> (StatusCode, String) + Send + Sync + 'static) -> Responder {
    Arc::new(move |r| {
        let (status, body) = f(r);
        (status, body, Duration::ZERO)
    })
}

fn client() -> HttpClient {
    HttpClient::new(HttpLimits::default(), None).expect("a client")
}

/// A fresh credentials directory holding `files`.
fn credentials_dir(test: &str, files: &[(&str, &str)]) -> (Credentials, PathBuf) {
    let dir =
        std::env::temp_dir().join(format!("ripcord-flags-http-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("credentials dir");
    for (name, content) in files {
        std::fs::write(dir.join(name), content).expect("credential file");
    }
    (Credentials::new(&dir), dir)
}

fn context() -> FlipContext {
    FlipContext {
        release: release(),
        release_check: "checkout-7".to_string(),
        reason: "errors regressed: canary 5.0% vs baseline 1.0%".to_string(),
    }
}

fn release() -> Release {
    Release {
        namespace: "shop".to_string(),
        deployment: "checkout".to_string(),
        revision: "7".to_string(),
        pod: "checkout-7-abcde".to_string(),
    }
}

fn ld_flag_state(on: bool) -> String {
    json!({"key": "new-checkout", "environments": {"production": {"on": on}, "test": {"on": true}}})
        .to_string()
}

#[tokio::test]
async fn launchdarkly_flag_is_turned_off_with_a_semantic_patch() {
    let server = Recorder::start(
        None,
        respond(|r| match r.method {
            Method::GET => (StatusCode::OK, ld_flag_state(true)),
            _ => (StatusCode::OK, ld_flag_state(false)),
        }),
    )
    .await;
    let (credentials, dir) = credentials_dir("ld", &[(LAUNCHDARKLY_TOKEN, "api-0123-secret\n")]);
    let flipper = FlagFlipper::new(client(), credentials).with_launchdarkly_api(&server.origin);
    let flag: FlagUrl = "launchdarkly://default/production/new-checkout"
        .parse()
        .expect("flag URL");

    let outcome = flipper
        .turn_off(&flag, &context())
        .await
        .expect("turned off");

    assert_eq!(outcome, FlipOutcome::Done);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].method, Method::GET);
    assert_eq!(
        requests[0].path_and_query,
        "/api/v2/flags/default/new-checkout?env=production"
    );
    assert_eq!(requests[0].header("authorization"), "api-0123-secret");
    let patch = &requests[1];
    assert_eq!(patch.method, Method::PATCH);
    assert_eq!(patch.path_and_query, "/api/v2/flags/default/new-checkout");
    assert_eq!(patch.header("authorization"), "api-0123-secret");
    assert_eq!(patch.header("content-type"), SEMANTIC_PATCH);
    let body = patch.json();
    assert_eq!(body["environmentKey"], "production");
    assert_eq!(body["instructions"], json!([{"kind": "turnFlagOff"}]));
    let comment = body["comment"].as_str().expect("a comment");
    assert!(
        comment.contains("shop/checkout revision 7") && comment.contains("checkout-7"),
        "{comment}"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[tokio::test]
async fn launchdarkly_flag_already_off_is_not_patched_and_errors_carry_advice() {
    let server = Recorder::start(
        None,
        respond(|r| match r.path_and_query.as_str() {
            p if p.starts_with("/api/v2/flags/default/new-checkout?env=") => {
                (StatusCode::OK, ld_flag_state(false))
            }
            "/api/v2/flags/default/busy?env=production" => {
                (StatusCode::SERVICE_UNAVAILABLE, "busy".into())
            }
            _ => (StatusCode::NOT_FOUND, r#"{"code":"not_found"}"#.into()),
        }),
    )
    .await;
    let (credentials, dir) = credentials_dir("ld-off", &[(LAUNCHDARKLY_TOKEN, "api-0123-secret")]);
    let metrics = Arc::new(Metrics::new());
    let flipper = FlagFlipper::new(client(), credentials)
        .with_launchdarkly_api(&server.origin)
        .with_metrics(metrics.clone());

    let off: FlagUrl = "launchdarkly://default/production/new-checkout"
        .parse()
        .expect("flag URL");
    assert_eq!(
        flipper.turn_off(&off, &context()).await.expect("fine"),
        FlipOutcome::AlreadyOff
    );
    assert_eq!(
        server.requests().len(),
        1,
        "no PATCH for a flag already off"
    );

    let busy: FlagUrl = "launchdarkly://default/production/busy"
        .parse()
        .expect("flag URL");
    let error = flipper.turn_off(&busy, &context()).await.expect_err("503");
    assert_eq!(error.disposition(), Disposition::BackOff, "{error}");
    let missing: FlagUrl = "launchdarkly://default/production/nope"
        .parse()
        .expect("flag URL");
    let error = flipper
        .turn_off(&missing, &context())
        .await
        .expect_err("404");
    assert_eq!(error.disposition(), Disposition::GiveUp, "{error}");
    assert!(error.to_string().contains("404"), "{error}");
    let wrong_env: FlagUrl = "launchdarkly://default/staging/new-checkout"
        .parse()
        .expect("flag URL");
    let error = flipper
        .turn_off(&wrong_env, &context())
        .await
        .expect_err("no such environment");
    assert!(
        matches!(error, FlagError::Provider { .. }) && error.to_string().contains("staging"),
        "{error}"
    );
    let exported = metrics.encode().expect("metrics encode");
    for line in [
        "ripcord_controller_actions_total{kind=\"flag\",result=\"already_done\"} 1",
        "ripcord_controller_actions_total{kind=\"flag\",result=\"failed\"} 3",
    ] {
        assert!(exported.contains(line), "missing {line} in\n{exported}");
    }
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[tokio::test]
async fn webhook_event_is_signed_over_its_body() {
    let server = Recorder::start(
        None,
        respond(|r| match r.path_and_query.as_str() {
            "/hooks/flags?tenant=shop" => (StatusCode::ACCEPTED, String::new()),
            _ => (StatusCode::OK, r#"{"outcome":"already_off"}"#.into()),
        }),
    )
    .await;
    let secret = "whsec-7c1d9b";
    let (credentials, dir) = credentials_dir("webhook", &[(WEBHOOK_SECRET, secret)]);
    let flipper =
        FlagFlipper::new(client(), credentials).with_allowed_origins([server.origin.clone()]);
    let url = format!("webhook+{}/hooks/flags?tenant=shop", server.origin);
    let flag: FlagUrl = url.parse().expect("flag URL");

    assert_eq!(
        flipper.turn_off(&flag, &context()).await.expect("sent"),
        FlipOutcome::Done
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let event = &requests[0];
    assert_eq!(event.method, Method::POST);
    assert_eq!(event.path_and_query, "/hooks/flags?tenant=shop");
    assert_eq!(event.header("content-type"), "application/json");
    let signature = event.header(SIGNATURE_HEADER);
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, &event.body, &tag).expect("the signature verifies over the body");
    let wrong = hmac::Key::new(hmac::HMAC_SHA256, b"another secret");
    assert!(hmac::verify(&wrong, &event.body, &tag).is_err());
    let body = event.json();
    assert_eq!(body["version"], "ripcord.dev/flag-off/v1alpha1");
    assert_eq!(body["action"], "turn_off");
    assert_eq!(
        body["flag"],
        format!("webhook+{}/hooks/flags", server.origin)
    );
    assert_eq!(body["release"]["deployment"], "checkout");
    assert_eq!(body["releaseCheck"], "checkout-7");
    assert!(
        body["atMs"].as_i64().is_some_and(|t| t > 1_700_000_000_000),
        "{body}"
    );

    let other: FlagUrl = format!("webhook+{}/hooks/other", server.origin)
        .parse()
        .expect("flag URL");
    assert_eq!(
        flipper.turn_off(&other, &context()).await.expect("sent"),
        FlipOutcome::AlreadyOff
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[tokio::test]
async fn a_flag_the_operator_has_not_allowed_gets_no_credentials() {
    let server = Recorder::start(None, respond(|_| (StatusCode::OK, String::new()))).await;
    let (credentials, dir) = credentials_dir(
        "not-allowed",
        &[(UNLEASH_TOKEN, "admin-secret"), (WEBHOOK_SECRET, "whsec")],
    );
    let flipper = FlagFlipper::new(client(), credentials)
        .with_allowed_origins(["https://unleash.example.com".to_string()]);
    for url in [
        format!(
            "unleash+{}/api/admin/projects/p/features/f?environment=production",
            server.origin
        ),
        format!("webhook+{}/hooks/flags", server.origin),
        "openfeature://payments/flags/new-checkout".to_string(),
    ] {
        let flag: FlagUrl = url.parse().expect("flag URL");
        let error = flipper
            .turn_off(&flag, &context())
            .await
            .expect_err("not allowed");
        assert!(matches!(error, FlagError::NotAllowed { .. }), "{error}");
        assert_eq!(error.disposition(), Disposition::GiveUp);
        assert!(!error.to_string().contains("admin-secret"), "{error}");
    }
    assert!(
        server.requests().is_empty(),
        "nothing reached the unlisted origin: {:?}",
        server.requests()
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[tokio::test]
async fn a_missing_credential_sends_nothing() {
    let server = Recorder::start(None, respond(|_| (StatusCode::OK, String::new()))).await;
    let (credentials, dir) = credentials_dir("missing", &[]);
    let flipper = FlagFlipper::new(client(), credentials)
        .with_launchdarkly_api(&server.origin)
        .with_allowed_origins([server.origin.clone()]);
    for url in [
        format!("webhook+{}/hooks/flags", server.origin),
        "launchdarkly://default/production/new-checkout".to_string(),
    ] {
        let flag: FlagUrl = url.parse().expect("flag URL");
        let error = flipper
            .turn_off(&flag, &context())
            .await
            .expect_err("no credential");
        assert!(matches!(error, FlagError::Credential(_)), "{error}");
        assert_eq!(error.disposition(), Disposition::GiveUp);
    }
    let openfeature: FlagUrl = "openfeature://shop/flags/new-checkout"
        .parse()
        .expect("flag URL");
    let error = flipper
        .turn_off(&openfeature, &context())
        .await
        .expect_err("no kube client");
    assert!(matches!(error, FlagError::NotConfigured { .. }), "{error}");
    assert!(
        server.requests().is_empty(),
        "nothing may be sent unsigned or unauthenticated"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

fn notice() -> Notice {
    let metric = MetricEvidence {
        name: "errors".to_string(),
        signal: "ratio".to_string(),
        direction: "max".to_string(),
        tolerance: 0.5,
        decision: Decision::Fail,
        reason: "canary error rate above tolerance".to_string(),
        canary: ArmCounts {
            events: 50.0,
            trials: 1000.0,
            rate: Some(0.05),
        },
        baseline: ArmCounts {
            events: 10.0,
            trials: 1000.0,
            rate: Some(0.01),
        },
        effect: Effect {
            measure: "rate_ratio".to_string(),
            estimate: Some(5.0),
            lower: Some(2.6),
            upper: Some(9.8),
            confidence: 0.99,
        },
        e_value: 15_000.0,
        threshold: 100.0,
        alpha: 0.01,
        decided_at_ms: Some(1_700_000_006_000),
        skipped_ticks: 0,
        absolute: None,
        latency: None,
    };
    Notice {
        release: release(),
        release_check: "checkout-7".to_string(),
        verdict: Verdict {
            version: VERDICT_VERSION.to_string(),
            decision: Decision::Fail,
            reason: "errors <regressed> & more".to_string(),
            at_ms: 1_700_000_006_000,
            elapsed_ms: 6_000,
            ticks: 6,
            alpha: 0.01,
            decided_at_ms: Some(1_700_000_006_000),
            basis: Default::default(),
            metrics: vec![metric],
        },
        actions: vec![
            ActionTaken {
                kind: "flag off".to_string(),
                target: "launchdarkly://default/production/new-checkout".to_string(),
                outcome: "done".to_string(),
            },
            ActionTaken {
                kind: "rollback".to_string(),
                target: "revision 6".to_string(),
                outcome: "done".to_string(),
            },
        ],
        undo: Some("kubectl rollout undo deployment/checkout -n shop".to_string()),
    }
}

#[test]
fn the_slack_message_summarises_verdict_evidence_and_actions() {
    let message = slack_message(&notice());
    let text = message["text"].as_str().expect("fallback text");
    assert!(
        text.contains("shop/checkout revision 7 regressed"),
        "{text}"
    );
    assert!(
        text.contains("flag off: done") && text.contains("rollback: done"),
        "{text}"
    );
    let blocks = message["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    let all = serde_json::to_string(blocks).expect("json");
    for needle in [
        "errors",
        "5.000% (50/1000)",
        "1.000% (10/1000)",
        "×5.00 [2.60, 9.80] at 99%",
        "1.500e4",
        "revision 6",
        "kubectl ripcord why checkout -n shop",
        "kubectl rollout undo",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in {all}");
    }
    assert!(
        all.contains("&lt;regressed&gt; &amp; more"),
        "Slack control characters escaped: {all}"
    );
    for block in blocks {
        let text = block["text"]["text"].as_str().unwrap_or_default();
        assert!(text.chars().count() <= 3000, "a section over Slack's limit");
    }
}

#[tokio::test]
async fn notifications_go_to_the_url_in_the_credentials_dir_or_nowhere() {
    let server = Recorder::start(None, respond(|_| (StatusCode::OK, "ok".into()))).await;
    let url = format!("{}/services/T000/B000/XXXX", server.origin);
    let (credentials, dir) = credentials_dir("notify", &[(SLACK_WEBHOOK_URL, &url)]);
    let metrics = Arc::new(Metrics::new());
    let notifier =
        Notifier::new(client(), WebhookUrl::Credentials(credentials)).with_metrics(metrics.clone());

    assert_eq!(
        notifier.send(&notice()).await.expect("sent"),
        Delivery::Sent
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, Method::POST);
    assert_eq!(requests[0].path_and_query, "/services/T000/B000/XXXX");
    assert_eq!(requests[0].header("content-type"), "application/json");
    assert_eq!(requests[0].json(), slack_message(&notice()));
    let exported = metrics.encode().expect("metrics encode");
    let line = "ripcord_controller_actions_total{kind=\"notify\",result=\"done\"} 1";
    assert!(exported.contains(line), "missing {line} in\n{exported}");

    let (empty, empty_dir) = credentials_dir("notify-none", &[]);
    let silent = Notifier::new(client(), WebhookUrl::Credentials(empty));
    assert_eq!(
        silent.send(&notice()).await.expect("fine"),
        Delivery::NotConfigured
    );
    assert_eq!(server.requests().len(), 1, "nothing sent without a URL");
    std::fs::remove_dir_all(dir).expect("cleanup");
    std::fs::remove_dir_all(empty_dir).expect("cleanup");
}

#[tokio::test]
async fn answers_are_capped_in_size_and_time() {
    let server = Recorder::start(
        None,
        Arc::new(|r: &Recorded| match r.path_and_query.as_str() {
            "/big" => (StatusCode::OK, "x".repeat(64 * 1024), Duration::ZERO),
            _ => (StatusCode::OK, "late".to_string(), Duration::from_secs(5)),
        }),
    )
    .await;
    let limits = HttpLimits {
        timeout: Duration::from_millis(300),
        max_response_bytes: 1024,
    };
    let http = HttpClient::new(limits, None).expect("a client");
    let get = |path: &str| {
        json_request(
            Method::GET,
            format!("{}{path}", server.origin).parse().expect("uri"),
            &[],
            None,
        )
        .expect("request")
    };
    let error = http.send(get("/big")).await.expect_err("too large");
    assert!(
        matches!(error, HttpError::TooLarge { cap: 1024, .. }),
        "{error}"
    );
    assert_eq!(error.disposition(), Disposition::GiveUp);
    let started = std::time::Instant::now();
    let error = http.send(get("/slow")).await.expect_err("timed out");
    assert!(matches!(error, HttpError::Timeout { .. }), "{error}");
    assert_eq!(error.disposition(), Disposition::Retry);
    println!(
        "timeout returned after {:?} (limit 300 ms, server delay 5 s)",
        started.elapsed()
    );
}

#[tokio::test]
async fn https_needs_the_extra_ca_for_a_private_server() {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca)
        .expect("leaf");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key der"),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let server = Recorder::start(Some(acceptor), respond(|_| (StatusCode::OK, "{}".into()))).await;
    let get = || {
        json_request(
            Method::GET,
            format!("{}/x", server.origin).parse().expect("uri"),
            &[],
            None,
        )
        .expect("request")
    };

    let public_only = client();
    let error = public_only.send(get()).await.expect_err("unknown issuer");
    assert!(matches!(error, HttpError::Network { .. }), "{error}");

    let trusting =
        HttpClient::new(HttpLimits::default(), Some(ca.pem().as_bytes())).expect("client with CA");
    let answer = trusting
        .send(get())
        .await
        .expect("trusted through the extra CA");
    assert_eq!(answer.status, StatusCode::OK);

    let error =
        HttpClient::new(HttpLimits::default(), Some(b"not a certificate")).expect_err("bad PEM");
    assert_eq!(error.disposition(), Disposition::GiveUp);
}
