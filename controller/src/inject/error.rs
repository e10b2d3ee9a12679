//! Errors of the injection webhook.

/// Why a pod was admitted without the sidecar, or why a request to `/mutate` was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The AdmissionRequest carries no object to mutate; the pod is admitted unchanged.
    #[error("the admission request for {0:?} carries no object")]
    NoObject(String),
    /// The pod has no `spec`; the pod is admitted unchanged.
    #[error("pod {0:?} has no spec")]
    NoSpec(String),
    /// The pod already has a volume with a name Ripcord needs, but no sidecar; the pod is
    /// admitted unchanged. Rename the pod's volume to get the sidecar.
    #[error("pod {pod:?} already has a volume named {volume:?} but no Ripcord sidecar")]
    VolumeNameTaken {
        /// The pod's name (or generateName).
        pod: String,
        /// The volume name already in use.
        volume: String,
    },
    /// The object under review is not a Pod that decodes; the pod is admitted unchanged.
    #[error("the object under review is not a Pod: {0}")]
    NotAPod(String),
    /// The patch could not be serialised; the pod is admitted unchanged.
    #[error("the sidecar patch did not serialise: {0}")]
    Patch(String),
    /// The request body is larger than the webhook accepts; the caller should not retry it.
    #[error("AdmissionReview body is larger than the {cap} bytes allowed")]
    TooLarge {
        /// The size cap, [`super::MAX_REVIEW_BYTES`].
        cap: usize,
    },
    /// The request body could not be read from the connection; the caller may retry.
    #[error("reading the AdmissionReview body failed: {0}")]
    Body(String),
    /// The request body is not an AdmissionReview in JSON.
    #[error("the body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    Malformed(String),
    /// The AdmissionReview has no `request` to answer.
    #[error("the AdmissionReview has no request")]
    NoRequest,
}

/// Result alias of the injection webhook.
pub type Result<T, E = Error> = std::result::Result<T, E>;
