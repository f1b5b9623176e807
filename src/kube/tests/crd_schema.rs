//! What the API server stores from the chart's CRDs: it prunes fields its structural
//! schema does not know before admission webhooks run (`kubectl apply --validate=warn`
//! or `false` lets them through to it). A typo in a rule must survive that, so that the
//! webhook and the proxy's decoder refuse it instead of enforcing a rule without its
//! constraint.

use serde_json::{Value, json};

use super::super::crd;
use crate::policy::Store;

/// Kubernetes' pruning of `v` by a structural `schema`: object fields not declared in
/// `properties` are dropped, unless the node says `x-kubernetes-preserve-unknown-fields`.
fn prune(schema: &Value, v: &mut Value) {
    let preserve = schema["x-kubernetes-preserve-unknown-fields"] == true;
    match v {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            map.retain(|k, _| preserve || props.is_some_and(|p| p.contains_key(k)));
            for (k, child) in map.iter_mut() {
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    prune(s, child);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                prune(&schema["items"], item);
            }
        }
        _ => {}
    }
}

fn stored(kind: &str, mut obj: Value) -> Value {
    let yaml = crd::crds_yaml().unwrap();
    let schema = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str::<Value>(d).unwrap())
        .find(|c| c["spec"]["names"]["kind"] == kind)
        .unwrap()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        .clone();
    // The API server keeps apiVersion, kind and metadata whatever the schema says.
    let spec_schema = schema["properties"]["spec"].clone();
    prune(&spec_schema, &mut obj["spec"]);
    obj
}

fn with_typo(kind: &str, rule: Value) -> Value {
    let mut meta = json!({"name": "typo"});
    if kind == "NetworkPolicy" {
        meta["namespace"] = "default".into();
    }
    json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": kind, "metadata": meta,
           "spec": {"priority": 1, "appliedTo": [{"podSelector": {}}], "ingress": [rule]}})
}

#[test]
fn typos_in_rules_survive_pruning_and_are_refused() {
    let typos = [
        json!({"action": "Allow", "l7Protocol": [{"http": {"path": "/api/*"}}]}),
        json!({"action": "Allow", "l7Protocols": [{"http": {"pth": "/api/*"}}]}),
        json!({"action": "Allow", "l7Protocols": [{"htp": {"path": "/api/*"}}]}),
        json!({"action": "Allow", "from": [{"podSelectr": {"matchLabels": {"a": "b"}}}]}),
        json!({"action": "Allow", "ports": [{"protocol": "TCP", "prot": 80}]}),
    ];
    for kind in ["NetworkPolicy", "ClusterNetworkPolicy"] {
        for rule in &typos {
            let obj = stored(kind, with_typo(kind, rule.clone()));
            assert_eq!(
                obj["spec"]["ingress"][0], *rule,
                "{kind}: the API server would prune {rule}"
            );
            let errors = Store::new()
                .apply_object("kubernetes", &obj)
                .expect_err("a rule with a typo must be refused");
            assert!(
                errors
                    .iter()
                    .any(|e| e.to_string().contains("unknown field")),
                "{kind} {rule}: {errors:?}"
            );
        }
    }
    // A typo at the spec level too.
    let mut obj = with_typo("NetworkPolicy", json!({"action": "Allow"}));
    obj["spec"]["ingres"] = obj["spec"]["ingress"].take();
    let obj = stored("NetworkPolicy", obj);
    assert!(obj["spec"]["ingres"].is_array());
    assert!(Store::new().apply_object("kubernetes", &obj).is_err());
}
