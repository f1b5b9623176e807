//! The attack cases: each a request the proxy must refuse (reset) whose forbidden part a
//! real server would execute if it slipped through. Every case carries a unique token in
//! its bytes, so the server logs (shared by all cases) tell exactly which case got through.

mod fields;
mod framing;
mod requests;

use super::wire::Action;

/// Ports of the real servers in `web`, one policy rule each (see `POLICY`).
pub const APACHE: u16 = 8101;
pub const NGINX: u16 = 8102;
pub const EXPRESS: u16 = 8103;
pub const PYTHON: u16 = 8104;
pub const RECORDER: u16 = 8105;
/// Python http.server under a host-only rule (`host: "*.bar.com"`).
pub const HOST_ONLY: u16 = 8106;
/// Python http.server under `http: {}`.
pub const ANY_HTTP: u16 = 8107;
/// Recorder that answers a websocket upgrade with a 101 to h2c.
pub const SWITCHER: u16 = 8108;

/// What the client must see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// A reset, plus an alert event for the connection.
    Reset,
    /// Anything (the case ends the connection itself); only the server side is judged.
    Any,
}

/// One attack.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique token inside the request bytes.
    pub id: String,
    pub what: String,
    pub port: u16,
    pub action: Action,
    /// The server executed the forbidden request: one of its log lines (access log, or
    /// tunnelled bytes) contains [`Case::id`] and every one of these.
    pub forbidden: Vec<&'static str>,
    pub client: Client,
    /// Bytes the client must never receive.
    pub never_received: Option<&'static str>,
    /// Without the proxy the server really executes it (checked before the proxy starts, so
    /// the case cannot pass because the server is not vulnerable in the first place).
    pub exploit: bool,
    /// The alert reason names the refusal: it contains one of these (lowercase; empty: any).
    pub reasons: &'static [&'static str],
}

/// Builds cases with fresh tokens.
#[derive(Default)]
pub struct Cases {
    pub list: Vec<Case>,
    /// First character of every token: cases built twice (control run, proxied run) never
    /// share a token.
    tag: char,
    /// [`Case::reasons`] of the cases added next.
    reasons: &'static [&'static str],
}

impl Cases {
    /// Add a case; `make` gets the token and returns the action.
    fn add(
        &mut self,
        what: impl Into<String>,
        port: u16,
        forbidden: &[&'static str],
        make: impl FnOnce(&str) -> Action,
    ) -> &mut Case {
        let id = format!("{}{:03}z", self.tag, self.list.len());
        let action = make(&id);
        self.list.push(Case {
            id,
            what: what.into(),
            port,
            action,
            forbidden: forbidden.to_vec(),
            client: Client::Reset,
            never_received: None,
            reasons: self.reasons,
            exploit: false,
        });
        self.list.last_mut().unwrap()
    }
}

/// An HTTP/1.1 request head: request line, fields, blank line.
pub fn head(line: &str, fields: &[&str]) -> Vec<u8> {
    let mut out = format!("{line}\r\n");
    for f in fields {
        out.push_str(f);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The request hidden in a body or behind a framing trick.
pub fn smuggled(id: &str) -> Vec<u8> {
    head(&format!("GET /admin/{id} HTTP/1.1"), &["Host: web.test"])
}

/// Every case, tokens starting with `tag`.
pub fn all(tag: char) -> Vec<Case> {
    let mut c = Cases {
        tag,
        ..Cases::default()
    };
    fields::repeated_fields(&mut c);
    requests::non_canonical_targets(&mut c);
    requests::connect(&mut c);
    requests::bodies_and_unsolicited(&mut c);
    fields::lenient_parsing(&mut c);
    for port in [NGINX, APACHE] {
        framing::regressions(&mut c, port);
    }
    c.list
}
