//! Prometheus metrics of the controller: admission outcomes per webhook and certificate
//! reloads. Label values are fixed `&'static str` sets, so cardinality is bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Which webhook answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Webhook {
    Inject,
    Validate,
}

/// How a review ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Inject: a patch was returned.
    Injected,
    /// Inject: allowed unchanged (opted out, already injected, not a CREATE...).
    Skipped,
    /// Validate: allowed.
    Allowed,
    /// Refused (invalid policy, or a Pod that cannot be injected).
    Denied,
    /// The request was not an AdmissionReview.
    BadRequest,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    webhook: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

/// The controller's registry and its series.
pub struct Metrics {
    registry: Registry,
    reviews: Family<ReviewLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("l7proxy_controller");
        let reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "admission_reviews",
            "AdmissionReviews answered, by webhook and outcome",
            reviews.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "certificate_reloads",
            "Reloads of the webhook certificate files after a change, by result",
            reloads.clone(),
        );
        Metrics {
            registry,
            reviews,
            reloads,
        }
    }

    pub fn review(&self, webhook: Webhook, outcome: Outcome) {
        let webhook = match webhook {
            Webhook::Inject => "inject",
            Webhook::Validate => "validate",
        };
        let outcome = match outcome {
            Outcome::Injected => "injected",
            Outcome::Skipped => "skipped",
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::BadRequest => "bad_request",
        };
        self.reviews
            .get_or_create(&ReviewLabels { webhook, outcome })
            .inc();
    }

    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads.get_or_create(&ReloadLabels { result }).inc();
    }

    /// OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
