//! The policy webhook's references, against a fake API server: a policy naming a Tier
//! that does not exist is refused, and so is deleting a Tier that policies still name,
//! with Antrea's messages.

use serde_json::{Value, json};

use super::super::lookup::Lookups;
use super::super::metrics::{Metrics, Webhook};
use super::super::routes::{State, answer};
use crate::kube::crd;
use crate::kube::fake_api::FakeApi;

fn policy(kind: &str, name: &str, tier: &str) -> Value {
    let mut meta = json!({"name": name});
    if kind == "NetworkPolicy" {
        meta["namespace"] = "default".into();
    }
    json!({
        "apiVersion": "crd.antrea.io/v1beta1", "kind": kind, "metadata": meta,
        "spec": {"priority": 5, "tier": tier,
                 "appliedTo": [{"podSelector": {}}],
                 "ingress": [{"action": "Allow", "l7Protocols": [{"http": {"path": "/api/*"}}]}]}
    })
}

fn tier(name: &str, priority: i64) -> Value {
    json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier",
           "metadata": {"name": name}, "spec": {"priority": priority}})
}

fn review(kind: &str, operation: &str, name: &str, object: Option<Value>) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u", "kind": {"group": "crd.antrea.io", "version": "v1beta1", "kind": kind},
            "operation": operation, "name": name, "namespace": "default", "object": object
        }
    })
    .to_string()
    .into_bytes()
}

async fn state(api: Option<&FakeApi>) -> State {
    let lookups = match api {
        Some(api) => {
            crate::kube::install_crypto_provider();
            let config = kube::Config::new(format!("http://{}", api.addr).parse().unwrap());
            Lookups::new(Some(kube::Client::try_from(config).unwrap()))
        }
        None => Lookups::default(),
    };
    let args = super::chart_args();
    State {
        args,
        metrics: Metrics::new(),
        lookups,
        ready: Default::default(),
    }
}

/// `None` when allowed, else the refusal's message.
async fn verdict(st: &State, body: &[u8]) -> Option<String> {
    let resp = answer(st, Webhook::Validate, body).await.unwrap();
    let review = resp.into_review();
    if review["response"]["allowed"] == true {
        None
    } else {
        Some(
            review["response"]["status"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

async fn api_with(tiers: Vec<Value>, acnps: Vec<Value>, annps: Vec<Value>) -> FakeApi {
    use kube::api::ApiResource;
    let api = FakeApi::start().await;
    api.script(
        &ApiResource::erase::<crd::Tier>(&()),
        vec![tiers],
        Vec::new(),
    );
    api.script(
        &ApiResource::erase::<crd::ClusterNetworkPolicy>(&()),
        vec![acnps],
        Vec::new(),
    );
    api.script(
        &ApiResource::erase::<crd::NetworkPolicy>(&()),
        vec![annps],
        Vec::new(),
    );
    api
}

#[tokio::test]
async fn a_policy_naming_a_missing_tier_is_refused() {
    let api = api_with(vec![tier("first", 10)], Vec::new(), Vec::new()).await;
    let st = state(Some(&api)).await;
    for kind in ["NetworkPolicy", "ClusterNetworkPolicy"] {
        for op in ["CREATE", "UPDATE"] {
            let missing = review(kind, op, "p", Some(policy(kind, "p", "nowhere")));
            assert_eq!(
                verdict(&st, &missing).await.as_deref(),
                Some("spec.tier: tier nowhere does not exist"),
                "{kind} {op}"
            );
            let existing = review(kind, op, "p", Some(policy(kind, "p", "first")));
            assert_eq!(verdict(&st, &existing).await, None, "{kind} {op}");
            let builtin = review(kind, op, "p", Some(policy(kind, "p", "SecurityOps")));
            assert_eq!(verdict(&st, &builtin).await, None, "{kind} {op}");
        }
    }
    // Other problems are still reported first, in one message.
    let mut bad = policy("NetworkPolicy", "p", "nowhere");
    bad["spec"]["ingress"][0]["action"] = "Drop".into();
    let msg = verdict(&st, &review("NetworkPolicy", "CREATE", "p", Some(bad)))
        .await
        .unwrap();
    assert!(
        msg.contains("layer 7 protocols only support Allow"),
        "{msg}"
    );
}

#[tokio::test]
async fn deleting_a_referenced_or_reserved_tier_is_refused() {
    let api = api_with(
        vec![tier("first", 10), tier("second", 20), tier("free", 30)],
        vec![
            policy("ClusterNetworkPolicy", "a", "first"),
            policy("ClusterNetworkPolicy", "b", "First"),
        ],
        vec![policy("NetworkPolicy", "c", "second")],
    )
    .await;
    let st = state(Some(&api)).await;
    let delete = |name: &str| review("Tier", "DELETE", name, None);
    assert_eq!(
        verdict(&st, &delete("first")).await.as_deref(),
        Some("tier first is referenced by 2 Antrea ClusterNetworkPolicies")
    );
    assert_eq!(
        verdict(&st, &delete("second")).await.as_deref(),
        Some("tier second is referenced by 1 Antrea NetworkPolicies")
    );
    assert_eq!(verdict(&st, &delete("free")).await, None);
    assert_eq!(
        verdict(&st, &delete("application")).await.as_deref(),
        Some("cannot delete reserved tier application")
    );
    // Creating or updating a Tier is not this webhook's business.
    let create = review("Tier", "CREATE", "new", Some(tier("new", 40)));
    assert_eq!(verdict(&st, &create).await, None);
}

#[tokio::test]
async fn without_a_cluster_references_are_not_checked() {
    let st = state(None).await;
    let body = review(
        "NetworkPolicy",
        "CREATE",
        "p",
        Some(policy("NetworkPolicy", "p", "nowhere")),
    );
    assert_eq!(verdict(&st, &body).await, None);
    assert_eq!(
        verdict(&st, &review("Tier", "DELETE", "first", None)).await,
        None
    );
}

#[tokio::test]
async fn an_unreachable_api_server_refuses_with_the_reason() {
    let api = api_with(Vec::new(), Vec::new(), Vec::new()).await;
    let st = state(Some(&api)).await;
    api.stop();
    let body = review(
        "ClusterNetworkPolicy",
        "CREATE",
        "p",
        Some(policy("ClusterNetworkPolicy", "p", "first")),
    );
    let msg = verdict(&st, &body).await.unwrap();
    assert!(
        msg.starts_with("spec.tier: cannot check tier first:"),
        "{msg}"
    );
}
