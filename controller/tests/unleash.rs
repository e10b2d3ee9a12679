//! Turning a flag off at a real Unleash server: unleash-server 6.x (npm) on PostgreSQL, started by
//! `scripts/unleash-test-server.sh`, or the one named by `RIPCORD_UNLEASH_URL` and friends. The
//! feature's state is read back through Unleash's own admin API.
//!
//! Without node, npm or PostgreSQL the test is skipped with the reason printed, unless
//! `RIPCORD_REQUIRE_UNLEASH=1` (CI), where that is a failure.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use http::Method;
use serde_json::Value;

use ripcord_controller::flags::credentials::UNLEASH_TOKEN;
use ripcord_controller::flags::{Credentials, FlagFlipper, FlagUrl, FlipContext, FlipOutcome};
use ripcord_controller::http::{Disposition, HttpClient, HttpLimits, json_request};
use ripcord_sidecar::report::Release;

/// Exit status of the script when node, npm or PostgreSQL are missing.
const MISSING_COMPONENT: i32 = 3;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/unleash-test-server.sh")
}

/// A running Unleash server; the one this test started is stopped when dropped.
struct Unleash {
    vars: HashMap<String, String>,
    state: Option<PathBuf>,
}

impl Unleash {
    fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("{name} not given"))
    }
}

impl Drop for Unleash {
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .arg(state)
                .status();
        }
    }
}

/// The server from the environment, or a fresh one from the script; `None` when it cannot run
/// here (and it need not).
fn unleash() -> Option<Unleash> {
    const KEYS: [&str; 5] = ["URL", "TOKEN", "PROJECT", "FEATURE", "ENVIRONMENT"];
    if std::env::var_os("RIPCORD_UNLEASH_URL").is_some() {
        let vars = KEYS
            .iter()
            .map(|k| {
                let name = format!("RIPCORD_UNLEASH_{k}");
                let value = std::env::var(&name)
                    .unwrap_or_else(|_| panic!("{name} must be set with RIPCORD_UNLEASH_URL"));
                (name, value)
            })
            .collect();
        return Some(Unleash { vars, state: None });
    }
    let state = std::env::temp_dir().join(format!("ripcord-unleash-{}", std::process::id()));
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(script())
        .arg("start")
        .arg(&state)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("bash runs the script");
    let required = std::env::var("RIPCORD_REQUIRE_UNLEASH").is_ok_and(|v| v == "1");
    match output.status.code() {
        Some(0) => {}
        Some(MISSING_COMPONENT) if !required => {
            println!(
                "SKIPPED: node, npm or PostgreSQL is not installed (see the script's message); set RIPCORD_REQUIRE_UNLEASH=1 to fail instead"
            );
            return None;
        }
        _ => panic!(
            "scripts/unleash-test-server.sh start failed: {}",
            output.status
        ),
    }
    println!(
        "unleash-test-server.sh start took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let vars = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Unleash {
        vars,
        state: Some(state),
    })
}

fn context() -> FlipContext {
    FlipContext {
        release: Release {
            namespace: "shop".to_string(),
            deployment: "checkout".to_string(),
            revision: "7".to_string(),
            pod: "checkout-7-abcde".to_string(),
        },
        release_check: "checkout-7".to_string(),
        reason: "errors regressed".to_string(),
    }
}

/// One admin API call on `feature` (`suffix` after its URL), answered 2xx.
async fn admin(
    http: &HttpClient,
    server: &Unleash,
    method: Method,
    feature: &str,
    suffix: &str,
) -> Value {
    let url = format!(
        "{}/api/admin/projects/{}/features/{feature}{suffix}",
        server.var("RIPCORD_UNLEASH_URL"),
        server.var("RIPCORD_UNLEASH_PROJECT")
    );
    let request = json_request(
        method,
        url.parse().expect("uri"),
        &[("authorization", server.var("RIPCORD_UNLEASH_TOKEN"))],
        None,
    )
    .expect("request");
    let answer = http.send(request).await.expect("the admin API answers");
    serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
}

/// Whether `feature` is enabled in each environment, as Unleash's admin API reports it.
async fn states(http: &HttpClient, server: &Unleash, feature: &str) -> HashMap<String, bool> {
    let body = admin(http, server, Method::GET, feature, "").await;
    body["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .map(|e| {
            let name = e["name"].as_str().expect("name").to_string();
            (name, e["enabled"].as_bool().expect("enabled"))
        })
        .collect()
}

#[tokio::test]
async fn a_real_unleash_feature_is_turned_off_once() {
    let Some(server) = unleash() else { return };
    let http = HttpClient::new(HttpLimits::default(), None).expect("client");
    let feature = server.var("RIPCORD_UNLEASH_FEATURE");
    let environment = server.var("RIPCORD_UNLEASH_ENVIRONMENT");
    if server.state.is_none() {
        // A server named by the environment may hold the feature off from an earlier run.
        let on = format!("/environments/{environment}/on");
        admin(&http, &server, Method::POST, feature, &on).await;
    }
    let before = states(&http, &server, feature).await;
    assert_eq!(
        before.get(environment),
        Some(&true),
        "the feature starts on: {before:?}"
    );

    let dir = std::env::temp_dir().join(format!(
        "ripcord-unleash-credentials-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("credentials dir");
    std::fs::write(dir.join(UNLEASH_TOKEN), server.var("RIPCORD_UNLEASH_TOKEN"))
        .expect("token file");
    let url = |feature: &str, environment: &str| -> FlagUrl {
        format!(
            "unleash+{}/api/admin/projects/{}/features/{feature}?environment={environment}",
            server.var("RIPCORD_UNLEASH_URL"),
            server.var("RIPCORD_UNLEASH_PROJECT")
        )
        .parse()
        .expect("flag URL")
    };

    let origin = url(feature, environment)
        .origin()
        .expect("an Unleash flag has an origin");
    let flipper =
        FlagFlipper::new(http.clone(), Credentials::new(&dir)).with_allowed_origins([origin]);
    let started = Instant::now();
    let outcome = flipper
        .turn_off(&url(feature, environment), &context())
        .await
        .expect("turned off");
    println!(
        "turn_off (GET + POST .../off) took {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(outcome, FlipOutcome::Done);

    let after = states(&http, &server, feature).await;
    assert_eq!(
        after.get(environment),
        Some(&false),
        "off in {environment}: {after:?}"
    );
    for (name, enabled) in &before {
        if name != environment {
            assert_eq!(after.get(name), Some(enabled), "{name} untouched");
        }
    }
    let again = flipper
        .turn_off(&url(feature, environment), &context())
        .await
        .expect("idempotent");
    assert_eq!(again, FlipOutcome::AlreadyOff);

    let missing = flipper
        .turn_off(&url("no-such-feature", environment), &context())
        .await
        .expect_err("unknown feature");
    assert_eq!(missing.disposition(), Disposition::GiveUp, "{missing}");
    assert!(missing.to_string().contains("404"), "{missing}");

    std::fs::write(dir.join(UNLEASH_TOKEN), "*:*.not-a-token").expect("token file");
    let refused = flipper
        .turn_off(&url(feature, environment), &context())
        .await
        .expect_err("bad token");
    assert_eq!(refused.disposition(), Disposition::GiveUp, "{refused}");
    assert!(refused.to_string().contains("401"), "{refused}");
    std::fs::remove_dir_all(dir).expect("cleanup");
}
