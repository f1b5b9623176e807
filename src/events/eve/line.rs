//! Events to EVE lines, with the timestamp prefix cached per second.

use std::time::SystemTime;

use super::{Body, HttpRec, Record, TlsRec, alert_body, timestamp};
use crate::events::{Event, SinkOptions};

/// Serialize one event as a JSON line (with the trailing `\n`) stamped `at`. `None` for
/// [`Event::Audit`], which goes to np.log instead.
pub fn to_line(event: &Event, at: SystemTime) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    LineWriter::default()
        .write(event, at, &mut line)
        .then_some(line)
}

/// Turns events into EVE lines appended to one buffer.
///
/// It keeps the formatted date and time of the last second it saw: the writer stamps
/// tens of thousands of events per second, and converting every one to a calendar date
/// was a visible share of its CPU.
#[derive(Debug)]
pub struct LineWriter {
    /// Most denied bytes put into an alert's `packet`.
    payload_cap: usize,
    /// Whole seconds since the epoch that `prefix` shows.
    second: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS.` of `second`.
    prefix: String,
    /// The timestamp of the event being written.
    ts: String,
}

impl Default for LineWriter {
    fn default() -> Self {
        Self::with_payload_cap(SinkOptions::DEFAULT_ALERT_PAYLOAD_BYTES)
    }
}

impl LineWriter {
    /// A writer that puts at most `payload_cap` denied bytes into an alert's `packet`
    /// and marks the alert `"payload_truncated": true` when there were more.
    pub fn with_payload_cap(payload_cap: usize) -> Self {
        LineWriter {
            payload_cap,
            second: None,
            prefix: String::new(),
            ts: String::new(),
        }
    }

    /// Append `event` stamped `at` to `out` as one JSON line. Returns false and leaves
    /// `out` as it was for [`Event::Audit`] (np.log's) or if serialization fails.
    pub fn write(&mut self, event: &Event, at: SystemTime, out: &mut Vec<u8>) -> bool {
        self.stamp(at);
        let ts = self.ts.as_str();
        let record = match event {
            Event::Http { flow, rule, http } => Record::new(ts, flow, "http", rule.as_deref())
                .with(Body::Http {
                    tx_id: http.tx_id,
                    http: HttpRec::from(http),
                }),
            Event::Tls { flow, rule, tls } => {
                Record::new(ts, flow, "tls", rule.as_deref()).with(Body::Tls {
                    tls: TlsRec::from(tls),
                })
            }
            Event::Alert { flow, alert } => Record::new(ts, flow, "alert", alert.rule.as_deref())
                .with(alert_body(flow, alert, self.payload_cap)),
            Event::Audit(_) => return false,
        };
        let mark = out.len();
        // Serializing plain structs of strings and numbers cannot fail; should it ever,
        // the event is logged as lost rather than half-written.
        match serde_json::to_writer(&mut *out, &record) {
            Ok(()) => {
                out.push(b'\n');
                true
            }
            Err(e) => {
                out.truncate(mark);
                tracing::warn!(error = %e, "cannot serialize EVE event");
                false
            }
        }
    }

    /// Set `ts` to [`timestamp`]`(t)`, reusing the date and time while the second is
    /// the same.
    fn stamp(&mut self, t: SystemTime) {
        use std::fmt::Write as _;
        let Ok(since) = t.duration_since(std::time::UNIX_EPOCH) else {
            self.ts = timestamp(t);
            return;
        };
        let second = since.as_secs();
        if self.second != Some(second) {
            let full = timestamp(t);
            // Everything up to and including the `.` before the microseconds.
            let end = full.rfind('.').map_or(full.len(), |dot| dot + 1);
            self.prefix.clear();
            self.prefix.push_str(&full[..end]);
            self.second = Some(second);
        }
        self.ts.clear();
        self.ts.push_str(&self.prefix);
        // Writing into a String cannot fail.
        let _ = write!(self.ts, "{:06}+0000", since.subsec_micros());
    }
}
