//! The machine-readable result of one probe, printed by `lab-client` as one JSON line.

use serde::{Deserialize, Serialize};

/// What happened to a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The real server answered (HTTP response, echo, every bulk byte).
    Allowed,
    /// The connection was reset (ECONNRESET / EPIPE): a policy denial.
    Reset,
    /// No answer within the timeout.
    Timeout,
    /// Orderly close without an answer.
    Closed,
    /// Nothing listening (RST to the SYN).
    Refused,
    /// Bytes arrived but not the expected ones.
    Corrupt,
    /// Anything else (TLS alert, bad response...); see `detail`.
    Error,
}

/// Result of a probe.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outcome {
    pub result: Verdict,
    /// HTTP statuses received, in order (pipelined requests give several).
    #[serde(default)]
    pub statuses: Vec<u16>,
    #[serde(default)]
    pub bytes: u64,
    /// Size of the ClientHello written, TLS probes only.
    #[serde(default)]
    pub hello_len: usize,
    #[serde(default)]
    pub detail: String,
}

impl Outcome {
    pub fn new(result: Verdict) -> Outcome {
        Outcome {
            result,
            statuses: Vec::new(),
            bytes: 0,
            hello_len: 0,
            detail: String::new(),
        }
    }

    /// Classify an I/O error the way a policy test reads it.
    pub fn from_error(e: &std::io::Error) -> Outcome {
        use std::io::ErrorKind::*;
        let result = match e.kind() {
            ConnectionReset | BrokenPipe | ConnectionAborted => Verdict::Reset,
            WouldBlock | TimedOut => Verdict::Timeout,
            UnexpectedEof => Verdict::Closed,
            ConnectionRefused => Verdict::Refused,
            _ => Verdict::Error,
        };
        let mut o = Outcome::new(result);
        o.detail = e.to_string();
        o
    }
}
