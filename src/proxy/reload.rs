//! Live policy: watch the manifest paths and swap in a freshly compiled snapshot.
//!
//! inotify events (through `notify`) are debounced on a plain thread, which re-loads and
//! re-compiles everything and stores the result with one atomic pointer swap. A broken
//! manifest set is logged and counted; the last good snapshot stays in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::proxy::state::{Policy, Shared};

/// Quiet time after the last change before reloading (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Longest wait for quiet: manifests rewritten faster than [`DEBOUNCE`] (a controller in a
/// loop) must still be applied, not postponed for as long as the writes go on.
const MAX_DEBOUNCE: Duration = Duration::from_millis(500);

/// Keeps the policy source alive; dropping it stops watching.
pub enum Reloader {
    /// The manifest paths, through inotify.
    Files { _watcher: RecommendedWatcher },
    /// The Kubernetes API (`run --kubernetes`): its watchers and the task applying its
    /// snapshots (see [`follow`]).
    Cluster {
        _source: crate::kube::Source,
        _task: tokio::task::JoinHandle<()>,
    },
}

/// Swap in every snapshot a cluster source sends, exactly as a manifest reload does.
/// The source has already counted (and logged) the changes it could not compile.
pub fn follow<P: Policy>(
    mut snapshots: tokio::sync::mpsc::Receiver<P>,
    shared: Arc<Shared<P>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(p) = snapshots.recv().await {
            install(&shared, p);
        }
    })
}

fn install<P: Policy>(shared: &Shared<P>, p: P) {
    let generation = p.generation();
    shared.policy.store(Arc::new(p));
    shared.metrics.snapshot_loaded(generation);
    tracing::info!(generation, "policy reloaded");
}

/// Watch `paths` and apply `load()` on every change. Directories are watched
/// recursively, files through their parent directory so replacing a file (atomic
/// rename, Kubernetes ConfigMap symlink swap) is seen too.
pub fn watch<P, F>(
    paths: &[PathBuf],
    shared: Arc<Shared<P>>,
    load: F,
) -> Result<Reloader, notify::Error>
where
    P: Policy,
    F: Fn() -> Result<P, String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(tx)?;
    for p in paths {
        if p.is_dir() {
            watcher.watch(p, RecursiveMode::Recursive)?;
        } else {
            let parent = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            watcher.watch(parent, RecursiveMode::NonRecursive)?;
        }
    }
    std::thread::Builder::new()
        .name("policy-reload".into())
        .spawn(move || reload_loop(rx, shared, load))
        .map_err(notify::Error::io)?;
    Ok(Reloader::Files { _watcher: watcher })
}

/// Reading the manifests must not trigger another reload.
fn is_change(ev: &notify::Result<notify::Event>) -> bool {
    match ev {
        Ok(ev) => match ev.kind {
            EventKind::Access(notify::event::AccessKind::Close(
                notify::event::AccessMode::Write,
            )) => true,
            EventKind::Access(_) => false,
            _ => true,
        },
        Err(_) => true,
    }
}

fn reload_loop<P, F>(
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    shared: Arc<Shared<P>>,
    load: F,
) where
    P: Policy,
    F: Fn() -> Result<P, String>,
{
    while let Ok(ev) = rx.recv() {
        if !is_change(&ev) {
            continue;
        }
        // Debounce: wait until the paths are quiet, at most MAX_DEBOUNCE in all.
        let deadline = Instant::now() + MAX_DEBOUNCE;
        loop {
            let wait = DEBOUNCE.min(deadline.saturating_duration_since(Instant::now()));
            if wait.is_zero() {
                break;
            }
            match rx.recv_timeout(wait) {
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        match load() {
            Ok(p) => install(&shared, p),
            Err(e) => {
                shared.metrics.reload_error();
                tracing::error!(error = %e, "policy reload failed; keeping the last good policy");
            }
        }
    }
}
