//! Reporting objects the proxy cannot enforce as written: a log line, the reload-error
//! metric and a Kubernetes Event on the object itself (`kubectl describe` shows it), once
//! per object and problem rather than on every recompile.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter as EventReporter};

use super::Kind;
use crate::events::Metrics;

/// Event reasons (the `REASON` column of `kubectl get events`).
pub mod reason {
    /// The object failed to decode or validate; its previous version (if any) stays in
    /// force.
    pub const REJECTED: &str = "Rejected";
    /// The policy cannot be compiled (e.g. its tier does not exist) and had no earlier
    /// version in force: it is not enforced.
    pub const NOT_ENFORCED: &str = "NotEnforced";
    /// The policy cannot be compiled in its current version; the last version that was
    /// in force still is.
    pub const PREVIOUS_VERSION_ENFORCED: &str = "PreviousVersionEnforced";
}

/// Identity of a reported object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subject {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

/// Reports problems once each; forgets an object's problem when it is resolved.
pub struct Reports {
    recorder: Option<Recorder>,
    metrics: Arc<Metrics>,
    /// The problem last reported per object (reason and message).
    reported: HashMap<Subject, (&'static str, String)>,
    /// Object uids, so that Events attach to the object (`kubectl describe` matches on
    /// them).
    uids: HashMap<Subject, String>,
}

impl Reports {
    pub fn new(
        client: Option<kube::Client>,
        pod: &(String, String),
        metrics: Arc<Metrics>,
    ) -> Self {
        let recorder = client.map(|c| {
            Recorder::new(
                c,
                EventReporter {
                    controller: "l7proxy".into(),
                    instance: Some(format!("{}/{}", pod.0, pod.1)),
                },
            )
        });
        Reports {
            recorder,
            metrics,
            reported: HashMap::new(),
            uids: HashMap::new(),
        }
    }

    /// Remember the uid of a watched object (empty uids are ignored).
    pub fn seen(&mut self, subject: Subject, uid: Option<&str>) {
        if let Some(uid) = uid.filter(|u| !u.is_empty()) {
            self.uids.insert(subject, uid.to_owned());
        }
    }

    /// The object is gone: forget it.
    pub fn forget(&mut self, subject: &Subject) {
        self.uids.remove(subject);
        self.reported.remove(subject);
    }

    /// A problem with `subject`; logged, counted and published as an Event unless the
    /// same problem was already reported for it.
    pub fn problem(&mut self, subject: &Subject, reason: &'static str, message: String) {
        let entry = (reason, message);
        if self.reported.get(subject) == Some(&entry) {
            return;
        }
        let (reason, message) = entry.clone();
        self.reported.insert(subject.clone(), entry);
        self.metrics.reload_error();
        tracing::warn!(
            kind = ?subject.kind,
            namespace = subject.namespace.as_deref().unwrap_or_default(),
            name = %subject.name,
            reason,
            error = %message,
            "object not enforced as written; the other objects are unaffected"
        );
        self.publish(subject, reason, message);
    }

    /// `subject` no longer has a problem of one of these `reasons`.
    pub fn resolved(&mut self, subject: &Subject, reasons: &[&str]) {
        let had = self
            .reported
            .get(subject)
            .is_some_and(|(r, _)| reasons.contains(r));
        if had {
            self.reported.remove(subject);
            tracing::info!(
                kind = ?subject.kind,
                namespace = subject.namespace.as_deref().unwrap_or_default(),
                name = %subject.name,
                "object enforced again as written"
            );
        }
    }

    /// Every object with a problem whose reason is one of `reasons`.
    pub fn with_reason(&self, reasons: &[&str]) -> Vec<Subject> {
        self.reported
            .iter()
            .filter(|(_, (r, _))| reasons.contains(r))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The Event is sent from its own task: the API server being slow must not hold up
    /// the store.
    fn publish(&self, subject: &Subject, reason: &'static str, message: String) {
        let Some(recorder) = self.recorder.clone() else {
            return;
        };
        let ar = subject.kind.resource();
        let reference = ObjectReference {
            api_version: Some(ar.api_version),
            kind: Some(ar.kind),
            name: Some(subject.name.clone()),
            namespace: subject.namespace.clone(),
            uid: self.uids.get(subject).cloned(),
            ..ObjectReference::default()
        };
        // The API server limits an Event's note to 1 kB.
        let mut note = message;
        if note.len() > 1000 {
            let mut end = 1000;
            while !note.is_char_boundary(end) {
                end -= 1;
            }
            note.truncate(end);
        }
        let event = Event {
            type_: EventType::Warning,
            reason: reason.to_owned(),
            note: Some(note),
            action: "Enforce".to_owned(),
            secondary: None,
        };
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&event, &reference).await {
                tracing::warn!(error = %e, "cannot publish a Kubernetes Event");
            }
        });
    }
}
