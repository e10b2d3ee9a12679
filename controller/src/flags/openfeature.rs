//! OpenFeature Operator `FeatureFlag` objects (`core.openfeature.dev/v1beta1`): the flag's
//! `defaultVariant` becomes its off variant and its `targeting` is dropped, by a JSON merge patch
//! carrying the object's `resourceVersion`, so the API server refuses it if the object changed
//! since it was read. Planning is pure; [`turn_off`] does the reads and the write.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch};
use serde_json::{Value, json};

use super::FlipOutcome;
use super::error::{FlagError, Result};
use super::url::OpenFeatureFlag;

/// API group of the OpenFeature Operator.
pub const GROUP: &str = "core.openfeature.dev";
/// Version of `FeatureFlag` this module writes.
pub const VERSION: &str = "v1beta1";
/// Kind of the flag object.
pub const KIND: &str = "FeatureFlag";

/// Reads and patches tried before giving up on a `FeatureFlag` that keeps changing.
const ATTEMPTS: u32 = 3;

/// What to do to a `FeatureFlag` to turn one of its flags off.
#[derive(Debug, Clone, PartialEq)]
pub enum OffPlan {
    /// The flag already serves its off variant to everyone: nothing to write.
    AlreadyOff,
    /// Apply this JSON merge patch (it carries the `resourceVersion` precondition).
    Patch(Value),
}

/// Plans turning `flag` off in the `FeatureFlag` object `object` (as read from the API server).
/// The off variant is the one the URL names, else the variant called `off`, else the one
/// variant whose value is `false`; anything else is an error naming the variants.
pub fn off_plan(object: &Value, flag: &OpenFeatureFlag) -> Result<OffPlan, String> {
    let resource_version = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .ok_or("the FeatureFlag has no metadata.resourceVersion")?;
    let definition = object
        .pointer("/spec/flagSpec/flags")
        .and_then(|flags| flags.get(&flag.flag_key))
        .ok_or_else(|| format!("spec.flagSpec.flags has no flag {:?}", flag.flag_key))?;
    let variants = definition
        .get("variants")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("flag {:?} has no variants", flag.flag_key))?;
    let off = match &flag.off_variant {
        Some(named) if variants.contains_key(named) => named.clone(),
        Some(named) => {
            return Err(format!(
                "flag {:?} has no variant {named:?} (variants: {})",
                flag.flag_key,
                names(variants)
            ));
        }
        None if variants.contains_key("off") => "off".to_string(),
        None => {
            let falses: Vec<&String> = variants
                .iter()
                .filter(|(_, value)| **value == Value::Bool(false))
                .map(|(name, _)| name)
                .collect();
            match falses.as_slice() {
                [one] => (*one).clone(),
                _ => {
                    return Err(format!(
                        "flag {:?} has no variant called \"off\" and not exactly one false variant \
                         (variants: {}); name it with ?variant=",
                        flag.flag_key,
                        names(variants)
                    ));
                }
            }
        }
    };
    let default = definition.get("defaultVariant").and_then(Value::as_str);
    let targeting = definition
        .get("targeting")
        .filter(|t| !t.is_null() && t.as_object().is_none_or(|o| !o.is_empty()));
    if default == Some(off.as_str()) && targeting.is_none() {
        return Ok(OffPlan::AlreadyOff);
    }
    Ok(OffPlan::Patch(json!({
        "metadata": {"resourceVersion": resource_version},
        "spec": {"flagSpec": {"flags": {
            flag.flag_key.as_str(): {"defaultVariant": off, "targeting": null}
        }}}
    })))
}

fn names(variants: &serde_json::Map<String, Value>) -> String {
    variants
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the `FeatureFlag`, plans and applies the patch; on a resourceVersion conflict (another
/// writer, or another replica turning the same flag off) reads again and re-plans.
pub(super) async fn turn_off(
    client: kube::Client,
    flag: &OpenFeatureFlag,
    name: &str,
) -> Result<FlipOutcome> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, KIND));
    let api: Api<DynamicObject> = Api::namespaced_with(client, &flag.namespace, &resource);
    let kube_error = |source| FlagError::Kube {
        flag: name.to_string(),
        source,
    };
    for _ in 0..ATTEMPTS {
        let object = api.get(&flag.name).await.map_err(kube_error)?;
        let value = serde_json::to_value(&object).map_err(|e| FlagError::Provider {
            flag: name.to_string(),
            reason: format!("the FeatureFlag could not be re-encoded: {e}"),
        })?;
        let patch = match off_plan(&value, flag) {
            Ok(OffPlan::AlreadyOff) => return Ok(FlipOutcome::AlreadyOff),
            Ok(OffPlan::Patch(patch)) => patch,
            Err(reason) => {
                return Err(FlagError::Provider {
                    flag: name.to_string(),
                    reason,
                });
            }
        };
        match api
            .patch(&flag.name, &crate::patch_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(FlipOutcome::Done),
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(e) => return Err(kube_error(e)),
        }
    }
    Err(FlagError::Conflict {
        flag: name.to_string(),
        attempts: ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        let text = include_str!("../../../testdata/flags/featureflag-checkout.yaml");
        serde_yaml::from_str(text).expect("the fixture is YAML")
    }

    fn flag(key: &str, off_variant: Option<&str>) -> OpenFeatureFlag {
        OpenFeatureFlag {
            namespace: "checkout".into(),
            name: "checkout-flags".into(),
            flag_key: key.into(),
            off_variant: off_variant.map(str::to_string),
        }
    }

    /// Applies a JSON merge patch (RFC 7386) as the API server does.
    fn merge(target: &mut Value, patch: &Value) {
        match (target, patch) {
            (Value::Object(target), Value::Object(patch)) => {
                for (key, value) in patch {
                    if value.is_null() {
                        target.remove(key);
                    } else {
                        merge(target.entry(key.clone()).or_insert(Value::Null), value);
                    }
                }
            }
            (target, patch) => *target = patch.clone(),
        }
    }

    fn plan(key: &str, off_variant: Option<&str>) -> Result<OffPlan, String> {
        off_plan(&fixture(), &flag(key, off_variant))
    }

    #[test]
    fn the_patch_serves_off_to_everyone_and_carries_the_resource_version() {
        let object = fixture();
        let Ok(OffPlan::Patch(patch)) = plan("new-checkout", None) else {
            panic!("new-checkout is on: expected a patch");
        };
        assert_eq!(patch["metadata"]["resourceVersion"], "918273");
        let mut after = object.clone();
        merge(&mut after, &patch);
        let flags = &after["spec"]["flagSpec"]["flags"];
        assert_eq!(flags["new-checkout"]["defaultVariant"], "off");
        assert!(
            flags["new-checkout"].get("targeting").is_none(),
            "{}",
            flags["new-checkout"]
        );
        assert_eq!(
            flags["new-checkout"]["variants"],
            object["spec"]["flagSpec"]["flags"]["new-checkout"]["variants"]
        );
        assert_eq!(flags["new-checkout"]["state"], "ENABLED");
        for other in ["one-click-pay", "dark-mode", "button-color"] {
            assert_eq!(
                flags[other], object["spec"]["flagSpec"]["flags"][other],
                "{other} untouched"
            );
        }
        assert_eq!(
            after["spec"]["flagSpec"]["$evaluators"],
            object["spec"]["flagSpec"]["$evaluators"]
        );
        let patched_flag = flag("new-checkout", None);
        assert_eq!(
            off_plan(&after, &patched_flag),
            Ok(OffPlan::AlreadyOff),
            "idempotent"
        );
    }

    #[test]
    fn the_off_variant_is_named_off_or_the_one_false_variant_or_given() {
        let Ok(OffPlan::Patch(patch)) = plan("one-click-pay", None) else {
            panic!("expected a patch");
        };
        assert_eq!(
            patch["spec"]["flagSpec"]["flags"]["one-click-pay"]["defaultVariant"],
            "disabled"
        );
        let Ok(OffPlan::Patch(patch)) = plan("button-color", Some("green")) else {
            panic!("expected a patch");
        };
        assert_eq!(
            patch["spec"]["flagSpec"]["flags"]["button-color"]["defaultVariant"],
            "green"
        );
        assert_eq!(plan("dark-mode", None), Ok(OffPlan::AlreadyOff));
    }

    #[test]
    fn unknown_flags_and_ambiguous_variants_are_errors_naming_them() {
        let ambiguous = plan("button-color", None).expect_err("no off variant");
        assert!(
            ambiguous.contains("red") && ambiguous.contains("?variant="),
            "{ambiguous}"
        );
        let missing = plan("no-such-flag", None).expect_err("absent");
        assert!(missing.contains("no-such-flag"), "{missing}");
        let wrong = plan("new-checkout", Some("disabled")).expect_err("absent variant");
        assert!(wrong.contains("disabled"), "{wrong}");
        let mut no_version = fixture();
        no_version["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("resourceVersion");
        let error = off_plan(&no_version, &flag("new-checkout", None)).expect_err("no version");
        assert!(error.contains("resourceVersion"), "{error}");
    }
}
