//! HTTP/1.1 over any byte stream: several requests on one connection, one after the other
//! (keep-alive) or all written at once (pipelined), reading each response by Content-Length.

use std::io::{Read, Write};

use super::outcome::{Outcome, Verdict};

/// One request to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub host: String,
    pub body: String,
    /// Bytes of an extra `X-Pad` header (for header-size limits).
    pub pad: usize,
}

impl HttpRequest {
    /// Parse `"METHOD PATH HOST"` (e.g. `GET /api/v2/x foo.bar.com`).
    pub fn parse(spec: &str) -> Result<HttpRequest, String> {
        let mut parts = spec.split_whitespace();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(p), Some(h), None) => Ok(HttpRequest {
                method: m.to_string(),
                path: p.to_string(),
                host: h.to_string(),
                body: String::new(),
                pad: 0,
            }),
            _ => Err(format!(
                "request must be \"METHOD PATH HOST\", got {spec:?}"
            )),
        }
    }

    /// Wire bytes; a body always goes with its Content-Length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: lab-client\r\nAccept: */*\r\n",
            self.method, self.path, self.host
        );
        if self.pad > 0 {
            s.push_str(&format!("X-Pad: {}\r\n", "p".repeat(self.pad)));
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            s.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        s.push_str("\r\n");
        s.push_str(&self.body);
        s.into_bytes()
    }
}

/// Send `requests` on `stream` and read one response per request. Allowed when every request
/// got a response; otherwise the verdict of what stopped it, with the statuses received.
pub fn exchange<S: Read + Write>(
    stream: &mut S,
    requests: &[HttpRequest],
    pipelined: bool,
) -> Outcome {
    let mut reader = ResponseReader::default();
    let mut statuses = Vec::new();
    let fail = |e: std::io::Error, statuses: Vec<u16>| {
        let mut o = Outcome::from_error(&e);
        o.statuses = statuses;
        o
    };
    if pipelined {
        let all: Vec<u8> = requests.iter().flat_map(HttpRequest::to_bytes).collect();
        if let Err(e) = stream.write_all(&all).and_then(|_| stream.flush()) {
            return fail(e, statuses);
        }
        for req in requests {
            match reader.next(stream, req.method == "HEAD") {
                Ok(status) => statuses.push(status),
                Err(e) => return fail(e, statuses),
            }
        }
    } else {
        for req in requests {
            if let Err(e) = stream
                .write_all(&req.to_bytes())
                .and_then(|_| stream.flush())
            {
                return fail(e, statuses);
            }
            match reader.next(stream, req.method == "HEAD") {
                Ok(status) => statuses.push(status),
                Err(e) => return fail(e, statuses),
            }
        }
    }
    let mut o = Outcome::new(Verdict::Allowed);
    o.bytes = reader.total;
    o.statuses = statuses;
    o
}

/// Incremental response reader: keeps bytes of the next response that arrived early.
#[derive(Default)]
struct ResponseReader {
    buf: Vec<u8>,
    total: u64,
}

impl ResponseReader {
    /// The next response's status; a response to HEAD has no body whatever its headers say.
    fn next<S: Read>(&mut self, stream: &mut S, head_request: bool) -> std::io::Result<u16> {
        loop {
            if let Some((status, len)) = parse_head(&self.buf, head_request)?
                && self.buf.len() >= len
            {
                self.buf.drain(..len);
                return Ok(status);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.total += n as u64;
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Status and full length (head + Content-Length body) of a complete response head.
fn parse_head(buf: &[u8], head_request: bool) -> std::io::Result<Option<(u16, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(head)) => {
            let status = resp.code.unwrap_or(0);
            let no_body = head_request || status == 204 || status == 304 || status < 200;
            let body = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            Ok(Some((status, if no_body { head } else { head + body })))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }
    impl Read for Duplex {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(b)
        }
    }
    impl Write for Duplex {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.output.write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn reads_pipelined_responses_and_reports_eof_after_partial() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let reqs = vec![
            HttpRequest::parse("GET /a x").unwrap(),
            HttpRequest::parse("GET /b x").unwrap(),
            HttpRequest::parse("GET /c x").unwrap(),
        ];
        let mut d = Duplex {
            input: Cursor::new(two.to_vec()),
            output: Vec::new(),
        };
        let o = exchange(&mut d, &reqs, true);
        assert_eq!(o.result, Verdict::Closed);
        assert_eq!(o.statuses, vec![200, 404]);
        assert_eq!(d.output.windows(4).filter(|w| w == b"GET ").count(), 3);
        let mut d = Duplex {
            input: Cursor::new(two.to_vec()),
            output: Vec::new(),
        };
        let o = exchange(&mut d, &reqs[..2], false);
        assert_eq!(o.result, Verdict::Allowed);
    }

    #[test]
    fn request_spec_must_have_three_fields() {
        assert!(HttpRequest::parse("GET /").is_err());
        let r = HttpRequest::parse("POST /x h").unwrap();
        assert!(
            String::from_utf8(r.to_bytes())
                .unwrap()
                .contains("Content-Length: 0\r\n")
        );
    }
}
