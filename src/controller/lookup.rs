//! What the policy webhook asks the API server, as Antrea's webhook does: whether a
//! policy's Tier exists, and how many policies still reference a Tier being deleted.
//!
//! Asked at each review rather than from a watch cache: reviews of Antrea policies and
//! Tiers are rare, and a fresh answer cannot be stale right after a `kubectl apply` that
//! created the Tier and the policy together (the Tier is created first).

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

use crate::kube::crd;
use crate::policy::BUILTIN_TIERS;

/// The API server, or nothing when the controller runs without a cluster (tests, local
/// runs): then references are not checked.
#[derive(Clone, Default)]
pub struct Lookups {
    client: Option<kube::Client>,
}

/// Policies referencing a Tier, per kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct References {
    pub cluster_policies: usize,
    pub policies: usize,
}

/// Why a question could not be answered.
#[derive(Debug, thiserror::Error)]
#[error("cannot ask the API server: {0}")]
pub struct LookupError(#[from] kube::Error);

impl Lookups {
    pub fn new(client: Option<kube::Client>) -> Lookups {
        Lookups { client }
    }

    /// From the in-cluster service account or KUBECONFIG; none (with a warning) when
    /// neither is configured.
    pub async fn infer() -> Lookups {
        crate::kube::install_crypto_provider();
        let client = match kube::Config::infer().await {
            Ok(config) => kube::Client::try_from(config)
                .map_err(|e| tracing::warn!(error = %e, "kubernetes client; Tier references are not checked"))
                .ok(),
            Err(e) => {
                tracing::warn!(error = %e, "no kubernetes configuration; Tier references are not checked");
                None
            }
        };
        Lookups { client }
    }

    pub fn enabled(&self) -> bool {
        self.client.is_some()
    }

    /// `true` for a built-in tier or an existing Tier object (names case-insensitive);
    /// `None` when references are not checked.
    pub async fn tier_exists(&self, name: &str) -> Result<Option<bool>, LookupError> {
        let lower = name.to_ascii_lowercase();
        if BUILTIN_TIERS.iter().any(|(n, _)| *n == lower) {
            return Ok(Some(true));
        }
        let Some(client) = &self.client else {
            return Ok(None);
        };
        let api: Api<DynamicObject> =
            Api::all_with(client.clone(), &ApiResource::erase::<crd::Tier>(&()));
        Ok(Some(api.get_opt(&lower).await?.is_some()))
    }

    /// How many Antrea policies name tier `name`; `None` when references are not checked.
    pub async fn references(&self, name: &str) -> Result<Option<References>, LookupError> {
        let Some(client) = &self.client else {
            return Ok(None);
        };
        let count = |items: Vec<DynamicObject>| {
            items
                .iter()
                .filter(|o| {
                    o.data
                        .pointer("/spec/tier")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.eq_ignore_ascii_case(name))
                })
                .count()
        };
        let list = |ar: ApiResource| {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
            async move { api.list(&ListParams::default()).await }
        };
        let acnps = list(ApiResource::erase::<crd::ClusterNetworkPolicy>(&())).await?;
        let annps = list(ApiResource::erase::<crd::NetworkPolicy>(&())).await?;
        Ok(Some(References {
            cluster_policies: count(acnps.items),
            policies: count(annps.items),
        }))
    }
}
