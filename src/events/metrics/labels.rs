//! The label values the data path gives the metrics: closed sets, so no caller's typo or
//! new string can add a series a dashboard does not know, or explode the cardinality.

/// `verdict` of `l7proxy_verdicts_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }
}

/// `app_proto` of `l7proxy_verdicts_total`: what the connection was classified as when
/// it was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtoLabel {
    Http,
    Tls,
    /// Decided at L3/L4, never classified.
    None,
    /// Classification failed, or the connection was refused before it.
    Failed,
}

impl ProtoLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            ProtoLabel::Http => "http",
            ProtoLabel::Tls => "tls",
            ProtoLabel::None => "none",
            ProtoLabel::Failed => "failed",
        }
    }
}

/// `outcome` of `l7proxy_classifications_total` and its latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Classification {
    Http,
    Tls,
    Http2,
    /// Neither HTTP nor TLS, malformed, or the client went away.
    Other,
    Timeout,
    TooLarge,
}

impl Classification {
    /// Every outcome, in the order of their series in [`super::Metrics`].
    pub const ALL: [Classification; 6] = [
        Classification::Http,
        Classification::Tls,
        Classification::Http2,
        Classification::Other,
        Classification::Timeout,
        Classification::TooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Http => "http",
            Classification::Tls => "tls",
            Classification::Http2 => "http2",
            Classification::Other => "other",
            Classification::Timeout => "timeout",
            Classification::TooLarge => "too_large",
        }
    }

    /// Its position in [`Classification::ALL`].
    pub(super) fn index(self) -> usize {
        self as usize
    }
}
