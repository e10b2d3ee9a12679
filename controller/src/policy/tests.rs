use super::*;
use k8s_openapi::api::apps::v1::Deployment;

/// A Deployment as a service owner writes it (the DESIGN's example), read the way the
/// controller reads one from the API server.
const CHECKOUT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
  labels:
    ripcord.dev/enabled: "true"
spec:
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels:
        app: checkout
        ripcord.dev/enabled: "true"
      annotations:
        ripcord.dev/watch: |
          errors:     http_requests_total{code=~"5.."} / http_requests_total   max +50%
          latency:    http_request_duration_seconds                             p99 max +20%
          conversion: checkout_completed_total / checkout_started_total         min -5%
        ripcord.dev/on-regression: flag, rollback
        ripcord.dev/flag: openfeature://checkout/flags/new-checkout
        ripcord.dev/watch-for: 30m
        ripcord.dev/metrics: http://127.0.0.1:8080/metrics
    spec:
      containers:
      - name: app
        image: registry.example/checkout:1.8.0
"#;

fn template_annotations(yaml: &str) -> BTreeMap<String, String> {
    let deployment: Deployment = serde_yaml::from_str(yaml).expect("the fixture is a Deployment");
    deployment
        .spec
        .and_then(|spec| spec.template.metadata)
        .and_then(|metadata| metadata.annotations)
        .expect("the fixture's pod template has annotations")
}

fn with(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        ANNOTATION_WATCH.to_string(),
        "errors: a_total{code=~\"5..\"} / a_total max +50%".to_string(),
    );
    for (key, value) in pairs {
        annotations.insert((*key).to_string(), (*value).to_string());
    }
    annotations
}

fn error_of(pairs: &[(&str, &str)]) -> Error {
    Policy::from_annotations(&with(pairs)).expect_err("refused")
}

#[test]
fn the_design_example_reads_into_a_policy_and_snapshot() {
    let policy = Policy::from_annotations(&template_annotations(CHECKOUT)).expect("valid");
    let names: Vec<&str> = policy
        .watch
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["errors", "latency", "conversion"]);
    assert_eq!(
        policy.on_regression,
        [RegressionStep::Flag, RegressionStep::Rollback]
    );
    let flag = policy.flag.as_ref().expect("a flag");
    assert_eq!(flag.scheme, FlagScheme::OpenFeature);
    assert_eq!(policy.mode, Mode::Act);
    assert_eq!(policy.watch_for, Duration::from_secs(1800));
    let snapshot = policy.snapshot();
    assert_eq!(snapshot.watch_for_seconds, 1800);
    assert_eq!(
        snapshot.flag.as_deref(),
        Some("openfeature://checkout/flags/new-checkout")
    );
    assert!(snapshot.watch.starts_with("errors:"));
}

#[test]
fn defaults_are_rollback_act_and_thirty_minutes() {
    let policy = Policy::from_annotations(&with(&[])).expect("valid");
    assert_eq!(policy.on_regression, [RegressionStep::Rollback]);
    assert_eq!(
        (policy.mode, policy.watch_for),
        (Mode::Act, DEFAULT_WATCH_FOR)
    );
    assert!(policy.flag.is_none());
}

#[test]
fn steps_keep_their_order() {
    let policy = Policy::from_annotations(&with(&[
        (ANNOTATION_ON_REGRESSION, " rollback ,flag "),
        (
            ANNOTATION_FLAG,
            "launchdarkly://shop/production/new-checkout",
        ),
        (ANNOTATION_MODE, "observe"),
        (ANNOTATION_WATCH_FOR, "1h30m"),
    ]))
    .expect("valid");
    assert_eq!(
        policy.on_regression,
        [RegressionStep::Rollback, RegressionStep::Flag]
    );
    assert_eq!(policy.mode, Mode::Observe);
    assert_eq!(policy.watch_for, Duration::from_secs(5400));
}

#[test]
fn every_flag_scheme_is_recognised() {
    let cases = [
        (
            "openfeature://checkout/flags/new-checkout",
            FlagScheme::OpenFeature,
        ),
        (
            "openfeature://checkout/flags#new-checkout",
            FlagScheme::OpenFeature,
        ),
        (
            "unleash+https://unleash.example/api/admin/projects/default/features/new-checkout?environment=production",
            FlagScheme::Unleash,
        ),
        (
            "launchdarkly://shop/production/new-checkout",
            FlagScheme::LaunchDarkly,
        ),
        (
            "webhook+https://flags.example/off/new-checkout",
            FlagScheme::Webhook,
        ),
    ];
    for (url, scheme) in cases {
        let flag = FlagRef::parse(url).unwrap_or_else(|error| panic!("{url}: {error}"));
        assert_eq!((flag.url.as_str(), flag.scheme), (url, scheme));
    }
}

/// The policy refuses what the flag clients could not act on, naming the annotation and the
/// URL's scheme and host (its path and query may hold a secret); the flags module's own tests
/// cover each way a URL can be wrong.
#[test]
fn bad_flag_urls_name_the_annotation_and_the_url() {
    let cases = [
        (
            "http://flags.example/x",
            "http://flags.example/…",
            "unknown scheme \"http\"",
        ),
        ("new-checkout", "…", "no scheme"),
        (
            "openfeature://checkout/new-checkout",
            "openfeature://checkout/…",
            "expected openfeature://",
        ),
        (
            "launchdarkly://shop//x",
            "launchdarkly://shop/…",
            "environment key is empty",
        ),
    ];
    for (url, shown, expected) in cases {
        let error = error_of(&[(ANNOTATION_ON_REGRESSION, "flag"), (ANNOTATION_FLAG, url)]);
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("annotation ripcord.dev/flag: {shown:?}: ")),
            "{text}"
        );
        assert!(text.contains(expected), "{url}: {text}");
    }
    let long = format!("webhook+https://h/{}", "x".repeat(4096));
    let error = FlagRef::parse(&long).expect_err("too long");
    assert!(error.to_string().contains("longer than"), "{error}");
}

#[test]
fn flag_and_steps_must_agree() {
    let missing = error_of(&[(ANNOTATION_ON_REGRESSION, "flag")]);
    assert!(
        matches!(missing, Error::Missing { annotation, .. } if annotation == ANNOTATION_FLAG),
        "{missing}"
    );
    let unused = error_of(&[(ANNOTATION_FLAG, "launchdarkly://a/b/c")]);
    assert!(
        unused.to_string().contains("does not include `flag`"),
        "{unused}"
    );
}

#[test]
fn bad_steps_modes_and_durations_name_their_annotation() {
    let cases: [(&str, &str, &str); 12] = [
        (
            ANNOTATION_ON_REGRESSION,
            "rolback",
            "unknown step \"rolback\"",
        ),
        (
            ANNOTATION_ON_REGRESSION,
            "rollback, rollback",
            "given twice",
        ),
        (ANNOTATION_ON_REGRESSION, "rollback,", "empty step"),
        (ANNOTATION_ON_REGRESSION, "", "empty step"),
        (ANNOTATION_MODE, "dry-run", "unknown mode \"dry-run\""),
        (ANNOTATION_MODE, "Observe", "unknown mode"),
        (ANNOTATION_WATCH_FOR, "thirty minutes", "is not a duration"),
        (ANNOTATION_WATCH_FOR, "-30m", "negative"),
        (ANNOTATION_WATCH_FOR, "1s", "outside 10s to 168h"),
        (ANNOTATION_WATCH_FOR, "30d", "outside"),
        (ANNOTATION_WATCH_FOR, "1mo", "is not a duration"),
        (ANNOTATION_WATCH_FOR, &"1m".repeat(200), "more than the 256"),
    ];
    for (annotation, value, expected) in cases {
        let error = error_of(&[(annotation, value)]);
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("annotation {annotation}: ")),
            "{text}"
        );
        assert!(text.contains(expected), "{value:?}: {text}");
    }
}

#[test]
fn a_watch_spec_error_keeps_its_line_and_column() {
    let mut annotations = with(&[]);
    annotations.insert(
        ANNOTATION_WATCH.to_string(),
        "errors: a_total / b_total max +50%\nlatency: h p99 mx +20%\n".to_string(),
    );
    let error = Policy::from_annotations(&annotations).expect_err("refused");
    let Error::Watch(spec) = &error else {
        panic!("not a watch error: {error}");
    };
    assert_eq!(spec.line, 2, "{error}");
    assert!(
        error
            .to_string()
            .starts_with("annotation ripcord.dev/watch: line 2, column ")
    );
}

#[test]
fn a_missing_watch_spec_is_named() {
    let error = Policy::from_annotations(&BTreeMap::new()).expect_err("refused");
    assert!(
        error
            .to_string()
            .starts_with("annotation ripcord.dev/watch is missing"),
        "{error}"
    );
}

#[test]
fn guard_periods_read_in_friendly_and_iso_forms() {
    for (text, seconds) in [
        ("30m", 1800),
        ("2h", 7200),
        ("1d", 86_400),
        ("PT45M", 2700),
        ("90s", 90),
    ] {
        let policy = Policy::from_annotations(&with(&[(ANNOTATION_WATCH_FOR, text)]))
            .unwrap_or_else(|error| panic!("{text}: {error}"));
        assert_eq!(policy.watch_for, Duration::from_secs(seconds), "{text}");
    }
}

proptest::proptest! {
    /// Untrusted annotations never panic: any value of any annotation gives a policy or an
    /// error naming an annotation.
    #[test]
    fn any_annotation_values_give_a_policy_or_a_named_error(
        watch in proptest::option::of(".{0,200}"),
        steps in proptest::option::of("(flag|rollback|,| |[a-z]){0,30}"),
        flag in proptest::option::of("((openfeature|unleash\\+https|launchdarkly|webhook\\+https)://)?[a-z/?=#&. ]{0,60}"),
        mode in proptest::option::of(".{0,20}"),
        watch_for in proptest::option::of("[-0-9a-zA-Z. ]{0,20}"),
    ) {
        let mut annotations = BTreeMap::new();
        for (key, value) in [
            (ANNOTATION_WATCH, watch),
            (ANNOTATION_ON_REGRESSION, steps),
            (ANNOTATION_FLAG, flag),
            (ANNOTATION_MODE, mode),
            (ANNOTATION_WATCH_FOR, watch_for),
        ] {
            if let Some(value) = value {
                annotations.insert(key.to_string(), value);
            }
        }
        match Policy::from_annotations(&annotations) {
            Ok(policy) => {
                proptest::prop_assert!(!policy.on_regression.is_empty());
                proptest::prop_assert_eq!(
                    policy.flag.is_some(),
                    policy.on_regression.contains(&RegressionStep::Flag)
                );
                proptest::prop_assert!((MIN_WATCH_FOR..=MAX_WATCH_FOR).contains(&policy.watch_for));
            }
            Err(error) => {
                proptest::prop_assert!(error.to_string().starts_with("annotation ripcord.dev/"), "{}", error);
            }
        }
    }
}

#[test]
fn the_policy_condition_carries_the_reason_and_the_error() {
    let at = "2026-11-24T18:00:00Z".to_string();
    let good = policy_condition(&Policy::from_annotations(&with(&[])), at.clone(), Some(3));
    assert_eq!(
        (good.status, good.reason.as_str()),
        (ConditionStatus::True, "Parsed")
    );
    assert_eq!(good.observed_generation, Some(3));
    let result = Policy::from_annotations(&with(&[(ANNOTATION_MODE, "loud")]));
    let bad = policy_condition(&result, at, Some(3));
    assert_eq!(bad.type_, CONDITION_POLICY_VALID);
    assert_eq!(
        (bad.status, bad.reason.as_str()),
        (ConditionStatus::False, "AnnotationInvalid")
    );
    assert!(
        bad.message.contains("ripcord.dev/mode") && bad.message.contains("\"loud\""),
        "{}",
        bad.message
    );
    let watch = Policy::from_annotations(&BTreeMap::new()).expect_err("no watch");
    assert_eq!(
        (watch.reason(), watch.annotation()),
        ("AnnotationMissing", ANNOTATION_WATCH)
    );
}
