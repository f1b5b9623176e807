//! EVE JSON records, shaped like Suricata's so existing tooling (jq recipes, SIEM parsers,
//! Antrea's own e2e checks) reads them unchanged.
//!
//! Fixed choices, all documented in the README:
//! - `in_iface` is [`IN_IFACE`]: there is no tap interface, the proxy sees sockets.
//! - `pkt_src` is `"wire/pcap"`, what Suricata writes for traffic read off an interface;
//!   the bytes we report did come off the wire, and Antrea-era consumers expect the field.
//! - `vlan` and `tenant_id` are left out: they describe Antrea's Suricata plumbing.
//! - `policy` (ours) names the deciding rule; it is left out when no rule decided.
//! - Absent optional fields are omitted, as Suricata does, never written as `null`.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AlertEvent, FlowInfo, HttpEvent, TlsEvent, packet};
use crate::policy::{Direction, PolicyKind, RuleRef};

/// Value of `in_iface` on every event.
pub const IN_IFACE: &str = "l7proxy";
/// Value of `pkt_src` on every event.
pub const PKT_SRC: &str = "wire/pcap";

/// Suricata's timestamp form, always UTC: `2024-08-26T22:37:30.895673+0000`.
///
/// Written from the date's fields rather than through `chrono`'s `format`, which parses
/// its format string again for every event: on a keep-alive benchmark that parse alone
/// was a visible share of the proxy's CPU.
pub fn timestamp(t: SystemTime) -> String {
    use chrono::{Datelike as _, Timelike as _};
    use std::fmt::Write as _;
    let dt = DateTime::<Utc>::from(t);
    let mut out = String::with_capacity(31);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+0000",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        // A leap second shows as nanosecond >= 1e9; keep six digits.
        (dt.nanosecond() % 1_000_000_000) / 1_000,
    );
    out
}

/// Suricata's spelling of a TLS version (`SSLVersionToString` in app-layer-ssl.c):
/// note the irregular `TLSv1` next to `TLS 1.1`..`TLS 1.3`; unknown values as `0x%04x`.
pub fn tls_version_str(version: u16) -> String {
    match version {
        0 => "UNDETERMINED".to_string(),
        0x0002 => "SSLv2".to_string(),
        0x0300 => "SSLv3".to_string(),
        0x0301 => "TLSv1".to_string(),
        0x0302 => "TLS 1.1".to_string(),
        0x0303 => "TLS 1.2".to_string(),
        0x0304 => "TLS 1.3".to_string(),
        v => format!("0x{v:04x}"),
    }
}

/// Address as a consumer expects it: IPv4-mapped IPv6 (from dual-stack sockets) as IPv4.
pub(crate) fn canonical_ip(addr: &SocketAddr) -> IpAddr {
    addr.ip().to_canonical()
}

/// One EVE record: the fields every event has, then its type's own, then the policy.
///
/// Serialized by hand rather than with `#[serde(flatten)]`, which turns the whole record
/// into a map built through a slower generic path; the output is the same.
struct Record<'a> {
    timestamp: &'a str,
    flow_id: u64,
    event_type: &'static str,
    src_ip: IpAddr,
    src_port: u16,
    dest_ip: IpAddr,
    dest_port: u16,
    body: Option<Body<'a>>,
    policy: Option<PolicyRec<'a>>,
}

impl Serialize for Record<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = ser.serialize_struct("Record", 18)?;
        s.serialize_field("timestamp", self.timestamp)?;
        s.serialize_field("flow_id", &self.flow_id)?;
        s.serialize_field("in_iface", IN_IFACE)?;
        s.serialize_field("event_type", self.event_type)?;
        s.serialize_field("src_ip", &self.src_ip)?;
        s.serialize_field("src_port", &self.src_port)?;
        s.serialize_field("dest_ip", &self.dest_ip)?;
        s.serialize_field("dest_port", &self.dest_port)?;
        s.serialize_field("proto", "TCP")?;
        s.serialize_field("pkt_src", PKT_SRC)?;
        match &self.body {
            Some(Body::Http { tx_id, http }) => {
                s.serialize_field("tx_id", tx_id)?;
                s.serialize_field("http", http)?;
            }
            Some(Body::Tls { tls }) => s.serialize_field("tls", tls)?,
            Some(Body::Alert {
                alert,
                app_proto,
                direction,
                flow,
                reason,
                packet,
                packet_info,
                payload_truncated,
                tls,
            }) => {
                s.serialize_field("alert", alert)?;
                s.serialize_field("app_proto", app_proto)?;
                s.serialize_field("direction", direction)?;
                s.serialize_field("flow", flow)?;
                s.serialize_field("reason", reason)?;
                s.serialize_field("packet", packet)?;
                s.serialize_field("packet_info", packet_info)?;
                if *payload_truncated {
                    s.serialize_field("payload_truncated", &true)?;
                }
                if let Some(tls) = tls {
                    s.serialize_field("tls", tls)?;
                }
            }
            None => {}
        }
        if let Some(policy) = &self.policy {
            s.serialize_field("policy", policy)?;
        }
        s.end()
    }
}

impl<'a> Record<'a> {
    fn new(
        ts: &'a str,
        flow: &FlowInfo,
        event_type: &'static str,
        rule: Option<&'a RuleRef>,
    ) -> Self {
        Record {
            timestamp: ts,
            flow_id: flow.flow_id,
            event_type,
            src_ip: canonical_ip(&flow.src),
            src_port: flow.src.port(),
            dest_ip: canonical_ip(&flow.dst),
            dest_port: flow.dst.port(),
            body: None,
            policy: rule.map(PolicyRec::from),
        }
    }

    fn with(mut self, body: Body<'a>) -> Self {
        self.body = Some(body);
        self
    }
}

/// What follows the common fields, per event type.
enum Body<'a> {
    Http {
        tx_id: u64,
        http: HttpRec<'a>,
    },
    Tls {
        tls: TlsRec<'a>,
    },
    Alert {
        alert: AlertRec,
        app_proto: &'static str,
        direction: &'static str,
        flow: FlowRec,
        reason: &'a str,
        packet: String,
        packet_info: PacketInfo,
        /// The packet carries only the first bytes of what was denied.
        payload_truncated: bool,
        tls: Option<TlsRec<'a>>,
    },
}

#[derive(Serialize)]
struct HttpRec<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_port: Option<u16>,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_content_type: Option<&'a str>,
    http_method: &'a str,
    protocol: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    length: u64,
    /// `"2"` for an HTTP/2 stream, as Suricata writes it (absent for HTTP/1.x).
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http2: Option<Http2Rec>,
}

/// Suricata's `http.http2` object, of which the proxy knows the stream.
#[derive(Serialize)]
struct Http2Rec {
    stream_id: u32,
}

impl<'a> From<&'a HttpEvent> for HttpRec<'a> {
    fn from(h: &'a HttpEvent) -> Self {
        HttpRec {
            hostname: h.hostname.as_deref(),
            http_port: h.http_port,
            url: &h.url,
            http_user_agent: h.http_user_agent.as_deref(),
            http_content_type: h.http_content_type.as_deref(),
            http_method: &h.http_method,
            protocol: h.protocol,
            status: h.status,
            length: h.length,
            version: h.http2_stream_id.map(|_| "2"),
            http2: h.http2_stream_id.map(|stream_id| Http2Rec { stream_id }),
        }
    }
}

#[derive(Serialize)]
struct TlsRec<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<&'a str>,
    version: String,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    alpn: &'a [String],
}

impl<'a> From<&'a TlsEvent> for TlsRec<'a> {
    fn from(t: &'a TlsEvent) -> Self {
        TlsRec {
            sni: t.sni.as_deref(),
            version: tls_version_str(t.version),
            alpn: &t.alpn,
        }
    }
}

#[derive(Serialize)]
struct AlertRec {
    action: &'static str,
    gid: u32,
    signature_id: u32,
    rev: u32,
    signature: String,
    category: &'static str,
    severity: u32,
}

#[derive(Serialize)]
struct FlowRec {
    pkts_toserver: u64,
    pkts_toclient: u64,
    bytes_toserver: u64,
    bytes_toclient: u64,
    start: String,
    src_ip: IpAddr,
    dest_ip: IpAddr,
    src_port: u16,
    dest_port: u16,
}

#[derive(Serialize)]
struct PacketInfo {
    linktype: u32,
}

#[derive(Serialize)]
struct PolicyRec<'a> {
    kind: PolicyKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    name: &'a str,
    rule: &'a str,
    tier: &'a str,
    direction: Direction,
}

impl<'a> From<&'a RuleRef> for PolicyRec<'a> {
    fn from(r: &'a RuleRef) -> Self {
        PolicyRec {
            kind: r.kind,
            namespace: r.namespace.as_deref(),
            name: &r.name,
            rule: &r.rule,
            tier: &r.tier,
            direction: r.direction,
        }
    }
}

/// `Reject by <policy_ref>` like Antrea's generated Suricata rules; without a rule,
/// `Reject by l7proxy:<reason class>` where the class is the reason up to its first `:`,
/// so signatures stay few and stable while `reason` keeps the detail.
pub fn signature(alert: &AlertEvent) -> String {
    match &alert.rule {
        Some(rule) => format!("Reject by {}", rule.policy_ref()),
        None => {
            let class = alert.reason.split(':').next().unwrap_or("").trim();
            let class = if class.is_empty() { "denied" } else { class };
            format!("Reject by l7proxy:{class}")
        }
    }
}

fn alert_body<'a>(flow: &FlowInfo, alert: &'a AlertEvent, payload_cap: usize) -> Body<'a> {
    let c = alert.counters;
    let denied = &alert.denied_bytes;
    let payload = &denied[..denied.len().min(payload_cap.min(packet::MAX_PAYLOAD))];
    let pkt = packet::synthesize(flow.src, flow.dst, payload);
    Body::Alert {
        alert: AlertRec {
            action: "blocked",
            gid: 1,
            signature_id: 1,
            rev: 0,
            signature: signature(alert),
            category: "",
            severity: 3,
        },
        app_proto: alert.app_proto.as_str(),
        direction: "to_server",
        flow: FlowRec {
            pkts_toserver: c.pkts_toserver,
            pkts_toclient: c.pkts_toclient,
            bytes_toserver: c.bytes_toserver,
            bytes_toclient: c.bytes_toclient,
            start: timestamp(flow.start),
            src_ip: canonical_ip(&flow.src),
            dest_ip: canonical_ip(&flow.dst),
            src_port: flow.src.port(),
            dest_port: flow.dst.port(),
        },
        reason: &alert.reason,
        packet: base64::engine::general_purpose::STANDARD.encode(pkt),
        packet_info: PacketInfo {
            linktype: packet::LINKTYPE_RAW,
        },
        payload_truncated: payload.len() < denied.len(),
        tls: alert.tls.as_ref().map(TlsRec::from),
    }
}

mod line;
pub use line::{LineWriter, to_line};

#[cfg(test)]
mod tests;
