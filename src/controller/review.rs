//! `admission.k8s.io/v1` AdmissionReview: the request the API server sends and the response
//! it expects. Only the fields the webhooks use are decoded; the rest is ignored, so newer API
//! servers that add fields keep working.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The only AdmissionReview version the chart registers (`admissionReviewVersions: ["v1"]`).
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// Why a request body is not an AdmissionReview the webhook can answer.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("request body is not an AdmissionReview: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "unsupported AdmissionReview {api_version}/{kind} (expected {API_VERSION}/AdmissionReview)"
    )]
    Version { api_version: String, kind: String },
    #[error("AdmissionReview has no request")]
    NoRequest,
    #[error("AdmissionReview request has no uid")]
    NoUid,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: Option<AdmissionRequest>,
}

/// Group/version/kind of the object under review.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

/// The part of `request` the webhooks read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub object: Option<Value>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// Decodes a request body; the uid is required because the response must echo it.
pub fn parse(body: &[u8]) -> Result<AdmissionRequest, ReviewError> {
    let env: Envelope = serde_json::from_slice(body)?;
    if env.api_version != API_VERSION || env.kind != "AdmissionReview" {
        return Err(ReviewError::Version {
            api_version: env.api_version,
            kind: env.kind,
        });
    }
    let request = env.request.ok_or(ReviewError::NoRequest)?;
    if request.uid.is_empty() {
        return Err(ReviewError::NoUid);
    }
    Ok(request)
}

/// The webhook's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// Base64 of the RFC 6902 JSON Patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `metav1.Status` of a denial; `kubectl` prints `message`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    pub code: u16,
    pub message: String,
}

impl AdmissionResponse {
    /// Allowed unchanged.
    pub fn allow(uid: &str) -> Self {
        AdmissionResponse {
            uid: uid.to_owned(),
            allowed: true,
            status: None,
            patch_type: None,
            patch: None,
            warnings: Vec::new(),
        }
    }

    /// Refused with a message (`code` as in `metav1.Status`).
    pub fn deny(uid: &str, code: u16, message: impl Into<String>) -> Self {
        AdmissionResponse {
            allowed: false,
            status: Some(Status {
                code,
                message: message.into(),
            }),
            ..Self::allow(uid)
        }
    }

    /// Allowed with a JSON Patch; an empty patch is sent as no patch at all.
    pub fn patched(uid: &str, patch: &json_patch::Patch) -> Result<Self, serde_json::Error> {
        let mut resp = Self::allow(uid);
        if !patch.0.is_empty() {
            let bytes = serde_json::to_vec(patch)?;
            resp.patch_type = Some("JSONPatch");
            resp.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        Ok(resp)
    }

    /// The full AdmissionReview document to send back.
    pub fn into_review(self) -> Value {
        json!({
            "apiVersion": API_VERSION,
            "kind": "AdmissionReview",
            "response": self,
        })
    }
}
