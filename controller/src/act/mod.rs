//! Acting on verdicts: a verdict accepted by the intake becomes, at most once per release, the
//! steps its policy asks for (turn the flag off, roll back), then evidence (ReleaseCheck status,
//! Events on the Deployment) and one notification.
//!
//! Exactly once rests on one write: the claim. Every replica that receives a `fail` tries to
//! move the release's `ReleaseCheck` status to `Acting` with a resourceVersion precondition;
//! the API server lets one through and answers 409 to the rest, which re-read, see the claim
//! and stop. The winner then acts; each action is itself idempotent (the rollback patch is
//! guarded by the Deployment's resourceVersion and re-planned on conflict, a flag that is
//! already off stays off), so a replica that dies mid-way and whose claim is taken over after
//! [`decide::CLAIM_TTL_MS`] cannot roll back twice. The outcome is written under the claim's
//! resourceVersion too; when the check changed meanwhile (a takeover that wrote its own
//! outcome) the replica re-reads and adds its records to what is there, losing neither's.

pub mod decide;
mod error;
mod evidence;
pub mod hold;
mod outcome;
pub mod retry;
mod rollback;
pub mod stranded;
mod throttle;

use std::sync::Arc;
use std::time::Instant;

use kube::api::{Api, Patch};
use ripcord_sidecar::report::VerdictReport;
use tracing::Instrument;

use crate::crd::{
    ActionKind as RecordKind, ActionRecord, ActionResult as RecordResult, Mode, Phase,
    RegressionStep, ReleaseCheck, ReleaseCheckStatus, rfc3339_from_ms, status_merge_patch,
};
use crate::flags::{FlagFlipper, FlagUrl, FlipContext, FlipOutcome};
use crate::notify::{ActionTaken, Notice, Notifier};
use crate::ops::metrics::{ActionResult as MetricResult, Metrics};
use crate::{now_ms, patch_params};
use decide::{ClaimFor, Next, SkipReason, Stage};
pub use error::{Error, Result};
pub use evidence::Reason;

/// Most times a replica re-reads a ReleaseCheck after losing a write race before giving up.
const MAX_ATTEMPTS: usize = 5;

/// What became of one verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Its evidence was written to the ReleaseCheck.
    Recorded,
    /// Its evidence was not written: another write won the race, or the release's evidence was
    /// written with the same decision less than five seconds ago.
    NotRecorded,
    /// This replica won the claim and carried out the release's steps, ending in `phase`.
    Acted {
        /// The ReleaseCheck's phase after acting.
        phase: Phase,
        /// Time from the verdict's arrival to the first action's completion (the flag off or
        /// the rollback patch answered), if an action completed.
        first_action_after: Option<std::time::Duration>,
    },
    /// Nothing to do.
    Skipped(SkipReason),
    /// No ReleaseCheck exists for the release the verdict names (yet).
    UnknownRelease,
}

/// Carries out the on-regression steps of releases; one per controller replica.
#[derive(Clone)]
pub struct Actor {
    client: kube::Client,
    identity: String,
    flags: Option<FlagFlipper>,
    notifier: Option<Notifier>,
    metrics: Arc<Metrics>,
    reporter: kube::runtime::events::Reporter,
    throttle: Arc<throttle::RecordThrottle>,
    retries: retry::RetryPolicy,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Actor {
    /// An actor writing through `client` as replica `identity`.
    pub fn new(client: kube::Client, identity: &str, metrics: Arc<Metrics>) -> Self {
        Actor {
            client,
            identity: identity.to_string(),
            flags: None,
            notifier: None,
            metrics,
            throttle: Arc::default(),
            retries: retry::RetryPolicy::default(),
            reporter: kube::runtime::events::Reporter {
                controller: "ripcord-controller".to_string(),
                instance: Some(identity.to_string()),
            },
        }
    }

    /// Turns flags off with `flags`; without one, a `flag` step fails with a clear record.
    pub fn with_flags(mut self, flags: FlagFlipper) -> Self {
        self.flags = Some(flags);
        self
    }

    /// Sends one notification per acted-on release through `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Retries steps that fail for a passing reason as `retries` says (the default suits a
    /// cluster; tests shorten it).
    pub fn with_retries(mut self, retries: retry::RetryPolicy) -> Self {
        self.retries = retries;
        self
    }

    /// Handles one accepted verdict, received at `received`.
    pub async fn handle(&self, report: &VerdictReport, received: Instant) -> Result<Handled> {
        let release = &report.release;
        let span = tracing::info_span!(
            "verdict",
            namespace = %release.namespace,
            deployment = %release.deployment,
            revision = %release.revision,
            pod = %release.pod,
            decision = ?report.verdict.decision,
        );
        self.handle_inner(report, received).instrument(span).await
    }

    async fn handle_inner(&self, report: &VerdictReport, received: Instant) -> Result<Handled> {
        let release = &report.release;
        let revision: i64 = release.revision.parse().map_err(|_| Error::BadRevision {
            revision: release.revision.clone(),
        })?;
        let name = ReleaseCheck::name_for(&release.deployment, revision);
        let key = format!("{}/{name}", release.namespace);
        if !self
            .throttle
            .admit(&key, report.verdict.decision, Instant::now())
        {
            return Ok(Handled::NotRecorded);
        }
        let api: Api<ReleaseCheck> = Api::namespaced(self.client.clone(), &release.namespace);
        for _ in 0..MAX_ATTEMPTS {
            let Some(check) = api
                .get_opt(&name)
                .await
                .map_err(Error::kube("get", &name))?
            else {
                return Ok(Handled::UnknownRelease);
            };
            let now = now_ms();
            let mode = decide_mode(check.spec.policy.mode);
            let next = decide::next(
                &stage_of(check.status.as_ref()),
                report.verdict.decision,
                report.verdict.basis,
                mode,
                now,
            );
            match next {
                Next::Skip(reason) => {
                    tracing::debug!(reason = reason.as_str(), "verdict changes nothing");
                    return Ok(Handled::Skipped(reason));
                }
                Next::Record => return self.record(&api, &check, report).await,
                Next::Claim(purpose) => {
                    let times = Times {
                        received,
                        claimed: Instant::now(),
                    };
                    if let Some(claimed) = self.claim(&api, &check, Some(report), now).await? {
                        let (phase, first_action_after) = self
                            .carry_out(&api, claimed, report, purpose, times)
                            .await?;
                        return Ok(Handled::Acted {
                            phase,
                            first_action_after,
                        });
                    }
                }
            }
        }
        Err(Error::Contended { name })
    }

    /// Takes over a claim that went stale with no failing verdict coming to take it over
    /// ([`stranded`]): re-reads the check and, while it is still stranded, claims it anew and
    /// carries out its steps on the failing verdict its status keeps.
    pub async fn take_over_stranded(&self, namespace: &str, name: &str) -> Result<Handled> {
        let span = tracing::info_span!("stranded", %namespace, release_check = %name);
        async {
            let api: Api<ReleaseCheck> = Api::namespaced(self.client.clone(), namespace);
            let Some(check) = api.get_opt(name).await.map_err(Error::kube("get", name))? else {
                return Ok(Handled::UnknownRelease);
            };
            let now = now_ms();
            if !stranded::is_stranded(check.status.as_ref(), now) {
                return Ok(Handled::Skipped(match stage_of(check.status.as_ref()) {
                    Stage::Claimed { .. } => SkipReason::ClaimedElsewhere,
                    Stage::Settled => SkipReason::AlreadySettled,
                    Stage::Watching | Stage::NoBaseline => SkipReason::NotClaimed,
                }));
            }
            let Some(report) = stranded::kept_verdict(&check) else {
                return Ok(Handled::Skipped(SkipReason::AlreadySettled));
            };
            let purpose = decide::claim_for(decide_mode(check.spec.policy.mode));
            let times = Times {
                received: Instant::now(),
                claimed: Instant::now(),
            };
            let Some(claimed) = self.claim(&api, &check, None, now).await? else {
                return Ok(Handled::NotRecorded);
            };
            tracing::info!("took over a stale claim no verdict came to take over");
            let (phase, _) = self
                .carry_out(&api, claimed, &report, purpose, times)
                .await?;
            Ok(Handled::Acted {
                phase,
                first_action_after: None,
            })
        }
        .instrument(span)
        .await
    }

    async fn record(
        &self,
        api: &Api<ReleaseCheck>,
        check: &ReleaseCheck,
        report: &VerdictReport,
    ) -> Result<Handled> {
        let old = check.status.as_ref();
        let mut status = old.cloned().unwrap_or_default();
        status.record_verdict(report);
        if status.phase.is_none() {
            status.phase = Some(Phase::Watching);
        }
        let name = check_name(check);
        let patch = status_merge_patch(old, &status, check.metadata.resource_version.as_deref())?;
        match api
            .patch_status(&name, &patch_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(Handled::Recorded),
            Err(err) if is_conflict(&err) => Ok(Handled::NotRecorded),
            Err(err) => Err(Error::kube("record evidence in", &name)(err)),
        }
    }

    /// Writes the claim, with the evidence of `report` when a verdict brought it; `None` when
    /// another writer won (re-read and decide again).
    async fn claim(
        &self,
        api: &Api<ReleaseCheck>,
        check: &ReleaseCheck,
        report: Option<&VerdictReport>,
        now: i64,
    ) -> Result<Option<ReleaseCheck>> {
        let old = check.status.as_ref();
        let mut status = old.cloned().unwrap_or_default();
        if let Some(report) = report {
            status.record_verdict(report);
        }
        status.phase = Some(Phase::Acting);
        status.claimed_by = Some(self.identity.clone());
        status.claimed_at = Some(rfc3339_from_ms(now));
        let name = check_name(check);
        let patch = status_merge_patch(old, &status, check.metadata.resource_version.as_deref())?;
        match api
            .patch_status(&name, &patch_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(claimed) => {
                tracing::info!(release_check = %name, "claimed the release to act on it");
                Ok(Some(claimed))
            }
            Err(err) if is_conflict(&err) => Ok(None),
            Err(err) => Err(Error::kube("claim", &name)(err)),
        }
    }

    async fn carry_out(
        &self,
        api: &Api<ReleaseCheck>,
        check: ReleaseCheck,
        report: &VerdictReport,
        purpose: ClaimFor,
        times: Times,
    ) -> Result<(Phase, Option<std::time::Duration>)> {
        let Times { received, claimed } = times;
        let name = check_name(&check);
        let mut first_action_after = None;
        let mut taken = Vec::new();
        let mut records = Vec::new();
        let mut phase = Phase::Observed;
        let mut pending = false;
        if purpose == ClaimFor::Act {
            phase = Phase::Failed;
            for step in &check.spec.policy.on_regression {
                let done = self
                    .step_until_settled(*step, &check, report, claimed)
                    .await;
                if done.record.result == RecordResult::Succeeded {
                    let elapsed = received.elapsed();
                    self.metrics.verdict_to_action(elapsed);
                    first_action_after.get_or_insert(elapsed);
                }
                pending |= done.retry;
                phase = outcome::stronger(phase, done.phase);
                records.push(done.record);
                taken.push(done.taken);
            }
        }
        let status = check.status.as_ref();
        let first_outcome = status.and_then(|s| s.timeline.acted.as_deref());
        let since_first = first_outcome
            .and_then(evidence::parse_rfc3339_ms)
            .map(|at| now_ms().saturating_sub(at));
        let phase = retry::phase_after(phase, pending, since_first);
        if phase == Phase::Acting {
            tracing::warn!(release_check = %name, "a step failed for now; the next failing verdict tries again");
        }
        let written = match self.finish(api, &check, phase, &records).await {
            Ok(written) => written,
            Err(error) => {
                tracing::error!(
                    release_check = %name,
                    %error,
                    ?records,
                    "the outcome is not in the ReleaseCheck; the Events and the notification still say what was done"
                );
                self.report(&check, report, phase, taken, first_outcome.is_none())
                    .await;
                return Err(error);
            }
        };
        if written == phase {
            self.report(&check, report, phase, taken, first_outcome.is_none())
                .await;
        } else {
            tracing::info!(release_check = %name, ?written, "another replica's outcome settled the release; its Events and notice stand");
        }
        Ok((written, first_action_after))
    }

    /// The Events and the notification of an outcome: each settled outcome, and the first
    /// one still pending; a pending outcome taken over again adds nothing, so a release whose
    /// steps keep failing for a passing reason does not repeat itself every minute.
    async fn report(
        &self,
        check: &ReleaseCheck,
        report: &VerdictReport,
        phase: Phase,
        taken: Vec<ActionTaken>,
        first: bool,
    ) {
        if phase == Phase::Acting && !first {
            return;
        }
        evidence::events(&self.client, &self.reporter, check, report, phase, &taken).await;
        self.notify(check, report, taken).await;
    }

    /// Runs `step`, trying again while it fails for a passing reason and the claim made at
    /// `claimed` leaves time ([`retry::RetryPolicy::wait_before_next`]); each attempt is
    /// bounded by [`retry::RetryPolicy::attempt_limit`].
    async fn step_until_settled(
        &self,
        step: RegressionStep,
        check: &ReleaseCheck,
        report: &VerdictReport,
        claimed: Instant,
    ) -> StepDone {
        let mut attempt = 1;
        if claimed.elapsed() > self.retries.within_claim {
            let detail = "not tried: the claim's time went to the steps before it; retry";
            return StepDone::not_done(step, check, detail.to_string());
        }
        loop {
            let limit = self.retries.attempt_limit;
            let done = match tokio::time::timeout(limit, self.step(step, check, report)).await {
                Ok(done) => done,
                Err(_) => StepDone::not_done(
                    step,
                    check,
                    format!("no answer within {} ms; retry", limit.as_millis()),
                ),
            };
            if !done.retry {
                return done;
            }
            let Some(wait) = self.retries.wait_before_next(attempt, claimed.elapsed()) else {
                return done;
            };
            tracing::info!(
                release_check = %check_name(check),
                attempt,
                detail = done.record.detail.as_deref().unwrap_or(""),
                "a step failed for now; trying again"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt of `step`.
    async fn step(
        &self,
        step: RegressionStep,
        check: &ReleaseCheck,
        report: &VerdictReport,
    ) -> StepDone {
        match step {
            RegressionStep::Flag => self.flag_off(check, report).await,
            RegressionStep::Rollback => {
                let name = check_name(check);
                let done = rollback::run(&self.client, check, &name, &self.identity).await;
                self.metrics
                    .action(done.record.kind.into(), result_metric(done.record.result));
                done
            }
        }
    }

    async fn flag_off(&self, check: &ReleaseCheck, report: &VerdictReport) -> StepDone {
        let raw = check.spec.policy.flag.clone().unwrap_or_default();
        let target = step_target(RegressionStep::Flag, check);
        let outcome = match (&self.flags, raw.parse::<FlagUrl>()) {
            (_, Err(err)) => Err((format!("flag URL is not valid: {err}"), false)),
            (None, Ok(_)) => Err(("no flag credentials are configured".to_string(), false)),
            (Some(flags), Ok(url)) => {
                let context = FlipContext {
                    release: report.release.clone(),
                    release_check: check_name(check),
                    reason: report.verdict.reason.clone(),
                };
                flags.turn_off(&url, &context).await.map_err(|err| {
                    let retry = err.disposition() != crate::http::Disposition::GiveUp;
                    (err.to_string(), retry)
                })
            }
        };
        let (result, detail, phase, retry) = match outcome {
            Ok(FlipOutcome::Done) => (
                RecordResult::Succeeded,
                "flag turned off".to_string(),
                Phase::FlagOff,
                false,
            ),
            Ok(FlipOutcome::AlreadyOff) => (
                RecordResult::Skipped,
                "flag was already off".to_string(),
                Phase::FlagOff,
                false,
            ),
            Err((err, retry)) => (RecordResult::Failed, err, Phase::Failed, retry),
        };
        StepDone {
            record: ActionRecord {
                kind: RecordKind::FlagOff,
                result,
                at: rfc3339_from_ms(now_ms()),
                detail: Some(detail.clone()),
            },
            phase,
            taken: ActionTaken {
                kind: "flag off".to_string(),
                target,
                outcome: detail,
            },
            retry,
        }
    }

    /// Writes the outcome under the resourceVersion of the status last read, and returns the
    /// phase written (another replica's stronger outcome, when one landed first). On a conflict
    /// (another replica took the claim over after it went stale and wrote its own outcome, or a
    /// verdict's evidence landed) it re-reads and adds this replica's records to what is there:
    /// actions already taken must not lose their record, nor erase another's. A settled phase
    /// written over another replica's live claim is deliberate: that replica's own outcome
    /// merges in the same way, and a claim left by a replica that died never settles otherwise.
    /// Server errors and timeouts are retried with backoff; a check deleted meanwhile is not
    /// written (a recreated one is another release's record).
    async fn finish(
        &self,
        api: &Api<ReleaseCheck>,
        claimed: &ReleaseCheck,
        phase: Phase,
        records: &[ActionRecord],
    ) -> Result<Phase> {
        let name = check_name(claimed);
        let mut current = std::borrow::Cow::Borrowed(claimed);
        let mut backoff = std::time::Duration::from_millis(200);
        for attempt in 1..=MAX_ATTEMPTS {
            let old = current.status.as_ref();
            let status = outcome::with_outcome(old, phase, records, now_ms());
            let version = current.metadata.resource_version.as_deref();
            let patch = status_merge_patch(old, &status, version)?;
            let error = match api
                .patch_status(&name, &patch_params(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(status.phase.unwrap_or(phase)),
                Err(error) => error,
            };
            let conflict = matches!(&error, kube::Error::Api(s) if s.code == 409);
            if !conflict && !outcome::transient(&error) {
                return Err(Error::kube("record the outcome in", &name)(error));
            }
            if attempt == MAX_ATTEMPTS {
                break;
            }
            if conflict {
                tracing::info!(release_check = %name, "the check changed while acting; adding the outcome to it");
            } else {
                tracing::warn!(release_check = %name, %error, "cannot record the outcome yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let reread = api.get_opt(&name).await.map_err(Error::kube(
                "re-read before recording the outcome in",
                &name,
            ))?;
            match reread {
                Some(check) if check.metadata.uid == claimed.metadata.uid => {
                    current = std::borrow::Cow::Owned(check);
                }
                _ => return Err(Error::Replaced { name }),
            }
        }
        Err(Error::Contended { name })
    }

    async fn notify(
        &self,
        check: &ReleaseCheck,
        report: &VerdictReport,
        actions: Vec<ActionTaken>,
    ) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        let notice = Notice {
            release: report.release.clone(),
            release_check: check_name(check),
            verdict: report.verdict.clone(),
            undo: (!actions.is_empty()).then(|| {
                format!(
                    "kubectl ripcord why {} -n {}",
                    check_name(check),
                    report.release.namespace
                )
            }),
            actions,
        };
        if let Err(err) = notifier.send(&notice).await {
            tracing::warn!(error = %err, "notification not delivered");
        }
    }
}

/// When a verdict arrived, and when the claim acting on it was made: retries are budgeted
/// from the claim, so the last attempt ends before the claim goes stale.
#[derive(Debug, Clone, Copy)]
struct Times {
    received: Instant,
    claimed: Instant,
}

/// What one on-regression step came to.
#[derive(Debug)]
struct StepDone {
    /// Its record for the ReleaseCheck.
    record: ActionRecord,
    /// The phase it leads the release to.
    phase: Phase,
    /// What it did, for the Events and the notification.
    taken: ActionTaken,
    /// Whether it failed for a passing reason, so trying again may succeed.
    retry: bool,
}

impl StepDone {
    /// `step` on `check` not done for a passing reason, `detail`: worth trying again.
    fn not_done(step: RegressionStep, check: &ReleaseCheck, detail: String) -> Self {
        let (kind, taken) = match step {
            RegressionStep::Flag => (RecordKind::FlagOff, "flag off"),
            RegressionStep::Rollback => (RecordKind::Rollback, "rollback"),
        };
        StepDone {
            record: ActionRecord {
                kind,
                result: RecordResult::Failed,
                at: rfc3339_from_ms(now_ms()),
                detail: Some(detail.clone()),
            },
            phase: Phase::Failed,
            taken: ActionTaken {
                kind: taken.to_string(),
                target: step_target(step, check),
                outcome: detail,
            },
            retry: true,
        }
    }
}

/// Writes a Warning Event `AnnotationInvalid` on Deployment `namespace/deployment`: its pod
/// template's Ripcord annotations are invalid (`reason` names the annotation and what is
/// wrong), so its release is neither checked nor acted on. A failure is logged.
pub async fn invalid_policy(
    client: &kube::Client,
    namespace: &str,
    deployment: &str,
    reason: &str,
) {
    let note = format!(
        "the pod template's Ripcord annotations are invalid, so this release is not checked and \
         nothing will be done on a regression: {reason}"
    );
    evidence::publish(
        client,
        &evidence::reporter(),
        namespace,
        deployment,
        "Validate",
        [(
            Reason::AnnotationInvalid,
            kube::runtime::events::EventType::Warning,
            note,
        )],
    )
    .await;
}

/// What `step` acts on, as Events and notifications name it: the Deployment, or the flag URL
/// without the parts that may hold a secret (see [`crate::flags::redacted`]).
fn step_target(step: RegressionStep, check: &ReleaseCheck) -> String {
    match step {
        RegressionStep::Flag => {
            crate::flags::redacted(check.spec.policy.flag.as_deref().unwrap_or_default())
        }
        RegressionStep::Rollback => format!("Deployment {}", check.spec.deployment),
    }
}

fn result_metric(result: RecordResult) -> MetricResult {
    match result {
        RecordResult::Succeeded => MetricResult::Done,
        RecordResult::Skipped => MetricResult::AlreadyDone,
        RecordResult::Failed => MetricResult::Failed,
    }
}

/// Where a ReleaseCheck stands, for [`decide::next`].
pub fn stage_of(status: Option<&ReleaseCheckStatus>) -> Stage {
    let Some(status) = status else {
        return Stage::Watching;
    };
    match status.phase {
        None | Some(Phase::Watching) => Stage::Watching,
        Some(Phase::Inconclusive) => Stage::NoBaseline,
        Some(Phase::Acting) => Stage::Claimed {
            by: status.claimed_by.clone().unwrap_or_default(),
            at_ms: status
                .claimed_at
                .as_deref()
                .and_then(evidence::parse_rfc3339_ms)
                .unwrap_or(0),
        },
        Some(
            Phase::Passed
            | Phase::Failed
            | Phase::RolledBack
            | Phase::FlagOff
            | Phase::Held
            | Phase::Observed,
        ) => Stage::Settled,
    }
}

fn decide_mode(mode: Mode) -> decide::Mode {
    match mode {
        Mode::Act => decide::Mode::Act,
        Mode::Observe => decide::Mode::Observe,
    }
}

fn check_name(check: &ReleaseCheck) -> String {
    check.metadata.name.clone().unwrap_or_default()
}

/// Whether a write lost a race: 409 Conflict, or 422 from a failed JSON Patch `test`.
fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409 || status.code == 422)
}
