//! The manifest source: policies read from files and directories, watched and reloaded.
//!
//! inotify events (through `notify`) are debounced on a plain thread, which re-loads and
//! re-compiles everything ([`Manifests::load`]) and sends the result to the data path's
//! follower (`proxy::reload::follow`) as an [`Update`]. One bad object never holds up the
//! others: an object that fails to validate or compile, or every object of a file that
//! cannot be read or parsed, keeps its last good version (if it had one) while the rest is
//! applied; each problem is logged and counted. When nothing valid changed, the last
//! snapshot stays as it is.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use serde_json::Value;
use tokio::sync::mpsc as updates;

use crate::events::Metrics;
use crate::policy::{Failure, ObjectKey, Snapshot, Store, Update, object_key, read_manifests};

/// Nothing could be put in force: the list of problems, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid policy manifests:\n{0}")]
pub struct Invalid(String);

/// Quiet time after the last change before reloading (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Longest wait for quiet: manifests rewritten faster than [`DEBOUNCE`] (a controller in a
/// loop) must still be applied, not postponed for as long as the writes go on.
const MAX_DEBOUNCE: Duration = Duration::from_millis(500);

/// Keeps the manifest source alive; dropping it stops watching.
pub struct Watching {
    _watcher: RecommendedWatcher,
}

/// Watch `paths` and send what `load()` makes of them after every change. Directories
/// are watched recursively, files through their parent directory so replacing a file
/// (atomic rename, Kubernetes ConfigMap symlink swap) is seen too.
pub fn watch<P, F>(
    paths: &[PathBuf],
    updates: updates::Sender<Update<P>>,
    load: F,
) -> Result<Watching, notify::Error>
where
    P: Send + 'static,
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
        .spawn(move || reload_loop(rx, updates, load))
        .map_err(notify::Error::io)?;
    Ok(Watching { _watcher: watcher })
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
    updates: updates::Sender<Update<P>>,
    load: F,
) where
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
        let update = match load() {
            Ok(p) => Update::Compiled(p),
            Err(e) => Update::Failed(Failure::Reload(e)),
        };
        // A plain thread, so blocking is allowed; the follower gone means the proxy is.
        if updates.blocking_send(update).is_err() {
            return;
        }
    }
}

/// The manifest source: loads and compiles the manifests for the protected Pod, keeping
/// the last good version of whatever is broken.
pub struct Manifests {
    paths: Vec<PathBuf>,
    pub pod: (String, String),
    generation: AtomicU64,
    metrics: Option<Arc<Metrics>>,
    last: Mutex<Last>,
}

/// What the previous load put in force.
#[derive(Default)]
struct Last {
    /// The objects of every file as last read completely.
    files: HashMap<String, Vec<Value>>,
    /// The version of every object that was accepted.
    accepted: BTreeMap<ObjectKey, Value>,
    /// The store compiled (it remembers the policy versions in force).
    store: Store,
    loaded: bool,
}

impl Manifests {
    /// Snapshots are numbered from `generation + 1`.
    pub fn new(paths: Vec<PathBuf>, pod: (String, String), generation: u64) -> Manifests {
        Manifests {
            paths,
            pod,
            generation: AtomicU64::new(generation),
            metrics: None,
            last: Mutex::default(),
        }
    }

    /// Count the problems of a load that still produced a snapshot here (a load that
    /// fails is counted by the follower).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Manifests {
        self.metrics = Some(metrics);
        self
    }

    /// Read, validate and compile every manifest. `Err` when nothing could be put in
    /// force: the protected Pod is unknown, or there were problems and no valid object
    /// changed (the last snapshot is then still right).
    pub fn load(&self) -> Result<Snapshot, Invalid> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (files, mut errors) = read_manifests(&self.paths);
        let mut store = Store::new();
        let mut accepted = BTreeMap::new();
        let mut read = HashMap::new();
        for file in files {
            errors.extend(file.errors);
            let objects = match (file.complete, last.files.get(&file.name)) {
                (false, Some(previous)) => {
                    tracing::warn!(file = %file.name, "manifest unreadable; keeping the last good policy of its objects");
                    previous.clone()
                }
                _ => file.objects,
            };
            for v in &objects {
                match store.apply_object(&file.name, v) {
                    Ok(Some(key)) => {
                        accepted.insert(key, v.clone());
                    }
                    Ok(None) => {}
                    Err(e) => {
                        errors.extend(e);
                        let previous = object_key(v)
                            .and_then(|k| last.accepted.get(&k).map(|p| (k, p.clone())));
                        if let Some((key, p)) = previous
                            && store.apply_object(&file.name, &p).is_ok()
                        {
                            accepted.insert(key, p);
                        }
                    }
                }
            }
            read.insert(file.name, objects);
        }
        let list = |errors: &[crate::policy::Error]| {
            errors
                .iter()
                .map(|e| format!("  {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        if last.loaded && !errors.is_empty() && accepted == last.accepted {
            return Err(Invalid(format!(
                "{}\n  (no valid object changed)",
                list(&errors)
            )));
        }
        for e in store.tier_clashes() {
            tracing::warn!(error = %e, "policy reference problem");
        }
        for w in store.warnings() {
            tracing::warn!(warning = %w, "policy not enforced by l7proxy");
        }
        store.inherit_enforced(&mut last.store);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let compiled = match store.compile_lenient(&self.pod.0, &self.pod.1, generation) {
            Ok(c) => c,
            Err(e) => {
                last.store.inherit_enforced(&mut store);
                return Err(Invalid(format!("  {e}")));
            }
        };
        store.remember_enforced(&compiled.problems);
        for p in &compiled.problems {
            let tail = if p.kept_previous {
                "its last good version stays in force"
            } else {
                "it is not enforced"
            };
            tracing::warn!(object = %p.key, error = %p.error, "policy cannot be compiled; {tail}");
        }
        for e in &errors {
            tracing::warn!(error = %e, "manifest object skipped; its last good version (if any) stays in force");
        }
        if !(errors.is_empty() && compiled.problems.is_empty())
            && let Some(m) = &self.metrics
        {
            m.reload_error();
        }
        *last = Last {
            files: read,
            accepted,
            store,
            loaded: true,
        };
        Ok(compiled.snapshot)
    }
}

#[cfg(test)]
mod tests;
