//! `kubectl-ripcord`: the kubectl plugin (`kubectl ripcord why|release`). Fetches objects with
//! the current kubeconfig and prints what the library's pure functions make of them.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams, Patch, PatchParams};
use ripcord_controller::crd::ReleaseCheck;
use ripcord_controller::plugin;
use ripcord_controller::rollback;

/// Ripcord's kubectl plugin: why a release was judged and acted on, and lifting a hold.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Namespace of the Deployment (default: the kubeconfig context's).
    #[arg(short, long, global = true, env = "KUBECTL_NAMESPACE")]
    namespace: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explain the latest release check of a Deployment (or the ReleaseCheck named): verdict,
    /// evidence per metric, timeline and actions.
    Why {
        /// A Deployment name, or a ReleaseCheck name.
        name: String,
    },
    /// Lift Ripcord's hold on a Deployment paused on a re-applied failed template: record the
    /// release on the held template's ReleaseChecks (so Ripcord does not hold it again), then
    /// unpause it so the template rolls out. Use after deciding the template is fine after all.
    Release {
        /// The Deployment.
        deployment: String,
        /// Who releases it, recorded on the ReleaseChecks (`ripcord.dev/released-by`).
        #[arg(long, env = "USER", default_value = "kubectl-ripcord")]
        by: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let client = kube::Client::try_default()
        .await
        .context("cannot reach the cluster with the current kubeconfig")?;
    let namespace = cli
        .namespace
        .unwrap_or_else(|| client.default_namespace().to_string());
    match cli.command {
        Command::Why { name } => why(client, &namespace, &name).await,
        Command::Release { deployment, by } => release(client, &namespace, &deployment, &by).await,
    }
}

async fn why(client: kube::Client, namespace: &str, name: &str) -> anyhow::Result<()> {
    let api: Api<ReleaseCheck> = Api::namespaced(client, namespace);
    if let Some(check) = api
        .get_opt(name)
        .await
        .context("cannot read ReleaseChecks")?
    {
        print!("{}", plugin::why(&check));
        return Ok(());
    }
    let checks = api
        .list(&ListParams::default())
        .await
        .context("cannot list ReleaseChecks")?;
    let check = plugin::latest(&checks.items, name).with_context(|| {
        format!("no ReleaseCheck named {name} and none for a Deployment {name} in {namespace}")
    })?;
    print!("{}", plugin::why(check));
    Ok(())
}

async fn release(
    client: kube::Client,
    namespace: &str,
    name: &str,
    by: &str,
) -> anyhow::Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let deployment = deployments
        .get(name)
        .await
        .with_context(|| format!("cannot read Deployment {namespace}/{name}"))?;
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let listed = replica_sets
        .list(&ListParams::default())
        .await
        .context("cannot list ReplicaSets")?;
    let Some(patch) = rollback::release(&deployment, &listed.items)? else {
        println!("Ripcord holds nothing on Deployment {namespace}/{name}.");
        return Ok(());
    };
    let held = deployment
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(rollback::HELD_ANNOTATION))
        .cloned()
        .unwrap_or_default();
    record_release(&client, namespace, name, &held, by).await?;
    client
        .request::<Deployment>(patch.to_request()?)
        .await
        .with_context(|| format!("cannot unpause Deployment {namespace}/{name}"))?;
    println!("Lifted Ripcord's hold on Deployment {namespace}/{name}; its template rolls out now.");
    Ok(())
}

/// Records on every ReleaseCheck of Deployment `name` whose template is the `held` hash that
/// `by` released it, before unpausing: a reconcile in between must not hold it again. The
/// write is a merge patch of two annotations, idempotent, so it needs no precondition.
async fn record_release(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    held: &str,
    by: &str,
) -> anyhow::Result<()> {
    let api: Api<ReleaseCheck> = Api::namespaced(client.clone(), namespace);
    let checks = api
        .list(&ListParams::default())
        .await
        .context("cannot list ReleaseChecks")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let record = rollback::release_record(by, now);
    let params = PatchParams {
        field_manager: Some(ripcord_controller::FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    for check in checks
        .items
        .iter()
        .filter(|c| c.spec.deployment == name && c.spec.template_hash == held)
    {
        let check_name = check.metadata.name.as_deref().unwrap_or_default();
        api.patch(check_name, &params, &Patch::Merge(&record))
            .await
            .with_context(|| format!("cannot record the release on ReleaseCheck {check_name}"))?;
        println!("Recorded on ReleaseCheck {check_name} that {by} released template {held}.");
    }
    Ok(())
}
