//! Per-request policy decisions for an HTTP connection.

use std::sync::Arc;

use crate::classify::RequestHead;
use crate::policy::{Flow, HttpRequestMeta, L4Verdict, L7Id, RuleRef};
use crate::proxy::http::{Decision, Gate};
use crate::proxy::state::{Policy, Shared};

/// Decides each request of an HTTP connection with the snapshot in force when it
/// arrives; re-runs the L3/L4 decision only when the snapshot changed.
pub struct PolicyGate<P> {
    pub shared: Arc<Shared<P>>,
    pub flow: Flow,
    pub snapshot: Arc<P>,
    /// The L7 rule deciding this flow in `snapshot`; `None` when the flow is no longer
    /// inspected (allowed or denied at L3/L4 by a newer snapshot).
    pub l7: Option<(Arc<RuleRef>, L7Id)>,
}

impl<P: Policy> Gate for PolicyGate<P> {
    fn rule(&self) -> Option<Arc<RuleRef>> {
        self.l7.as_ref().map(|(rule, _)| rule.clone())
    }

    fn check(&mut self, head: &RequestHead) -> Decision {
        // Before any policy: whatever rule is in force, a body the server may read as a
        // second request must not pass.
        if let Some(refused) = head.body_refusal(self.shared.config.allow_get_body) {
            return Decision {
                allowed: false,
                rule: self.l7.as_ref().map(|(rule, _)| rule.clone()),
                detail: refused.to_string(),
            };
        }
        let current = self.shared.policy.load();
        if current.generation() != self.snapshot.generation() {
            self.snapshot = arc_swap::Guard::into_inner(current);
            match self.snapshot.decide(&self.flow) {
                L4Verdict::Inspect { rule, l7 } => self.l7 = Some((rule, l7)),
                L4Verdict::Allow(rule) => {
                    self.l7 = None;
                    return Decision {
                        allowed: true,
                        rule,
                        detail: String::new(),
                    };
                }
                L4Verdict::Deny { rule, .. } => {
                    self.l7 = None;
                    return Decision {
                        allowed: false,
                        rule: Some(rule),
                        detail: "denied by updated policy".into(),
                    };
                }
            }
        }
        let Some((rule, l7)) = &self.l7 else {
            // Unchanged snapshot that no longer inspects this flow.
            return match self.snapshot.decide(&self.flow) {
                L4Verdict::Deny { rule, .. } => Decision {
                    allowed: false,
                    rule: Some(rule),
                    detail: "denied by updated policy".into(),
                },
                L4Verdict::Allow(rule) => Decision {
                    allowed: true,
                    rule,
                    detail: String::new(),
                },
                L4Verdict::Inspect { rule, .. } => Decision {
                    allowed: false,
                    rule: Some(rule),
                    detail: "policy changed".into(),
                },
            };
        };
        let v = self.snapshot.check_http(
            *l7,
            &HttpRequestMeta {
                method: &head.method,
                host: head.host.as_deref(),
                path: &head.path,
            },
        );
        Decision {
            allowed: v.allowed,
            rule: Some(rule.clone()),
            detail: v.detail,
        }
    }
}

#[cfg(test)]
mod tests;
