//! Live policy: the one follower that puts a policy source's [`Update`]s into effect.
//!
//! Every source (the manifest paths in [`crate::manifests`], the Kubernetes API in
//! [`crate::kube`]) sends its compiled snapshots and its failures down a channel; [`follow`]
//! swaps each snapshot in with one atomic pointer swap, and counts and logs each failure
//! while the last good policy stays. Which source runs is chosen by the application, so the
//! data path knows none of them.

use std::sync::Arc;

use tokio::sync::mpsc as updates;

use crate::events::Metrics;
use crate::policy::{Failure, Update};
use crate::proxy::state::{Policy, Shared};

/// Put every update a source sends into effect until the source is gone.
pub fn follow<P: Policy>(
    mut updates: updates::Receiver<Update<P>>,
    shared: Arc<Shared<P>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(update) = updates.recv().await {
            if let Some(p) = settle(&shared.metrics, update) {
                install(&shared, p);
            }
        }
    })
}

/// The policy an update puts in force, if any; a failure is counted and logged here, and
/// the last good policy stays. Also used for the first snapshot, before anything is
/// installed.
pub fn settle<P>(metrics: &Metrics, update: Update<P>) -> Option<P> {
    match update {
        Update::Compiled(p) => Some(p),
        Update::Failed(failure) => {
            metrics.reload_error();
            match failure {
                Failure::Reload(e) => {
                    tracing::error!(error = %e, "policy reload failed; keeping the last good policy")
                }
                Failure::Compile(e) => {
                    tracing::error!(error = %e, "policy compile failed; keeping the last good policy")
                }
            }
            None
        }
    }
}

fn install<P: Policy>(shared: &Shared<P>, p: P) {
    let generation = p.generation();
    shared.policy.store(Arc::new(p));
    shared.metrics.snapshot_loaded(generation);
    tracing::info!(generation, "policy reloaded");
}
