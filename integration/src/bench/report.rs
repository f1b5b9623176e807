//! Samples per (metric, variant), summarised as min/median/max, and the ratio table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A measured quantity and which direction is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    KeepAliveRps,
    KeepAliveCpuUsPerReq,
    KeepAliveUpstreamConnsPer1k,
    CloseCps,
    CloseCpuUsPerConn,
    TlsCloseCps,
    H2StreamsPerSec,
    H2P99Us,
    LatencyP50Us,
    LatencyP99Us,
    FixedRateCpuUsPerReq,
    BulkGbps,
    BulkLoadCpuPct,
    BulkProxyCpuPct,
    IdleBytesPerConn,
    DeniedCps,
    DeniedBypassPct,
}

impl Metric {
    pub fn label(self) -> &'static str {
        match self {
            Metric::KeepAliveRps => "keep-alive HTTP req/s",
            Metric::KeepAliveCpuUsPerReq => "proxy CPU µs per keep-alive req",
            Metric::KeepAliveUpstreamConnsPer1k => "upstream conns per 1k keep-alive req",
            Metric::CloseCps => "HTTP new conn/s (Connection: close)",
            Metric::CloseCpuUsPerConn => "proxy CPU µs per close-mode conn",
            Metric::TlsCloseCps => "TLS new conn/s (full handshakes)",
            Metric::H2StreamsPerSec => "HTTP/2 streams/s (h2load -c32 -m10)",
            Metric::H2P99Us => "HTTP/2 stream p99 µs (h2load, saturated)",
            Metric::LatencyP50Us => "latency p50 µs @50% of H max",
            Metric::LatencyP99Us => "latency p99 µs @50% of H max",
            Metric::FixedRateCpuUsPerReq => "proxy CPU µs per req @50% of H max",
            Metric::BulkGbps => "bulk L4 Gbit/s (allowed, 1 conn)",
            Metric::BulkLoadCpuPct => "load core busy % during bulk",
            Metric::BulkProxyCpuPct => "proxy core busy % during bulk",
            Metric::IdleBytesPerConn => "RSS bytes per idle conn",
            Metric::DeniedCps => "denied conn/s (reset or refused)",
            Metric::DeniedBypassPct => "% denied requests answered 200",
        }
    }
}

/// Which data path (and proxy variant) produced a sample.
pub type Variant = &'static str;

/// All samples of a run.
#[derive(Default, Debug)]
pub struct Samples {
    map: BTreeMap<(Metric, Variant), Vec<f64>>,
}

/// min, median, max.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Samples {
    pub fn add(&mut self, metric: Metric, variant: Variant, value: f64) {
        if value.is_finite() {
            self.map.entry((metric, variant)).or_default().push(value);
        }
    }

    pub fn get(&self, metric: Metric, variant: Variant) -> Option<&[f64]> {
        self.map.get(&(metric, variant)).map(Vec::as_slice)
    }

    pub fn summary(&self, metric: Metric, variant: Variant) -> Option<Summary> {
        summarize(self.get(metric, variant)?)
    }

    pub fn median(&self, metric: Metric, variant: Variant) -> Option<f64> {
        self.summary(metric, variant).map(|s| s.median)
    }

    /// The table: one row per metric, min/median/max per mode, ratios of medians.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<38} {:>26} {:>26} {:>26} {:>6} {:>6}",
            "metric", "D min/med/max", "H min/med/max", "P min/med/max", "P/D", "P/H"
        );
        let metrics = [
            Metric::KeepAliveRps,
            Metric::KeepAliveCpuUsPerReq,
            Metric::KeepAliveUpstreamConnsPer1k,
            Metric::CloseCps,
            Metric::CloseCpuUsPerConn,
            Metric::TlsCloseCps,
            Metric::H2StreamsPerSec,
            Metric::H2P99Us,
            Metric::LatencyP50Us,
            Metric::LatencyP99Us,
            Metric::FixedRateCpuUsPerReq,
            Metric::BulkGbps,
            Metric::BulkLoadCpuPct,
            Metric::BulkProxyCpuPct,
            Metric::IdleBytesPerConn,
            Metric::DeniedCps,
            Metric::DeniedBypassPct,
        ];
        for m in metrics {
            let d = self.summary(m, "D");
            let h = self.summary(m, "H");
            let p = self.summary(m, "P");
            if d.is_none() && h.is_none() && p.is_none() {
                continue;
            }
            let _ = writeln!(
                out,
                "{:<38} {:>26} {:>26} {:>26} {:>6} {:>6}",
                m.label(),
                cell(d),
                cell(h),
                cell(p),
                ratio(p, d),
                ratio(p, h)
            );
        }
        if let Some(p) = self.summary(Metric::BulkGbps, "P-splice") {
            let base = self.summary(Metric::BulkGbps, "P");
            let _ = writeln!(
                out,
                "{:<38} {:>26} {:>26} {:>26} {:>6} {:>6}   (P-splice/P-copy {})",
                "bulk Gbit/s, P with --relay splice",
                "",
                "",
                cell(Some(p)),
                ratio(Some(p), self.summary(Metric::BulkGbps, "D")),
                ratio(Some(p), self.summary(Metric::BulkGbps, "H")),
                ratio(Some(p), base)
            );
        }
        // Variant rows: a P variant against the P reference run taken beside it.
        // Scaling rows read variant/reference; events rows read on/off (reference over
        // variant), so for both a value below 1 is what the variant costs in throughput.
        let variant_rows: [(&str, Metric, Variant, Variant, &str, bool); 8] = [
            (
                "keep-alive req/s, P reference",
                Metric::KeepAliveRps,
                "P-ref",
                "P",
                "P-ref/P",
                false,
            ),
            (
                "HTTP conn/s, P reference",
                Metric::CloseCps,
                "P-ref",
                "P",
                "P-ref/P",
                false,
            ),
            (
                "keep-alive req/s, 10,000 rules",
                Metric::KeepAliveRps,
                "P-10k",
                "P-ref",
                "P(10k)/P(10)",
                false,
            ),
            (
                "HTTP conn/s, 10,000 rules",
                Metric::CloseCps,
                "P-10k",
                "P-ref",
                "P(10k)/P(10)",
                false,
            ),
            (
                "keep-alive req/s, events off",
                Metric::KeepAliveRps,
                "P-noev",
                "P-ref",
                "P(on)/P(off)",
                true,
            ),
            (
                "proxy CPU µs/req, events off",
                Metric::KeepAliveCpuUsPerReq,
                "P-noev",
                "P-ref",
                "P(off)/P(on)",
                false,
            ),
            (
                "HTTP conn/s, events off",
                Metric::CloseCps,
                "P-noev",
                "P-ref",
                "P(on)/P(off)",
                true,
            ),
            (
                "latency p99 µs, events off",
                Metric::LatencyP99Us,
                "P-noev",
                "P",
                "P(on)/P(off)",
                true,
            ),
        ];
        for (label, m, variant, base, what, base_over_variant) in variant_rows {
            if let Some(p) = self.summary(m, variant) {
                let base = self.summary(m, base);
                let r = if base_over_variant {
                    ratio(base, Some(p))
                } else {
                    ratio(Some(p), base)
                };
                let _ = writeln!(
                    out,
                    "{:<38} {:>26} {:>26} {:>26}   {what} {r}",
                    label,
                    "",
                    "",
                    cell(Some(p)),
                );
            }
        }
        out
    }
}

/// min/median/max of the samples (median of an even count: mean of the middle two).
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        min: v[0],
        median,
        max: v[n - 1],
    })
}

fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn cell(s: Option<Summary>) -> String {
    match s {
        Some(s) => format!("{}/{}/{}", num(s.min), num(s.median), num(s.max)),
        None => "-".into(),
    }
}

fn ratio(a: Option<Summary>, b: Option<Summary>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median != 0.0 => format!("{:.2}", a.median / b.median),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_ratios() {
        let s = summarize(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 10.0));
        let mut samples = Samples::default();
        for v in [100.0, 120.0, 110.0] {
            samples.add(Metric::KeepAliveRps, "D", v);
        }
        for v in [50.0, 55.0, 60.0] {
            samples.add(Metric::KeepAliveRps, "P", v);
        }
        samples.add(Metric::KeepAliveRps, "H", f64::NAN);
        let table = samples.table();
        assert!(table.contains("100/110/120"), "{table}");
        assert!(table.contains("0.50"), "{table}");
        assert!(samples.get(Metric::KeepAliveRps, "H").is_none());
    }

    #[test]
    fn variant_rows_compare_with_the_reference_beside_them() {
        let mut samples = Samples::default();
        samples.add(Metric::KeepAliveRps, "P", 1000.0);
        samples.add(Metric::KeepAliveRps, "P-ref", 800.0);
        samples.add(Metric::KeepAliveRps, "P-noev", 1000.0);
        samples.add(Metric::KeepAliveRps, "P-10k", 760.0);
        let table = samples.table();
        let row = |label: &str| {
            table
                .lines()
                .find(|l| l.starts_with(label))
                .unwrap_or_else(|| panic!("no {label} row in\n{table}"))
                .to_string()
        };
        assert!(row("keep-alive req/s, events off").ends_with("P(on)/P(off) 0.80"));
        assert!(row("keep-alive req/s, 10,000 rules").ends_with("P(10k)/P(10) 0.95"));
        assert!(row("keep-alive req/s, P reference").ends_with("P-ref/P 0.80"));
        assert!(!table.contains("HTTP conn/s, events off"), "{table}");
    }
}
