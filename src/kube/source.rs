//! Watchers over every kind the proxy needs, and the one task that owns the store.
//!
//! Each kind is watched as a `DynamicObject` rather than through its typed struct: the
//! policy specs reject unknown fields, and a typed watcher that cannot decode one bad
//! object errors out and relists forever, starving every good object of the same kind.
//! Decoding (and validation) happens in [`Store::apply_object`] instead, object by
//! object, where a bad object is logged, counted and skipped.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::report::{Reports, Subject, reason};
use super::services::ServiceIndex;
use super::watch::{Message, watch_kind};
use super::{DEBOUNCE, Kind};
use crate::events::Metrics;
use crate::policy::{Failure, Store, Update, object_key};

/// While changes keep arriving, compile at least this often anyway (Pod churn in a busy
/// cluster must not postpone a policy change forever).
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Identity of a watched object within its kind: namespace (if namespaced) and name.
type Key = (Option<String>, String);

fn key_of(v: &Value) -> Key {
    let meta = |f: &str| v.pointer(&format!("/metadata/{f}")).and_then(Value::as_str);
    (
        meta("namespace").map(str::to_owned),
        meta("name").unwrap_or_default().to_owned(),
    )
}

/// The running cluster source. Dropping it stops every watcher.
pub struct Source {
    /// Services and EndpointSlices, for ClusterIP → endpoint resolution.
    pub services: Arc<RwLock<ServiceIndex>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Source {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Source {
    /// Start watching. The receiver gets the first update once every kind has been
    /// listed completely, then one per (debounced) change: a snapshot, or the failure to
    /// compile one (for the follower to count; the last good policy stays).
    pub fn spawn(
        client: kube::Client,
        pod: (String, String),
        metrics: Arc<Metrics>,
    ) -> (Source, mpsc::Receiver<Update>) {
        let (events_tx, events_rx) = mpsc::channel(256);
        let (snap_tx, snap_rx) = mpsc::channel(1);
        let services = Arc::new(RwLock::new(ServiceIndex::default()));
        let mut tasks: Vec<JoinHandle<()>> = Kind::ALL
            .iter()
            .map(|&kind| tokio::spawn(watch_kind(client.clone(), kind, events_tx.clone())))
            .collect();
        let state = State {
            reports: Reports::new(Some(client.clone()), &pod, metrics.clone()),
            store: Store::new(),
            services: services.clone(),
            keys: HashMap::new(),
            pending: HashMap::new(),
            synced: BTreeSet::new(),
            pod,
            generation: 0,
            metrics,
            snapshots: snap_tx,
        };
        tasks.push(tokio::spawn(state.run(events_rx)));
        (Source { services, tasks }, snap_rx)
    }
}

/// Owned by the single task that applies events: no locks around the store.
struct State {
    store: Store,
    reports: Reports,
    services: Arc<RwLock<ServiceIndex>>,
    /// Keys of the objects currently present per kind, to delete what a relist no
    /// longer returns.
    keys: HashMap<Kind, BTreeSet<Key>>,
    /// Objects of a list in progress (between `Init` and `InitDone`).
    pending: HashMap<Kind, Vec<Value>>,
    synced: BTreeSet<Kind>,
    pod: (String, String),
    generation: u64,
    metrics: Arc<Metrics>,
    snapshots: mpsc::Sender<Update>,
}

impl State {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        // (first change, last change) since the last compile.
        let mut dirty: Option<(Instant, Instant)> = None;
        loop {
            let synced = self.synced.len() == Kind::ALL.len();
            let msg = match dirty {
                Some((first, last)) if synced => {
                    let deadline = (last + DEBOUNCE).min(first + MAX_DELAY);
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(msg) => msg,
                        Err(_) => {
                            dirty = None;
                            if !self.publish().await {
                                return;
                            }
                            continue;
                        }
                    }
                }
                _ => rx.recv().await,
            };
            let Some((kind, event)) = msg else { return };
            let was_synced = synced;
            if self.handle(kind, event) {
                let now = Instant::now();
                dirty = Some(dirty.map_or((now, now), |(first, _)| (first, now)));
            }
            if !was_synced && self.synced.len() == Kind::ALL.len() {
                tracing::info!(objects = self.store.len(), "kubernetes source synced");
                dirty = None;
                if !self.publish().await {
                    return;
                }
            }
        }
    }

    /// Apply one watch event; `true` if the policy inputs changed.
    fn handle(&mut self, kind: Kind, event: watcher::Event<DynamicObject>) -> bool {
        let ar = kind.resource();
        match event {
            watcher::Event::Init => {
                self.pending.insert(kind, Vec::new());
                false
            }
            watcher::Event::InitApply(obj) => {
                if let Some(v) = self.to_value(kind, &ar, obj) {
                    self.pending.entry(kind).or_default().push(v);
                }
                false
            }
            watcher::Event::InitDone => {
                let listed = self.pending.remove(&kind).unwrap_or_default();
                let fresh: BTreeSet<Key> = listed.iter().map(key_of).collect();
                let old = self.keys.insert(kind, fresh.clone()).unwrap_or_default();
                for gone in old.difference(&fresh) {
                    self.remove(kind, &ar, gone);
                }
                for v in &listed {
                    self.apply(kind, v);
                }
                self.synced.insert(kind);
                tracing::debug!(?kind, objects = listed.len(), "listed");
                kind.is_policy_input()
            }
            watcher::Event::Apply(obj) => {
                let Some(v) = self.to_value(kind, &ar, obj) else {
                    return false;
                };
                self.keys.entry(kind).or_default().insert(key_of(&v));
                self.apply(kind, &v);
                kind.is_policy_input()
            }
            watcher::Event::Delete(obj) => {
                let Some(v) = self.to_value(kind, &ar, obj) else {
                    return false;
                };
                let key = key_of(&v);
                self.keys.entry(kind).or_default().remove(&key);
                self.remove(kind, &ar, &key);
                kind.is_policy_input()
            }
        }
    }

    /// The object as the store reads it: list items carry no `apiVersion`/`kind`, so the
    /// watched resource's are set.
    fn to_value(&self, kind: Kind, ar: &ApiResource, obj: DynamicObject) -> Option<Value> {
        match serde_json::to_value(obj) {
            Ok(Value::Object(mut m)) => {
                m.insert("apiVersion".into(), ar.api_version.clone().into());
                m.insert("kind".into(), ar.kind.clone().into());
                Some(Value::Object(m))
            }
            Ok(_) | Err(_) => {
                tracing::warn!(?kind, "watched object is not a JSON object; skipped");
                self.metrics.reload_error();
                None
            }
        }
    }

    fn apply(&mut self, kind: Kind, v: &Value) {
        let subject = subject(kind, key_of(v));
        self.reports.seen(
            subject.clone(),
            v.pointer("/metadata/uid").and_then(Value::as_str),
        );
        let result = match kind {
            Kind::Service | Kind::EndpointSlice => {
                let mut index = self.services.write().unwrap_or_else(|e| e.into_inner());
                index.apply(kind, v).map_err(|e| vec![e])
            }
            _ => self
                .store
                .apply_object("kubernetes", v)
                .map(|_| ())
                .map_err(|errs| errs.into_iter().map(|e| e.to_string()).collect()),
        };
        match result {
            // A valid version: an earlier rejection no longer applies (compile problems
            // are settled at the next compile).
            Ok(()) => self.reports.resolved(&subject, &[reason::REJECTED]),
            Err(errs) => {
                let message = format!(
                    "{}; its previous version (if any) stays in force",
                    errs.join("; ")
                );
                self.reports.problem(&subject, reason::REJECTED, message);
            }
        }
    }

    fn remove(&mut self, kind: Kind, ar: &ApiResource, key: &Key) {
        self.reports.forget(&subject(kind, key.clone()));
        match kind {
            Kind::Service | Kind::EndpointSlice => {
                let mut index = self.services.write().unwrap_or_else(|e| e.into_inner());
                index.remove(kind, key.0.as_deref().unwrap_or_default(), &key.1);
            }
            _ => {
                let mut meta = serde_json::json!({ "name": key.1 });
                if let Some(ns) = &key.0 {
                    meta["namespace"] = ns.clone().into();
                }
                let stub = serde_json::json!({
                    "apiVersion": ar.api_version, "kind": ar.kind, "metadata": meta,
                });
                if let Some(k) = object_key(&stub) {
                    self.store.remove(&k);
                }
            }
        }
    }

    /// Compile for the protected Pod and hand the snapshot over. A policy that cannot be
    /// compiled (e.g. it names a tier that does not exist) is left out on its own, its
    /// last enforced version kept, and reported once; the rest is enforced. Only a
    /// failed compile as a whole (the protected Pod is not listed yet) keeps the previous
    /// snapshot: the failure is handed over instead. `false` once the receiver is gone.
    async fn publish(&mut self) -> bool {
        self.generation += 1;
        for e in self.store.tier_clashes() {
            tracing::warn!(error = %e, "policy reference problem");
        }
        // Once, after the first full sync: the store changes with every watched object.
        if self.generation == 1 {
            for w in self.store.warnings() {
                tracing::warn!(warning = %w, "policy not enforced by l7proxy");
            }
        }
        match self
            .store
            .compile_lenient(&self.pod.0, &self.pod.1, self.generation)
        {
            Ok(compiled) => {
                self.report_compile_problems(&compiled.problems);
                self.store.remember_enforced(&compiled.problems);
                self.snapshots
                    .send(Update::Compiled(compiled.snapshot))
                    .await
                    .is_ok()
            }
            Err(e) => self
                .snapshots
                .send(Update::Failed(Failure::Compile(e.to_string())))
                .await
                .is_ok(),
        }
    }

    fn report_compile_problems(&mut self, problems: &[crate::policy::Problem]) {
        let compile_reasons = [reason::NOT_ENFORCED, reason::PREVIOUS_VERSION_ENFORCED];
        let mut current = Vec::new();
        for p in problems {
            let subject = subject(
                Kind::Policy(p.key.kind),
                (p.key.namespace.clone(), p.key.name.clone()),
            );
            let (why, tail) = if p.kept_previous {
                (
                    reason::PREVIOUS_VERSION_ENFORCED,
                    "its last enforced version stays in force",
                )
            } else {
                (reason::NOT_ENFORCED, "it is not enforced")
            };
            let message = match &p.error {
                crate::policy::Error::Compile { field, message, .. } => {
                    format!("{field}: {message}; {tail}")
                }
                other => format!("{other}; {tail}"),
            };
            self.reports.problem(&subject, why, message);
            current.push(subject);
        }
        for s in self.reports.with_reason(&compile_reasons) {
            if !current.contains(&s) {
                self.reports.resolved(&s, &compile_reasons);
            }
        }
    }
}

fn subject(kind: Kind, key: Key) -> Subject {
    Subject {
        kind,
        namespace: key.0,
        name: key.1,
    }
}
