use super::fixtures::{H1, H2, H3, H4, load};
use super::*;

use k8s_openapi::api::core::v1::Container;

/// (number, hash, has_sidecar) of a revision.
type Want = (u64, &'static str, bool);

fn summary(revision: &Revision) -> (u64, &str, bool) {
    (
        revision.number,
        revision.hash.as_str(),
        revision.has_sidecar,
    )
}

#[test]
fn detects_current_and_previous_revision_in_every_fixture() {
    let cases: [(&str, Want, Option<Want>); 9] = [
        ("history-basic.yaml", (3, H3, true), Some((2, H2, true))),
        ("history-gaps.yaml", (9, H4, true), Some((5, H2, true))),
        ("foreign-owner.yaml", (2, H3, true), Some((1, H2, true))),
        ("unrevisioned-rs.yaml", (2, H3, true), Some((1, H2, true))),
        ("paused.yaml", (3, H3, true), Some((2, H2, true))),
        ("rolled-back.yaml", (4, H2, true), Some((3, H3, true))),
        ("reapplied-failed.yaml", (5, H3, true), Some((4, H2, true))),
        ("held.yaml", (5, H3, true), Some((4, H2, true))),
        ("first-release.yaml", (1, "8c5d7b9f6", true), None),
    ];
    for (file, current, previous) in cases {
        let fixture = load(file);
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .unwrap_or_else(|| panic!("{file}: a release"));
        assert_eq!(
            (release.namespace.as_str(), release.deployment.as_str()),
            ("shop", "checkout")
        );
        assert_eq!(summary(&release.current), current, "{file}: current");
        assert_eq!(
            release.previous.as_ref().map(summary),
            previous,
            "{file}: previous"
        );
        assert_eq!(
            release.current.replica_set,
            format!("checkout-{}", current.1),
            "{file}: ReplicaSet name"
        );
        assert_eq!(
            release.previous_had_sidecar(),
            previous.is_some_and(|p| p.2)
        );
    }
}

#[test]
fn reused_replica_sets_carry_their_earlier_revision_numbers() {
    // (file, current's earlier numbers, previous's earlier numbers)
    let cases: [(&str, &[u64], &[u64]); 3] = [
        ("history-basic.yaml", &[], &[]),
        ("rolled-back.yaml", &[2], &[]),
        ("reapplied-failed.yaml", &[3], &[2]),
    ];
    for (file, current, previous) in cases {
        let fixture = load(file);
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("readable")
            .expect("a release");
        assert_eq!(release.current.earlier_numbers, current, "{file}");
        let earlier = release.previous.map(|p| p.earlier_numbers);
        assert_eq!(earlier.as_deref(), Some(previous), "{file}");
    }

    let mut fixture = load("rolled-back.yaml");
    for rs in fixture
        .replica_sets
        .iter_mut()
        .filter(|rs| rs_named(rs, H2))
    {
        let annotations = rs.metadata.annotations.get_or_insert_default();
        annotations.insert(REVISION_HISTORY_ANNOTATION.into(), "2,x".into());
    }
    let error = detect(&fixture.deployment, &fixture.replica_sets).expect_err("malformed");
    assert!(error.to_string().contains("revision-history"), "{error}");
}

#[test]
fn a_previous_revision_from_before_ripcord_had_no_sidecar() {
    let mut fixture = load("history-basic.yaml");
    // Revision 2 pruned: the previous revision is 1, deployed before the label was added.
    fixture.replica_sets.retain(|rs| !rs_named(rs, H2));
    let release = detect(&fixture.deployment, &fixture.replica_sets)
        .expect("readable")
        .expect("a release");
    assert_eq!(release.previous.as_ref().map(summary), Some((1, H1, false)));
    assert!(!release.previous_had_sidecar());
}

#[test]
fn a_sidecar_container_or_init_container_counts_without_the_label() {
    let fixture = load("first-release.yaml");
    let mut template = fixture.deployment.spec.expect("spec").template;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(ENABLED_LABEL);
    }
    assert!(has_sidecar(&template), "native sidecar init container");
    let sidecar = pod(&mut template)
        .init_containers
        .take()
        .expect("init containers");
    assert!(!has_sidecar(&template), "neither label nor container");
    pod(&mut template).containers.extend(sidecar);
    assert!(has_sidecar(&template), "plain container");
    pod(&mut template)
        .containers
        .retain(|c: &Container| c.name != SIDECAR_CONTAINER);
    assert!(!has_sidecar(&template));
}

fn pod(template: &mut PodTemplateSpec) -> &mut k8s_openapi::api::core::v1::PodSpec {
    template.spec.as_mut().expect("pod spec")
}

#[test]
fn a_template_no_replica_set_runs_yet_is_no_release() {
    let mut fixture = load("history-basic.yaml");
    set_image(&mut fixture.deployment, "ghcr.io/example/checkout:v9");
    let release = detect(&fixture.deployment, &fixture.replica_sets).expect("readable");
    assert_eq!(release, None);
}

#[test]
fn shuffled_lists_give_the_same_release() {
    let fixture = load("history-gaps.yaml");
    let expected = detect(&fixture.deployment, &fixture.replica_sets).expect("readable");
    let mut reversed = fixture.replica_sets.clone();
    reversed.reverse();
    assert_eq!(
        detect(&fixture.deployment, &reversed).expect("readable"),
        expected
    );
}

#[test]
fn a_revision_that_is_not_a_number_is_an_error_naming_object_and_field() {
    let fixture = load("malformed-revision.yaml");
    let error = detect(&fixture.deployment, &fixture.replica_sets).expect_err("malformed");
    assert_eq!(
        error,
        Error::InvalidField {
            object: format!("ReplicaSet shop/checkout-{H2}"),
            field: "metadata.annotations[\"deployment.kubernetes.io/revision\"]",
            value: "two".to_string(),
            expected: "a non-negative whole number",
        }
    );
    let text = error.to_string();
    assert!(
        text.contains("checkout-7d8c96b5f4") && text.contains("revision"),
        "{text}"
    );
}

#[test]
fn missing_fields_are_errors_naming_them() {
    let fixture = load("history-basic.yaml");

    let mut no_uid = fixture.deployment.clone();
    no_uid.metadata.uid = None;
    assert_missing(
        detect(&no_uid, &fixture.replica_sets),
        "Deployment shop/checkout",
        "metadata.uid",
    );

    let mut no_spec = fixture.deployment.clone();
    no_spec.spec = None;
    assert_missing(
        detect(&no_spec, &fixture.replica_sets),
        "Deployment shop/checkout",
        "spec",
    );

    let mut no_name = fixture.deployment.clone();
    no_name.metadata.name = None;
    assert_missing(
        detect(&no_name, &fixture.replica_sets),
        "Deployment shop/<no name>",
        "metadata.name",
    );

    let mut rs_without_template = fixture.replica_sets.clone();
    if let Some(spec) = rs_without_template[0].spec.as_mut() {
        spec.template = None;
    }
    assert_missing(
        detect(&fixture.deployment, &rs_without_template),
        &format!("ReplicaSet shop/checkout-{H1}"),
        "spec.template",
    );

    let mut current_unrevisioned = fixture.replica_sets.clone();
    for rs in current_unrevisioned
        .iter_mut()
        .filter(|rs| rs_named(rs, H3))
    {
        rs.metadata.annotations = None;
    }
    assert_missing(
        detect(&fixture.deployment, &current_unrevisioned),
        &format!("ReplicaSet shop/checkout-{H3}"),
        "metadata.annotations[\"deployment.kubernetes.io/revision\"]",
    );
}

#[test]
fn a_hash_label_that_is_not_a_label_value_is_refused() {
    let mut fixture = load("history-basic.yaml");
    for rs in fixture
        .replica_sets
        .iter_mut()
        .filter(|rs| rs_named(rs, H2))
    {
        let labels = rs.metadata.labels.as_mut().expect("labels");
        labels.insert(
            POD_TEMPLATE_HASH_LABEL.to_string(),
            "x\"} or vector(1)".to_string(),
        );
    }
    let error = detect(&fixture.deployment, &fixture.replica_sets).expect_err("refused");
    assert!(
        matches!(&error, Error::InvalidField { field, .. } if field.contains("pod-template-hash")),
        "{error}"
    );
}

fn assert_missing(result: Result<Option<Release>>, object: &str, field: &str) {
    match result {
        Err(Error::MissingField {
            object: o,
            field: f,
        }) => {
            assert_eq!((o.as_str(), f), (object, field));
        }
        other => panic!("expected {field} of {object} missing, got {other:?}"),
    }
}

pub(crate) fn rs_named(rs: &ReplicaSet, hash: &str) -> bool {
    rs.metadata.name.as_deref() == Some(&format!("checkout-{hash}"))
}

pub(crate) fn set_image(deployment: &mut Deployment, image: &str) {
    let spec = deployment.spec.as_mut().expect("spec");
    let pod = spec.template.spec.as_mut().expect("pod spec");
    pod.containers[0].image = Some(image.to_string());
}
