//! Label selectors and the Antrea/Kubernetes rules for which Pods a selector picks.

use std::collections::BTreeMap;

use super::model::{LabelSelector, Namespace, Pod};

/// `metav1.LabelSelector` semantics; an empty selector selects everything. Validation
/// has rejected unknown operators, which select nothing here.
pub fn matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().all(|r| {
            let value = labels.get(&r.key);
            match r.operator.as_str() {
                "In" => value.is_some_and(|v| r.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// A Pod together with the labels of its Namespace.
#[derive(Clone, Copy, Debug)]
pub struct PodView<'a> {
    pub pod: &'a Pod,
    pub ns_labels: &'a BTreeMap<String, String>,
}

/// Labels of a Namespace, with `kubernetes.io/metadata.name` even when no Namespace
/// object was loaded (the API server always sets it).
pub fn namespace_labels(
    namespaces: &BTreeMap<String, Namespace>,
    name: &str,
) -> BTreeMap<String, String> {
    let mut labels = namespaces
        .get(name)
        .map(|n| n.labels.clone())
        .unwrap_or_default();
    labels
        .entry("kubernetes.io/metadata.name".to_owned())
        .or_insert_with(|| name.to_owned());
    labels
}

/// A pod/namespace selector pair, scoped the way its context demands.
#[derive(Clone, Copy, Debug)]
pub struct Selection<'a> {
    pub pod_selector: Option<&'a LabelSelector>,
    pub namespace_selector: Option<&'a LabelSelector>,
    /// Namespace the Pod must be in: the policy's own namespace for a namespaced policy's
    /// lone `podSelector`, the protected Pod's for ACNP `namespaces.match: Self`.
    pub namespace: Option<&'a str>,
}

impl Selection<'_> {
    pub fn selects(&self, p: PodView<'_>) -> bool {
        self.namespace.is_none_or(|ns| p.pod.namespace == ns)
            && self.pod_selector.is_none_or(|s| matches(s, &p.pod.labels))
            && self
                .namespace_selector
                .is_none_or(|s| matches(s, p.ns_labels))
    }
}
