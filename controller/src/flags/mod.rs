//! Feature-flag flips: parse the `ripcord.dev/flag` URL ([`FlagUrl`]) and turn that flag off at
//! its provider — OpenFeature Operator `FeatureFlag`, Unleash, LaunchDarkly, or a signed generic
//! webhook — with credentials read from the controller's credentials directory ([`Credentials`]).
//! Turning off is idempotent: a flag already off is reported as [`FlipOutcome::AlreadyOff`].

pub mod credentials;
mod error;
pub mod launchdarkly;
pub mod openfeature;
mod rest;
mod unleash;
mod url;
pub mod webhook;

use std::sync::Arc;

use ripcord_sidecar::report::Release;
use tracing::Instrument;

use crate::http::HttpClient;
use crate::ops::metrics::{ActionKind, ActionResult, Metrics};

pub use credentials::{CredentialError, Credentials};
pub use error::{FlagError, Result};
pub use url::{
    FlagUrl, LaunchDarklyFlag, OpenFeatureFlag, UnleashFlag, WebhookFlag, parse_origin, redacted,
};

/// How a flip ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlipOutcome {
    /// Ripcord turned the flag off.
    Done,
    /// The flag was already off (an earlier verdict, another replica, or a human).
    AlreadyOff,
}

/// Why a flag is being turned off: carried to the provider as a comment or event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlipContext {
    /// The release that regressed (and the pod whose verdict failed it).
    pub release: Release,
    /// Name of the ReleaseCheck holding the evidence.
    pub release_check: String,
    /// Why, in one sentence (the verdict's reason).
    pub reason: String,
}

impl FlipContext {
    /// The one-line comment left at providers that keep one (LaunchDarkly's audit log).
    pub fn comment(&self) -> String {
        format!(
            "Ripcord turned this flag off: {}/{} revision {} regressed ({}); evidence in ReleaseCheck {}",
            self.release.namespace,
            self.release.deployment,
            self.release.revision,
            self.reason,
            self.release_check
        )
    }
}

/// Turns flags off at their providers.
#[derive(Clone)]
pub struct FlagFlipper {
    http: HttpClient,
    credentials: Credentials,
    kube: Option<kube::Client>,
    launchdarkly_api: String,
    allowed_origins: Vec<String>,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for FlagFlipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlagFlipper")
            .field("credentials", &self.credentials)
            .field("kube", &self.kube.is_some())
            .field("launchdarkly_api", &self.launchdarkly_api)
            .finish_non_exhaustive()
    }
}

impl FlagFlipper {
    /// A flipper calling providers through `http` with the credentials in `credentials`.
    /// OpenFeature flags also need [`FlagFlipper::with_kube`].
    pub fn new(http: HttpClient, credentials: Credentials) -> Self {
        FlagFlipper {
            http,
            credentials,
            kube: None,
            launchdarkly_api: launchdarkly::LAUNCHDARKLY_API.to_string(),
            allowed_origins: Vec::new(),
            metrics: None,
        }
    }

    /// Uses `client` to patch OpenFeature `FeatureFlag` objects.
    pub fn with_kube(mut self, client: kube::Client) -> Self {
        self.kube = Some(client);
        self
    }

    /// Calls LaunchDarkly at `origin` (`https://host[:port]`) instead of its public API.
    pub fn with_launchdarkly_api(mut self, origin: &str) -> Self {
        self.launchdarkly_api = origin.trim_end_matches('/').to_string();
        self
    }

    /// Lets Unleash and webhook flags at these origins (as [`parse_origin`] gives them) be
    /// turned off. The workload names the flag URL, so without this a tenant could send the
    /// controller's Unleash token or webhook signature anywhere; none is allowed by default.
    pub fn with_allowed_origins(mut self, origins: impl IntoIterator<Item = String>) -> Self {
        self.allowed_origins = origins.into_iter().collect();
        self
    }

    /// Counts every flip in `metrics` (`actions{kind="flag"}`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Turns `flag` off; `AlreadyOff` when it was off. Safe to call again after any outcome.
    pub async fn turn_off(&self, flag: &FlagUrl, context: &FlipContext) -> Result<FlipOutcome> {
        let name = flag.shown();
        let span =
            tracing::info_span!("flag_off", flag = %name, release_check = %context.release_check);
        let outcome = self.dispatch(flag, &name, context).instrument(span).await;
        match &outcome {
            Ok(outcome) => tracing::info!(flag = %name, ?outcome, "flag turned off"),
            Err(error) => tracing::warn!(flag = %name, %error, "turning the flag off failed"),
        }
        if let Some(metrics) = &self.metrics {
            let result = match outcome {
                Ok(FlipOutcome::Done) => ActionResult::Done,
                Ok(FlipOutcome::AlreadyOff) => ActionResult::AlreadyDone,
                Err(_) => ActionResult::Failed,
            };
            metrics.action(ActionKind::Flag, result);
        }
        outcome
    }

    /// Refuses a flag the release may not turn off: one at an origin not allowed, or a
    /// FeatureFlag outside the release's namespace.
    fn permit(&self, flag: &FlagUrl, name: &str, context: &FlipContext) -> Result<()> {
        let refuse = |reason: String| FlagError::NotAllowed {
            flag: name.to_string(),
            reason,
        };
        if let Some(origin) = flag.origin()
            && !self.allowed_origins.contains(&origin)
        {
            return Err(refuse(format!(
                "{origin} is not in the controller's --flag-allowed-origins (chart value \
                 flagCredentials.allowedOrigins), so no credentials are sent there"
            )));
        }
        if let FlagUrl::OpenFeature(flag) = flag
            && flag.namespace != context.release.namespace
        {
            return Err(refuse(format!(
                "the FeatureFlag is in namespace {}, the release in {}: a release turns off \
                 flags of its own namespace only",
                flag.namespace, context.release.namespace
            )));
        }
        Ok(())
    }

    async fn dispatch(
        &self,
        flag: &FlagUrl,
        name: &str,
        context: &FlipContext,
    ) -> Result<FlipOutcome> {
        self.permit(flag, name, context)?;
        match flag {
            FlagUrl::OpenFeature(flag) => {
                let client = self.kube.clone().ok_or_else(|| FlagError::NotConfigured {
                    flag: name.to_string(),
                    what: "a Kubernetes client",
                })?;
                openfeature::turn_off(client, flag, name).await
            }
            FlagUrl::Unleash(flag) => {
                let token = self.credentials.read(credentials::UNLEASH_TOKEN)?;
                unleash::turn_off(&self.http, &token, flag, name).await
            }
            FlagUrl::LaunchDarkly(flag) => {
                let token = self.credentials.read(credentials::LAUNCHDARKLY_TOKEN)?;
                launchdarkly::turn_off(
                    &self.http,
                    &self.launchdarkly_api,
                    &token,
                    flag,
                    name,
                    &context.comment(),
                )
                .await
            }
            FlagUrl::Webhook(flag) => {
                let secret = self.credentials.read(credentials::WEBHOOK_SECRET)?;
                webhook::turn_off(&self.http, &secret, flag, name, context, crate::now_ms()).await
            }
        }
    }
}
