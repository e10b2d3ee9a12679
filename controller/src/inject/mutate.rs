//! The pure mutation: an AdmissionRequest for a Pod in, an AdmissionResponse out — allowed
//! always, with a JSON patch adding the sidecar when the pod opted in and lacks one.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use serde_json::Value;

use super::config::{ENABLED_LABEL, InjectConfig, PODINFO_VOLUME, SIDECAR_NAME, TOKEN_VOLUME};
use super::error::{Error, Result};
use super::sidecar;

/// Annotation the webhook adds to an injected pod, naming the sidecar image.
const INJECTED_ANNOTATION: &str = "ripcord.dev/injected";

/// Answers one admission request: allows it, with a patch adding the sidecar when the object
/// is a Pod being created, labelled `ripcord.dev/enabled: "true"`, without the sidecar yet.
/// Never denies: on any problem the pod is allowed unchanged with a warning saying why.
pub fn mutate(request: &AdmissionRequest<Pod>, config: &InjectConfig) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    let planned = plan(request, config).and_then(|patch| match patch {
        None => Ok(response.clone()),
        Some(patch) => response
            .clone()
            .with_patch(patch)
            .map_err(|e| Error::Patch(e.to_string())),
    });
    match planned {
        Ok(answer) => answer,
        Err(problem) => allow_with_warning(response, &problem),
    }
}

/// The allowed response, unchanged, with `problem` as a warning to the API client.
pub(super) fn allow_with_warning(
    mut response: AdmissionResponse,
    problem: &Error,
) -> AdmissionResponse {
    tracing::warn!(uid = %response.uid, "admitting without the Ripcord sidecar: {problem}");
    response.allowed = true;
    response.patch = None;
    response
        .warnings
        .get_or_insert_with(Vec::new)
        .push(format!("ripcord: sidecar not injected: {problem}"));
    response
}

/// The patch for `request`, or `None` when the pod is left alone.
fn plan(request: &AdmissionRequest<Pod>, config: &InjectConfig) -> Result<Option<Patch>> {
    if request.operation != Operation::Create || request.kind.kind != "Pod" {
        return Ok(None);
    }
    let pod = request
        .object
        .as_ref()
        .ok_or_else(|| Error::NoObject(request.name.clone()))?;
    if !opted_in(pod) {
        return Ok(None);
    }
    let name = pod_name(pod);
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| Error::NoSpec(name.clone()))?;
    if injected(spec) {
        return Ok(None);
    }
    if let Some(volume) = taken_volume(spec) {
        return Err(Error::VolumeNameTaken { pod: name, volume });
    }
    let mut operations = Vec::with_capacity(4);
    let container = to_value(&sidecar::container(pod, config))?;
    if config.native_sidecars {
        // First, so the sidecar is up before the pod's own init containers run.
        operations.push(match spec.init_containers {
            None => add(&["spec", "initContainers"], Value::Array(vec![container])),
            Some(_) => add(&["spec", "initContainers", "0"], container),
        });
    } else {
        operations.push(add(&["spec", "containers", "-"], container));
    }
    let volumes = [
        to_value(&sidecar::podinfo_volume())?,
        to_value(&sidecar::token_volume())?,
    ];
    match spec.volumes {
        None => operations.push(add(&["spec", "volumes"], Value::Array(volumes.into()))),
        Some(_) => operations.extend(volumes.map(|volume| add(&["spec", "volumes", "-"], volume))),
    }
    let image = Value::String(config.image.clone());
    operations.push(match pod.metadata.annotations {
        None => add(
            &["metadata", "annotations"],
            serde_json::json!({ INJECTED_ANNOTATION: image }),
        ),
        Some(_) => add(&["metadata", "annotations", INJECTED_ANNOTATION], image),
    });
    Ok(Some(Patch(operations)))
}

/// Whether the pod carries `ripcord.dev/enabled: "true"`.
fn opted_in(pod: &Pod) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(ENABLED_LABEL))
        .is_some_and(|value| value == "true")
}

/// Whether a container or init container already bears the sidecar's name.
fn injected(spec: &PodSpec) -> bool {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|container| container.name == SIDECAR_NAME)
}

/// The first of Ripcord's volume names the pod already uses.
fn taken_volume(spec: &PodSpec) -> Option<String> {
    spec.volumes
        .iter()
        .flatten()
        .map(|volume| &volume.name)
        .find(|name| *name == PODINFO_VOLUME || *name == TOKEN_VOLUME)
        .cloned()
}

/// The pod's name, or its generateName when the name is not chosen yet.
fn pod_name(pod: &Pod) -> String {
    pod.metadata
        .name
        .clone()
        .or_else(|| pod.metadata.generate_name.clone())
        .unwrap_or_default()
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

fn to_value<T: serde::Serialize>(object: &T) -> Result<Value> {
    serde_json::to_value(object).map_err(|e| Error::Patch(e.to_string()))
}
