//! Property tests: over random, shuffled, partial and partly broken ReplicaSet lists, a plan
//! never panics, never targets a failed or rolled-back hash, and targets the highest eligible
//! earlier revision whatever the list order.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use proptest::prelude::*;

use super::tests::apply;
use super::*;
use crate::release::fixtures::{H3, load};
use crate::release::tests::{rs_named, set_image};
use crate::release::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};

/// How one generated ReplicaSet looks.
#[derive(Debug, Clone)]
struct Spec {
    revision: Option<u64>,
    hash: usize,
    image: usize,
    owner: Owner,
    damage: Damage,
}

#[derive(Debug, Clone, Copy)]
enum Owner {
    Controller,
    Foreign,
    NotController,
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    None,
    RevisionNotNumber,
    NoHashLabel,
    NoTemplate,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![9 => (1u64..12).prop_map(Some), 1 => Just(None)],
        0usize..6,
        0usize..6,
        prop_oneof![8 => Just(Owner::Controller), 1 => Just(Owner::Foreign), 1 => Just(Owner::NotController)],
        prop_oneof![
            60 => Just(Damage::None),
            1 => Just(Damage::RevisionNotNumber),
            1 => Just(Damage::NoHashLabel),
            1 => Just(Damage::NoTemplate),
        ],
    )
        .prop_map(|(revision, hash, image, owner, damage)| Spec {
            revision,
            hash,
            image,
            owner,
            damage,
        })
}

fn hash(i: usize) -> String {
    format!("5c7d{i}f8b9")
}

fn image(i: usize) -> String {
    format!("ghcr.io/example/checkout:v1.{i}")
}

/// Builds the Deployment (running image `current`) and ReplicaSets from the history-basic
/// fixture's objects, so every generated object has a real shape.
fn build(specs: &[Spec], current: usize) -> (Deployment, Vec<ReplicaSet>) {
    let fixture = load("history-basic.yaml");
    let mut deployment = fixture.deployment;
    set_image(&mut deployment, &image(current));
    let uid = deployment.metadata.uid.clone().expect("uid");
    let prototype = fixture
        .replica_sets
        .into_iter()
        .find(|rs| rs_named(rs, H3))
        .expect("a prototype ReplicaSet");
    let replica_sets = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let mut rs = prototype.clone();
            let h = hash(spec.hash);
            rs.metadata.name = Some(format!("checkout-{h}-{i}"));
            let labels = rs.metadata.labels.get_or_insert_default();
            labels.insert(POD_TEMPLATE_HASH_LABEL.into(), h.clone());
            let annotations = rs.metadata.annotations.get_or_insert_default();
            match spec.revision {
                Some(n) => annotations.insert(REVISION_ANNOTATION.into(), n.to_string()),
                None => annotations.remove(REVISION_ANNOTATION),
            };
            let template = rs
                .spec
                .as_mut()
                .and_then(|s| s.template.as_mut())
                .expect("template");
            template
                .metadata
                .get_or_insert_default()
                .labels
                .get_or_insert_default()
                .insert(POD_TEMPLATE_HASH_LABEL.into(), h);
            template.spec.as_mut().expect("pod spec").containers[0].image = Some(image(spec.image));
            let owner = &mut rs.metadata.owner_references.get_or_insert_default()[0];
            owner.uid = uid.clone();
            match spec.owner {
                Owner::Controller => {}
                Owner::Foreign => owner.uid = "0b7e4d21-9c3a-4f58-8e16-5a2f9d3c7b88".into(),
                Owner::NotController => owner.controller = None,
            }
            match spec.damage {
                Damage::None => {}
                Damage::RevisionNotNumber => {
                    annotations_of(&mut rs).insert(REVISION_ANNOTATION.into(), "2a".into());
                }
                Damage::NoHashLabel => {
                    rs.metadata
                        .labels
                        .get_or_insert_default()
                        .remove(POD_TEMPLATE_HASH_LABEL);
                    if let Some(t) = rs.spec.as_mut().and_then(|s| s.template.as_mut()) {
                        t.metadata
                            .get_or_insert_default()
                            .labels
                            .get_or_insert_default()
                            .remove(POD_TEMPLATE_HASH_LABEL);
                    }
                }
                Damage::NoTemplate => {
                    if let Some(s) = rs.spec.as_mut() {
                        s.template = None;
                    }
                }
            }
            rs
        })
        .collect();
    (deployment, replica_sets)
}

fn annotations_of(rs: &mut ReplicaSet) -> &mut std::collections::BTreeMap<String, String> {
    rs.metadata.annotations.get_or_insert_default()
}

fn hashes(mask: u8) -> BTreeSet<String> {
    (0..6).filter(|i| mask & (1 << i) != 0).map(hash).collect()
}

/// The highest revision an independent reading of the specs says is eligible, if any.
fn eligible_max(
    specs: &[Spec],
    from: u64,
    current_image: usize,
    excluded: &BTreeSet<String>,
) -> Option<u64> {
    specs
        .iter()
        .filter(|s| matches!(s.owner, Owner::Controller))
        .filter(|s| s.image != current_image && !excluded.contains(&hash(s.hash)))
        .filter_map(|s| s.revision.filter(|&n| n < from))
        .max()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_plan_never_targets_a_failed_hash_nor_depends_on_list_order(
        specs in prop::collection::vec(spec(), 0..10),
        other_image in 0usize..6,
        run_first in prop::bool::weighted(0.8),
        first_newest in prop::bool::weighted(0.7),
        fail_first in prop::bool::weighted(0.8),
        failed_mask in any::<u8>(),
        rolled_back_masks in any::<(u8, u8)>(),
        order in any::<prop::sample::Index>(),
        keep_mask in any::<u8>(),
    ) {
        // A partial list: some ReplicaSets missing, as after pruning or in a lagging cache.
        let mut specs: Vec<Spec> = specs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep_mask & (1 << (i % 8)) != 0 || *i == 0)
            .map(|(_, s)| s)
            .collect();
        // Mostly the newest, well-formed, owned revision first.
        if let Some(first) = specs.first_mut().filter(|_| first_newest) {
            first.revision = Some(12);
            first.owner = Owner::Controller;
            first.damage = Damage::None;
        }
        // Mostly a Deployment running the first ReplicaSet's template, which mostly failed.
        let first = specs.first().filter(|_| run_first);
        let current = first.map_or(other_image, |s| s.image);
        let (deployment, replica_sets) = build(&specs, current);
        let mut failed = hashes(failed_mask);
        failed.extend(first.filter(|_| fail_first).map(|s| hash(s.hash)));
        let rolled_back = hashes(rolled_back_masks.0 & rolled_back_masks.1);
        let result = plan(&deployment, &replica_sets, &failed, &rolled_back);

        let mut rotated = replica_sets.clone();
        if !rotated.is_empty() {
            let by = order.index(rotated.len());
            rotated.rotate_left(by);
            rotated.reverse();
        }
        let reordered = plan(&deployment, &rotated, &failed, &rolled_back);
        prop_assert_eq!(result.is_ok(), reordered.is_ok());

        let Ok(plan) = result else { return Ok(()) };
        if let Ok(other) = &reordered {
            prop_assert_eq!(&plan, other);
        }
        if let RollbackPlan::Rollback { from, to, patch } = &plan {
            prop_assert!(!failed.contains(&to.hash), "target {} failed", to.hash);
            prop_assert!(!rolled_back.contains(&to.hash), "target {} rolled back", to.hash);
            prop_assert!(failed.contains(&from.hash));
            prop_assert!(to.number < from.number);
            let excluded: BTreeSet<String> = failed.union(&rolled_back).cloned().collect();
            prop_assert_eq!(Some(to.number), eligible_max(&specs, from.number, current, &excluded));
            let patched = apply(&deployment, patch).map_err(TestCaseError::fail)?;
            let template = patched.spec.expect("spec").template;
            let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
            prop_assert!(!labels.contains_key(POD_TEMPLATE_HASH_LABEL));
        }
    }
}
