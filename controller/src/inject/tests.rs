//! Tests of the mutation on the AdmissionReview fixtures in `testdata/admission/`: each patch is
//! applied to the pod it was made for and the patched pod is checked.

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde_json::Value;

use super::*;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/// The body of the fixture `testdata/admission/<name>.json`.
pub(super) fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../testdata/admission/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).expect("fixture readable")
}

fn request(body: &[u8]) -> AdmissionRequest<Pod> {
    let review: AdmissionReview<Pod> = serde_json::from_slice(body).expect("an AdmissionReview");
    review.try_into().expect("a request")
}

fn config(native: bool) -> InjectConfig {
    let mut config = InjectConfig::new("ghcr.io/ripcord-dev/ripcord-sidecar:0.1.0", "ripcord", CA);
    config.native_sidecars = native;
    config
}

/// The pod's JSON as the API server sent it, and the patch the response carries (if any).
fn run(name: &str, config: &InjectConfig) -> (Value, AdmissionResponse) {
    let body = fixture(name);
    let review: Value = serde_json::from_slice(&body).expect("json");
    let response = mutate(&request(&body), config);
    (review["request"]["object"].clone(), response)
}

fn patch_of(response: &AdmissionResponse) -> Option<json_patch::Patch> {
    response
        .patch
        .as_ref()
        .map(|bytes| serde_json::from_slice(bytes).expect("the patch is a JSON patch"))
}

/// Applies the response's patch to `pod` and decodes the result.
fn patched(mut pod: Value, response: &AdmissionResponse) -> (Value, Pod) {
    let patch = patch_of(response).expect("a patch");
    json_patch::patch(&mut pod, &patch).expect("the patch applies to the pod");
    let decoded = serde_json::from_value(pod.clone()).expect("still a pod");
    (pod, decoded)
}

fn sidecar(pod: &Pod) -> &Container {
    let spec = pod.spec.as_ref().expect("spec");
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == SIDECAR_NAME)
        .expect("a sidecar")
}

fn env(container: &Container, name: &str) -> Value {
    let var = container
        .env
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no env {name}"));
    match (&var.value, &var.value_from) {
        (Some(value), None) => Value::String(value.clone()),
        (None, Some(from)) => Value::String(
            from.field_ref
                .as_ref()
                .expect("a fieldRef")
                .field_path
                .clone(),
        ),
        other => panic!("env {name} is neither a value nor a fieldRef: {other:?}"),
    }
}

/// Re-runs the webhook on the patched pod, as the API server does on reinvocation.
fn reinvoke(name: &str, pod: Value, config: &InjectConfig) -> AdmissionResponse {
    let mut review: Value = serde_json::from_slice(&fixture(name)).expect("json");
    review["request"]["object"] = pod;
    let body = serde_json::to_vec(&review).expect("json");
    mutate(&request(&body), config)
}

#[test]
fn a_plain_pod_gets_a_native_sidecar_with_the_whole_contract() {
    let config = config(true);
    let (pod, response) = run("plain-pod", &config);
    assert!(response.allowed);
    assert_eq!(response.uid, "5e1f3c2a-8a4b-4f6e-9d21-3b7c0a9e1f01");
    assert!(response.warnings.is_none(), "{:?}", response.warnings);
    let (json, pod) = patched(pod, &response);
    let spec = pod.spec.as_ref().expect("spec");
    let init = spec.init_containers.as_ref().expect("initContainers added");
    assert_eq!(init.len(), 1);
    assert_eq!(spec.containers.len(), 1, "the app containers are unchanged");
    let side = sidecar(&pod);
    assert_eq!(side.restart_policy.as_deref(), Some("Always"));
    assert_eq!(side.image.as_deref(), Some(config.image.as_str()));
    for (name, expected) in [
        ("RIPCORD_TARGET", DEFAULT_TARGET),
        ("RIPCORD_LISTEN", "0.0.0.0:9464"),
        (
            "RIPCORD_ANNOTATIONS_FILE",
            "/etc/ripcord/podinfo/annotations",
        ),
        (
            "RIPCORD_CONTROLLER_URL",
            "https://ripcord-controller.ripcord.svc:8443",
        ),
        ("RIPCORD_CONTROLLER_CA", CA),
        ("RIPCORD_TOKEN_FILE", "/var/run/secrets/ripcord/token"),
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_IP", "status.podIP"),
    ] {
        assert_eq!(env(side, name), expected, "env {name}");
    }
    let security = &json["spec"]["initContainers"][0]["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert!(security["runAsUser"].as_i64().is_some_and(|uid| uid > 0));
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    let container = &json["spec"]["initContainers"][0];
    assert_eq!(container["ports"][0]["name"], "ripcord");
    assert_eq!(container["ports"][0]["containerPort"], 9464);
    assert!(
        container.get("readinessProbe").is_none(),
        "the sidecar's readiness must never gate the pod's"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/live");
    assert_eq!(container["resources"]["requests"]["cpu"], "10m");
    assert_eq!(container["resources"]["limits"]["memory"], "32Mi");

    let volumes = &json["spec"]["volumes"];
    assert_eq!(volumes.as_array().map(Vec::len), Some(2));
    assert_eq!(volumes[0]["name"], PODINFO_VOLUME);
    assert_eq!(
        volumes[0]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
        "metadata.annotations"
    );
    let token = &volumes[1]["projected"]["sources"][0]["serviceAccountToken"];
    assert_eq!(volumes[1]["name"], TOKEN_VOLUME);
    assert_eq!(token["audience"], "ripcord");
    assert_eq!(token["expirationSeconds"], 3600);
    assert_eq!(
        json["metadata"]["annotations"]["ripcord.dev/injected"],
        config.image.as_str()
    );
}

#[test]
fn existing_init_containers_and_volumes_are_kept_and_the_sidecar_goes_first() {
    let (before, response) = run("init-and-volumes", &config(true));
    let (json, pod) = patched(before.clone(), &response);
    let init = &json["spec"]["initContainers"];
    assert_eq!(init[0]["name"], SIDECAR_NAME);
    assert_eq!(
        init[1], before["spec"]["initContainers"][0],
        "the migration is untouched"
    );
    let volumes = json["spec"]["volumes"].as_array().expect("volumes");
    let names: Vec<&str> = volumes.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "config",
            "kube-api-access-5x8kq",
            PODINFO_VOLUME,
            TOKEN_VOLUME
        ]
    );
    // The pod's own annotations stay, and the marker is added under an escaped key.
    let annotations = &json["metadata"]["annotations"];
    assert_eq!(annotations["ripcord.dev/on-regression"], "flag, rollback");
    assert!(annotations["ripcord.dev/injected"].is_string());
    assert_eq!(json["spec"]["containers"], before["spec"]["containers"]);
    assert_eq!(env(sidecar(&pod), "RIPCORD_TARGET"), DEFAULT_TARGET);
}

#[test]
fn the_token_is_mounted_in_the_sidecar_only() {
    for name in ["plain-pod", "init-and-volumes", "custom-metrics"] {
        for native in [true, false] {
            let (pod, response) = run(name, &config(native));
            let (_, pod) = patched(pod, &response);
            let spec = pod.spec.as_ref().expect("spec");
            let mounting: Vec<&str> = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .filter(|c| {
                    c.volume_mounts
                        .iter()
                        .flatten()
                        .any(|m| m.name == TOKEN_VOLUME)
                })
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(mounting, [SIDECAR_NAME], "{name}, native {native}");
        }
    }
}

#[test]
fn without_native_sidecars_the_sidecar_is_the_last_regular_container() {
    let (before, response) = run("init-and-volumes", &config(false));
    let (json, pod) = patched(before.clone(), &response);
    let containers = json["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0], before["spec"]["containers"][0]);
    assert_eq!(containers[1]["name"], SIDECAR_NAME);
    assert!(sidecar(&pod).restart_policy.is_none());
    assert_eq!(
        json["spec"]["initContainers"],
        before["spec"]["initContainers"]
    );
}

#[test]
fn the_metrics_annotation_sets_the_target() {
    let (pod, response) = run("custom-metrics", &config(true));
    let (_, pod) = patched(pod, &response);
    assert_eq!(
        env(sidecar(&pod), "RIPCORD_TARGET"),
        "http://127.0.0.1:9102/internal/metrics"
    );
}

#[test]
fn reinvocation_on_a_patched_pod_adds_nothing() {
    for name in ["plain-pod", "init-and-volumes", "custom-metrics"] {
        for native in [true, false] {
            let config = config(native);
            let (pod, response) = run(name, &config);
            let (json, _) = patched(pod, &response);
            let again = reinvoke(name, json, &config);
            assert!(again.allowed);
            assert!(
                again.patch.is_none(),
                "{name}, native {native}: patched twice"
            );
            assert!(again.warnings.is_none(), "{:?}", again.warnings);
        }
    }
}

#[test]
fn an_already_injected_or_unlabelled_pod_is_left_alone() {
    for name in ["already-injected", "unlabelled"] {
        let (_, response) = run(name, &config(true));
        assert!(response.allowed, "{name}");
        assert!(response.patch.is_none(), "{name}");
        assert!(
            response.warnings.is_none(),
            "{name}: {:?}",
            response.warnings
        );
    }
}

#[test]
fn a_label_other_than_true_is_not_an_opt_in() {
    let mut review: Value = serde_json::from_slice(&fixture("plain-pod")).expect("json");
    review["request"]["object"]["metadata"]["labels"]["ripcord.dev/enabled"] = "yes".into();
    let body = serde_json::to_vec(&review).expect("json");
    assert!(mutate(&request(&body), &config(true)).patch.is_none());
}

#[test]
fn a_taken_volume_name_admits_unchanged_with_a_warning() {
    let mut review: Value = serde_json::from_slice(&fixture("init-and-volumes")).expect("json");
    review["request"]["object"]["spec"]["volumes"][0]["name"] = TOKEN_VOLUME.into();
    let body = serde_json::to_vec(&review).expect("json");
    let response = mutate(&request(&body), &config(true));
    assert!(response.allowed);
    assert!(response.patch.is_none());
    let warnings = response.warnings.expect("a warning");
    assert!(warnings[0].contains(TOKEN_VOLUME), "{warnings:?}");
}

#[test]
fn updates_and_missing_objects_are_allowed_unchanged() {
    let mut review: Value = serde_json::from_slice(&fixture("plain-pod")).expect("json");
    review["request"]["operation"] = "UPDATE".into();
    let body = serde_json::to_vec(&review).expect("json");
    assert!(mutate(&request(&body), &config(true)).patch.is_none());

    review["request"]["operation"] = "CREATE".into();
    review["request"]["object"] = Value::Null;
    let body = serde_json::to_vec(&review).expect("json");
    let response = mutate(&request(&body), &config(true));
    assert!(response.allowed && response.patch.is_none());
    assert!(response.warnings.is_some());
}

/// Every JSON pointer into `value`.
fn pointers(value: &Value, at: String, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{key}"), into);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), into);
            }
        }
        _ => {}
    }
    into.push(at);
}

/// Answers `review` through the route; when it answers, the answer is allowed and its patch
/// (if any) applies to the object under review.
fn check_answer(route: &Mutate, review: &Value, what: &str) {
    let body = serde_json::to_vec(review).expect("json");
    let Ok(answer) = route.review(&body) else {
        return;
    };
    let answer: Value = serde_json::from_slice(&answer).expect("the answer is JSON");
    assert_eq!(answer["response"]["allowed"], true, "{what}");
    if let Some(patch) = answer["response"]["patch"].as_str() {
        let bytes: k8s_openapi::ByteString =
            serde_json::from_value(Value::String(patch.to_string())).expect("base64");
        let patch: json_patch::Patch = serde_json::from_slice(&bytes.0).expect("a JSON patch");
        let mut pod = review["request"]["object"].clone();
        json_patch::patch(&mut pod, &patch).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

#[test]
fn any_field_replaced_by_any_kind_of_value_is_answered_without_panic() {
    let route = Mutate::new(std::sync::Arc::new(config(true)));
    let replacements = [
        Value::Null,
        Value::from(-1),
        Value::from("~/x"),
        Value::Array(Vec::new()),
        serde_json::json!({}),
    ];
    for name in ["plain-pod", "init-and-volumes", "custom-metrics"] {
        let review: Value = serde_json::from_slice(&fixture(name)).expect("json");
        let mut paths = Vec::new();
        pointers(&review, String::new(), &mut paths);
        for path in paths.iter().filter(|p| !p.is_empty()) {
            for replacement in &replacements {
                let mut broken = review.clone();
                *broken.pointer_mut(path).expect("a path of the fixture") = replacement.clone();
                check_answer(&route, &broken, &format!("{name} {path} = {replacement}"));
            }
        }
    }
}

#[test]
fn every_truncation_of_a_review_is_refused_as_malformed() {
    let route = Mutate::new(std::sync::Arc::new(config(true)));
    let body = fixture("init-and-volumes");
    for end in 0..body.len() - 1 {
        let error = route.review(&body[..end]).expect_err("a truncated body");
        assert!(matches!(error, Error::Malformed(_)), "at {end}: {error}");
    }
}
