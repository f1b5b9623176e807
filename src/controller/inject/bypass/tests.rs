//! Pods whose containers could bypass the capture rules, as real AdmissionReviews.

use serde_json::{Value, json};

use crate::controller::metrics::Webhook;
use crate::controller::routes::answer;
use crate::controller::tests::state;

/// An AdmissionReview CREATE of a Pod with `spec`.
/// The webhook's answer is async (it may consult the API server); these cases need no I/O.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn review(spec: Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "b3e1c0de-0000-4000-8000-000000000001",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "namespace": "shop",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"generateName": "web-7d9f-", "namespace": "shop", "labels": {"app": "web"}},
                "spec": spec
            }
        }
    })
}

/// The review's response as the API server reads it.
fn respond(spec: Value) -> Value {
    let body = review(spec).to_string();
    block_on(answer(&state(), Webhook::Inject, body.as_bytes()))
        .unwrap()
        .into_review()["response"]
        .clone()
}

fn app(security_context: Value) -> Value {
    json!({"name": "app", "image": "shop/web:1.4", "securityContext": security_context})
}

fn refused(resp: &Value, needle: &str) {
    assert_eq!(resp["allowed"], false, "{resp}");
    assert!(resp.get("patch").is_none(), "{resp}");
    let msg = resp["status"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    assert!(
        msg.contains("l7proxy.io/inject: disabled"),
        "names the way out: {msg}"
    );
}

const NON_ROOT: &str = "runAsNonRoot";

#[test]
fn the_proxy_uid_is_refused_on_pod_or_container() {
    // Pod-level uid inherited by the container.
    let resp = respond(json!({
        "securityContext": {"runAsUser": 1337},
        "containers": [app(json!({}))]
    }));
    refused(&resp, "container \"app\" runs as uid 1337");
    // Container-level, in an init container.
    let resp = respond(json!({
        "initContainers": [{"name": "migrate", "image": "m", "securityContext": {"runAsUser": 1337}}],
        "containers": [app(json!({NON_ROOT: true}))]
    }));
    refused(&resp, "container \"migrate\" runs as uid 1337");
    // The container's own uid overrides the Pod's: this one is fine.
    let resp = respond(json!({
        "securityContext": {"runAsUser": 1337},
        "containers": [app(json!({"runAsUser": 1000}))]
    }));
    assert_eq!(resp["allowed"], true, "{resp}");
    assert!(resp.get("patch").is_some());
}

#[test]
fn net_admin_all_and_privileged_are_refused() {
    for (sc, needle) in [
        (
            json!({"capabilities": {"add": ["NET_ADMIN"]}}),
            "adds NET_ADMIN",
        ),
        (
            json!({"capabilities": {"add": ["cap_net_admin"]}}),
            "adds NET_ADMIN",
        ),
        (json!({"capabilities": {"add": ["ALL"]}}), "adds ALL"),
        (json!({"privileged": true}), "is privileged"),
    ] {
        refused(&respond(json!({"containers": [app(sc)]})), needle);
    }
}

#[test]
fn net_raw_of_a_root_container_is_a_warning() {
    // The runtime's default set includes NET_RAW: admitted, with a warning.
    let resp = respond(json!({"containers": [app(json!({}))]}));
    assert_eq!(resp["allowed"], true, "{resp}");
    let warnings = resp["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.contains("container \"app\"") && w.contains("SO_MARK 0x539"),
        "{w}"
    );

    // Dropping NET_RAW (or ALL), or running as non-root, silences it.
    for sc in [
        json!({"capabilities": {"drop": ["NET_RAW"]}}),
        json!({"capabilities": {"drop": ["ALL"]}}),
        json!({NON_ROOT: true}),
        json!({"runAsUser": 1000}),
    ] {
        let resp = respond(json!({"containers": [app(sc.clone())]}));
        assert_eq!(resp["allowed"], true, "{resp}");
        assert!(
            resp.get("warnings")
                .is_none_or(|w| w.as_array().is_some_and(Vec::is_empty)),
            "{sc}: {resp}"
        );
    }
    // Added explicitly to a root container: still a warning, never silently accepted.
    let resp = respond(
        json!({"containers": [app(json!({"capabilities": {"add": ["NET_RAW"], "drop": ["ALL"]}}))]}),
    );
    assert_eq!(resp["warnings"].as_array().map(Vec::len), Some(1), "{resp}");
}

#[test]
fn another_proxy_uid_moves_the_check() {
    let mut st = state();
    st.args.proxy_uid = 2000;
    let body = review(json!({"containers": [app(json!({"runAsUser": 2000}))]})).to_string();
    let resp = block_on(answer(&st, Webhook::Inject, body.as_bytes()))
        .unwrap()
        .into_review()["response"]
        .clone();
    refused(&resp, "runs as uid 2000");
    let body = review(json!({"containers": [app(json!({"runAsUser": 1337}))]})).to_string();
    let resp = block_on(answer(&st, Webhook::Inject, body.as_bytes()))
        .unwrap()
        .into_review()["response"]
        .clone();
    assert_eq!(resp["allowed"], true, "{resp}");
}
