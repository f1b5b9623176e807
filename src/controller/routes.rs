//! Request routing: the admission endpoints (HTTPS listener) and the health and metrics
//! endpoints (plain HTTP listener, and `/healthz`/`/readyz` on HTTPS too).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use super::ControllerArgs;
use super::inject::{self, Outcome as InjectOutcome};
use super::metrics::{Metrics, Outcome, Webhook};
use super::review::{self, AdmissionRequest, AdmissionResponse, ReviewError};
use super::validate::{self, Verdict};
use crate::events::METRICS_CONTENT_TYPE;

/// Largest AdmissionReview accepted. The API server's own request limit is 3 MiB and a
/// review carries the object (and, on UPDATE, the old one) plus some envelope.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// The API server waits at most 30 s for a webhook (`timeoutSeconds`); a body still arriving
/// after that is from a client that stalled.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What every request handler shares.
pub struct State {
    pub args: ControllerArgs,
    pub metrics: Metrics,
    /// The API server, for the references the policy webhook checks.
    pub lookups: super::lookup::Lookups,
    /// Set once the certificate is loaded and the webhook listener is bound.
    pub ready: AtomicBool,
}

/// The HTTPS listener's routes.
pub async fn admission(req: Request<Incoming>, state: Arc<State>) -> Response<Full<Bytes>> {
    let webhook = match req.uri().path() {
        "/inject" | "/mutate" => Webhook::Inject,
        "/validate" => Webhook::Validate,
        _ => return health(&req, &state),
    };
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "POST an AdmissionReview\n");
    }
    let collect = Limited::new(req.into_body(), MAX_BODY_BYTES).collect();
    let body = match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Ok(Ok(body)) => body.to_bytes(),
        Err(_) => {
            tracing::warn!("admission request body not received in time");
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time\n",
            );
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read an admission request body");
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body unreadable or too large\n",
            );
        }
    };
    match answer(&state, webhook, &body).await {
        Ok(resp) => json(StatusCode::OK, &resp.into_review()),
        Err(e) => {
            state.metrics.review(webhook, Outcome::BadRequest);
            tracing::warn!(error = %e, "bad admission request");
            text(StatusCode::BAD_REQUEST, &format!("{e}\n"))
        }
    }
}

/// The plain HTTP listener's routes.
pub fn plain(req: &Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    if req.uri().path() == "/metrics" {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        }
        let mut resp = Response::new(Full::new(Bytes::from(state.metrics.encode())));
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
        return resp;
    }
    health(req, state)
}

fn health<B>(req: &Request<B>, state: &State) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if !matches!(path, "/healthz" | "/readyz") {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if path == "/readyz" && !state.ready.load(Ordering::Acquire) {
        return text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n");
    }
    text(StatusCode::OK, "ok\n")
}

/// The answer to one AdmissionReview body (`Err` for a body that is not one).
pub async fn answer(
    state: &State,
    webhook: Webhook,
    body: &[u8],
) -> Result<AdmissionResponse, ReviewError> {
    let req = review::parse(body)?;
    let (resp, outcome) = match webhook {
        Webhook::Inject => inject_pod(&state.args, &req),
        Webhook::Validate => validate_policy(&req, &state.lookups).await,
    };
    state.metrics.review(webhook, outcome);
    Ok(resp)
}

fn inject_pod(args: &ControllerArgs, req: &AdmissionRequest) -> (AdmissionResponse, Outcome) {
    let ns = req.namespace.as_deref().unwrap_or_default();
    let name = pod_name(req);
    let is_pod = req.kind.group.is_empty() && req.kind.kind == "Pod";
    let Some(pod) = req
        .object
        .as_ref()
        .filter(|_| is_pod && req.operation == "CREATE")
    else {
        tracing::debug!(uid = %req.uid, kind = %req.kind.kind, operation = %req.operation, "not a Pod CREATE; unchanged");
        return (AdmissionResponse::allow(&req.uid), Outcome::Skipped);
    };
    match inject::inject(args, pod) {
        Ok(InjectOutcome::Skip(reason)) => {
            tracing::info!(uid = %req.uid, pod.namespace = %ns, pod.name = %name, reason, "injection skipped");
            (AdmissionResponse::allow(&req.uid), Outcome::Skipped)
        }
        Ok(InjectOutcome::Inject { patch, warnings }) => {
            match AdmissionResponse::patched(&req.uid, &patch) {
                Ok(mut resp) => {
                    tracing::info!(uid = %req.uid, pod.namespace = %ns, pod.name = %name, dry_run = req.dry_run.unwrap_or(false), "proxy injected");
                    resp.warnings = warnings;
                    (resp, Outcome::Injected)
                }
                Err(e) => {
                    tracing::error!(uid = %req.uid, error = %e, "cannot encode the patch");
                    let msg = format!("l7proxy: cannot encode the injection patch: {e}");
                    (AdmissionResponse::deny(&req.uid, 500, msg), Outcome::Denied)
                }
            }
        }
        Err(e) => {
            tracing::warn!(uid = %req.uid, pod.namespace = %ns, pod.name = %name, error = %e, "Pod refused");
            (
                AdmissionResponse::deny(&req.uid, 400, e.to_string()),
                Outcome::Denied,
            )
        }
    }
}

async fn validate_policy(
    req: &AdmissionRequest,
    lookups: &super::lookup::Lookups,
) -> (AdmissionResponse, Outcome) {
    match validate::review_references(req, lookups).await {
        Verdict::Allowed => (AdmissionResponse::allow(&req.uid), Outcome::Allowed),
        Verdict::Denied(message) => {
            tracing::info!(
                uid = %req.uid,
                kind = %req.kind.kind,
                namespace = req.namespace.as_deref().unwrap_or_default(),
                name = req.name.as_deref().unwrap_or_default(),
                reason = %message,
                "policy refused"
            );
            (
                AdmissionResponse::deny(&req.uid, 422, message),
                Outcome::Denied,
            )
        }
    }
}

/// The Pod's name for logs; a `generateName` Pod has none yet.
fn pod_name(req: &AdmissionRequest) -> String {
    let meta = req.object.as_ref().and_then(|o| o.get("metadata"));
    let get = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str);
    match (req.name.as_deref().filter(|n| !n.is_empty()), get("name")) {
        (Some(n), _) => n.to_owned(),
        (None, Some(n)) if !n.is_empty() => n.to_owned(),
        _ => format!("{}*", get("generateName").unwrap_or_default()),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(value.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
