//! Policy validation at admission: the `l7proxy check` semantics, so a policy the proxy would
//! refuse to load is refused at `kubectl apply`, with Antrea's messages (for example
//! "layer 7 protocols only support Allow").
//!
//! [`review`] checks each object on its own; [`review_references`] then asks the API
//! server about the objects it references, as Antrea's webhook does: a policy naming a
//! Tier that does not exist is refused ("tier X does not exist"), and so is deleting a
//! Tier that policies still name ("tier X is referenced by N Antrea
//! ClusterNetworkPolicies"), since the proxies could not place those policies.

use serde_json::Value;

use super::lookup::Lookups;
use super::review::AdmissionRequest;
use crate::policy::{BUILTIN_TIERS, Error, ObjectKind, Store, object_key};

/// The verdict on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Every problem found, in Antrea's words, joined into one message.
    Denied(String),
}

/// Checks the `object` of a CREATE or UPDATE review. Objects of kinds the webhook does not
/// judge (and DELETE, which carries none) are allowed.
pub fn review(req: &AdmissionRequest) -> Verdict {
    let Some(obj) = req.object.as_ref() else {
        return Verdict::Allowed;
    };
    if !matches!(req.operation.as_str(), "CREATE" | "UPDATE") {
        return Verdict::Allowed;
    }
    let Some(key) = object_key(obj) else {
        return Verdict::Allowed;
    };
    if !matches!(
        key.kind,
        ObjectKind::AntreaNetworkPolicy | ObjectKind::AntreaClusterNetworkPolicy
    ) {
        return Verdict::Allowed;
    }
    let obj = with_identity(obj, req);
    let mut store = Store::new();
    match store.apply_object("admission", &obj) {
        Ok(_) => Verdict::Allowed,
        Err(errors) => Verdict::Denied(message(&errors)),
    }
}

/// [`review`], then the references: the policy's Tier must exist; a Tier being deleted
/// must not be named by any policy (nor be a built-in one).
pub async fn review_references(req: &AdmissionRequest, lookups: &Lookups) -> Verdict {
    if req.kind.group == "crd.antrea.io" && req.kind.kind == "Tier" {
        return if req.operation == "DELETE" {
            tier_delete(req, lookups).await
        } else {
            Verdict::Allowed
        };
    }
    let verdict = review(req);
    if verdict != Verdict::Allowed || !matches!(req.operation.as_str(), "CREATE" | "UPDATE") {
        return verdict;
    }
    let Some(obj) = req.object.as_ref() else {
        return verdict;
    };
    let is_policy = object_key(obj).is_some_and(|k| {
        matches!(
            k.kind,
            ObjectKind::AntreaNetworkPolicy | ObjectKind::AntreaClusterNetworkPolicy
        )
    });
    let tier = obj
        .pointer("/spec/tier")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let (true, Some(tier)) = (is_policy, tier) else {
        return verdict;
    };
    match lookups.tier_exists(tier).await {
        Ok(Some(false)) => Verdict::Denied(format!("spec.tier: tier {tier} does not exist")),
        Ok(_) => Verdict::Allowed,
        Err(e) => Verdict::Denied(format!("spec.tier: cannot check tier {tier}: {e}")),
    }
}

async fn tier_delete(req: &AdmissionRequest, lookups: &Lookups) -> Verdict {
    let Some(name) = req.name.as_deref().filter(|n| !n.is_empty()) else {
        return Verdict::Allowed;
    };
    if BUILTIN_TIERS.iter().any(|(n, _)| *n == name) {
        return Verdict::Denied(format!("cannot delete reserved tier {name}"));
    }
    match lookups.references(name).await {
        Ok(Some(r)) if r.cluster_policies > 0 => Verdict::Denied(format!(
            "tier {name} is referenced by {} Antrea ClusterNetworkPolicies",
            r.cluster_policies
        )),
        Ok(Some(r)) if r.policies > 0 => Verdict::Denied(format!(
            "tier {name} is referenced by {} Antrea NetworkPolicies",
            r.policies
        )),
        Ok(_) => Verdict::Allowed,
        Err(e) => Verdict::Denied(format!("cannot check the policies of tier {name}: {e}")),
    }
}

/// On CREATE the name may still be empty (generateName) and the namespace is only in the
/// request; fill both in so the checks run and messages name the object.
fn with_identity(obj: &Value, req: &AdmissionRequest) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for (field, from_request) in [("name", &req.name), ("namespace", &req.namespace)] {
            let empty = meta
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            if empty && let Some(v) = from_request.as_deref().filter(|v| !v.is_empty()) {
                meta.insert(field.to_owned(), Value::String(v.to_owned()));
            } else if empty && field == "name" {
                meta.insert(field.to_owned(), Value::String("(generated)".to_owned()));
            }
        }
    }
    obj
}

/// `field: message` per problem (the object is the one under review, naming it again adds
/// nothing), joined with `; `.
fn message(errors: &[Error]) -> String {
    errors
        .iter()
        .map(|e| match e {
            Error::Invalid { field, message, .. } => format!("{field}: {message}"),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(operation: &str, object: Value) -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "u", "operation": operation, "namespace": "default", "object": object
        }))
        .unwrap()
    }

    fn l7_policy(action: &str) -> Value {
        json!({
            "apiVersion": "crd.antrea.io/v1beta1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p"},
            "spec": {
                "priority": 5,
                "appliedTo": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                "ingress": [{
                    "action": action,
                    "l7Protocols": [{"http": {"path": "/api/*", "method": "GETT"}}]
                }]
            }
        })
    }

    #[test]
    fn every_problem_in_one_message() {
        let Verdict::Denied(msg) = review(&request("CREATE", l7_policy("Drop"))) else {
            panic!("a Drop L7 rule must be denied");
        };
        assert!(
            msg.contains("spec.ingress[0].action: layer 7 protocols only support Allow"),
            "{msg}"
        );
        assert!(
            msg.contains("GETT"),
            "the bad method is reported too: {msg}"
        );
        assert!(msg.contains("; "), "{msg}");
    }

    #[test]
    fn valid_deleted_and_foreign_objects_are_allowed() {
        let mut good = l7_policy("Allow");
        good["spec"]["ingress"][0]["l7Protocols"][0]["http"]["method"] = json!("GET");
        assert_eq!(review(&request("CREATE", good.clone())), Verdict::Allowed);
        assert_eq!(review(&request("UPDATE", good)), Verdict::Allowed);
        assert_eq!(
            review(&request("DELETE", l7_policy("Drop"))),
            Verdict::Allowed
        );
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}});
        assert_eq!(review(&request("CREATE", pod)), Verdict::Allowed);
    }

    #[test]
    fn generate_name_still_validates() {
        let mut bad = l7_policy("Drop");
        bad["metadata"] = json!({"generateName": "p-"});
        assert!(matches!(
            review(&request("CREATE", bad)),
            Verdict::Denied(m) if m.contains("only support Allow")
        ));
    }
}
