//! The cluster source: policy, Pods and Namespaces from the Kubernetes API, fed into the
//! same [`crate::policy::Store`] as the manifest source.
//!
//! One `kube` watcher per kind (list, then watch from the list's resourceVersion; relist
//! at once on `410 Gone`; reconnect with a short capped backoff, see [`watch`]) sends its events to a single task
//! that owns the store ([`source`]). After the first complete list of EVERY kind it
//! compiles the first snapshot, so the proxy never enforces a half-synced cluster; after
//! that it recompiles on changes, debounced, and hands each snapshot (or the failure to
//! compile one) to the follower the application connects it to.
//! Services and EndpointSlices are kept in a [`services::ServiceIndex`], which the data
//! path reads ([`crate::proxy::service`]) to send egress to a ClusterIP to a ready endpoint.

use std::time::Duration;

pub mod crd;
pub mod report;
pub mod services;
pub mod source;
pub mod watch;

#[cfg(test)]
pub(crate) mod fake_api;
#[cfg(test)]
mod tests;

pub use source::Source;

use kube::api::ApiResource;

use crate::policy::ObjectKind;

/// Quiet time after the last change before recompiling: a `kubectl apply` of several
/// objects arrives as a burst of events and should cost one compile.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Errors of the cluster source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable cluster configuration (neither in-cluster nor KUBECONFIG).
    #[error("kubernetes client configuration: {0}")]
    Config(String),
    /// The client could not be built from the configuration.
    #[error("kubernetes client: {0}")]
    Client(#[from] kube::Error),
    /// The source stopped before the first snapshot (all watchers ended).
    #[error("the kubernetes source stopped before its first full sync")]
    Stopped,
}

/// Build a client from the in-cluster service account, or from KUBECONFIG /
/// `~/.kube/config` outside a cluster.
pub async fn client() -> Result<kube::Client, Error> {
    install_crypto_provider();
    let config = kube::Config::infer()
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    client_from(config)
}

/// How long connecting to the API server (TCP and TLS) may take before the attempt fails and
/// the watch backoff retries it. kube's default is 30 s: a watch that reconnects while the
/// API server is away (its Service address not answering, a listener that no longer
/// completes handshakes) then sits in that one attempt for up to 30 s after the server is
/// back. An in-cluster API server connects in milliseconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A client for `config` with the source's timeouts ([`CONNECT_TIMEOUT`]).
pub fn client_from(mut config: kube::Config) -> Result<kube::Client, Error> {
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    Ok(kube::Client::try_from(config)?)
}

/// rustls refuses to guess when more than one crypto backend is compiled in; the process
/// uses aws-lc-rs everywhere (the controller's webhook server too). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Every kind the cluster source watches: the kinds of the policy store, and the two
/// that feed the service index. The vocabulary its watchers ([`watch`]), its store task
/// ([`source`]), the service index ([`services`]) and the reports ([`report`]) share.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Policy(ObjectKind),
    Service,
    EndpointSlice,
}

impl Kind {
    pub const ALL: [Kind; ObjectKind::ALL.len() + 2] = {
        let mut all = [Kind::Service; ObjectKind::ALL.len() + 2];
        let mut i = 0;
        while i < ObjectKind::ALL.len() {
            all[i] = Kind::Policy(ObjectKind::ALL[i]);
            i += 1;
        }
        all[i + 1] = Kind::EndpointSlice;
        all
    };

    /// Group, version, kind and plural of the watched resource.
    pub fn resource(self) -> ApiResource {
        use k8s_openapi::api::{core::v1, discovery::v1 as discovery, networking::v1 as net};
        match self {
            Kind::Policy(kind) => match kind {
                ObjectKind::Namespace => ApiResource::erase::<v1::Namespace>(&()),
                ObjectKind::Pod => ApiResource::erase::<v1::Pod>(&()),
                ObjectKind::Tier => ApiResource::erase::<crd::Tier>(&()),
                ObjectKind::AntreaNetworkPolicy => ApiResource::erase::<crd::NetworkPolicy>(&()),
                ObjectKind::AntreaClusterNetworkPolicy => {
                    ApiResource::erase::<crd::ClusterNetworkPolicy>(&())
                }
                ObjectKind::K8sNetworkPolicy => ApiResource::erase::<net::NetworkPolicy>(&()),
            },
            Kind::Service => ApiResource::erase::<v1::Service>(&()),
            Kind::EndpointSlice => ApiResource::erase::<discovery::EndpointSlice>(&()),
        }
    }

    /// Kinds that go into the policy store (the others feed the service index).
    pub(crate) fn is_policy_input(self) -> bool {
        matches!(self, Kind::Policy(_))
    }
}

/// Logs name a kind as the API does (`Pod`, `AntreaNetworkPolicy`, `Service`).
impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Policy(kind) => kind.fmt(f),
            Kind::Service => f.write_str("Service"),
            Kind::EndpointSlice => f.write_str("EndpointSlice"),
        }
    }
}
