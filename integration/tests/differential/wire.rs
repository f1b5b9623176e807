//! How a case talks to a server through the proxy: one raw TCP connection from the client
//! Pod, driven by an [`Action`], ending in what the client saw.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use l7proxy_integration::clients::{Outcome, Verdict};

/// What a case does on its connection.
#[derive(Clone, Debug)]
pub enum Action {
    /// Write the bytes, read until the connection ends.
    Send(Vec<u8>),
    /// Write one byte every `gap` until the proxy cuts the connection (slowloris).
    Trickle(Vec<u8>, Duration),
    /// Write the bytes, then half-close (FIN) and read until the end.
    HalfClose(Vec<u8>),
    /// Write the bytes, then abort the connection with a reset (SO_LINGER 0).
    Abort(Vec<u8>),
    /// Write an HTTP/1.1 upgrade request; when the answer is `101`, speak HTTP/2 (preface,
    /// SETTINGS, HEADERS `GET path` on stream 3) over the switched connection.
    H2c { request: Vec<u8>, path: String },
    /// Write `first`, read the first response, then write `second` on the same connection.
    KeepAlive { first: Vec<u8>, second: Vec<u8> },
}

/// How the client's connection ended and every byte it received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub verdict: Verdict,
    pub bytes: Vec<u8>,
    /// The server switched protocols (a `101` arrived).
    pub switched: bool,
}

impl Seen {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Run `action` on `s`; every read is bounded by `limit`.
pub fn drive(s: &mut TcpStream, action: &Action, limit: Duration) -> Seen {
    let mut got = Vec::new();
    match action {
        Action::Send(data) => {
            if let Err(e) = s.write_all(data) {
                return cut(&e, got);
            }
        }
        Action::Trickle(data, gap) => {
            for b in data {
                if let Err(e) = s.write_all(&[*b]) {
                    return cut(&e, got);
                }
                std::thread::sleep(*gap);
            }
        }
        Action::HalfClose(data) => {
            let _ = s.write_all(data);
            let _ = s.shutdown(Shutdown::Write);
        }
        Action::Abort(data) => {
            let _ = s.write_all(data);
            std::thread::sleep(Duration::from_millis(200));
            let sock = socket2::SockRef::from(&*s);
            let _ = sock.set_linger(Some(Duration::ZERO));
            let _ = s.shutdown(Shutdown::Both);
            // The reset is the client's own; what the server made of it is the verdict.
            return Seen {
                verdict: Verdict::Reset,
                bytes: got,
                switched: false,
            };
        }
        Action::H2c { request, path } => {
            if let Err(e) = s.write_all(request) {
                return cut(&e, got);
            }
            if let Some(v) = read_until(s, &mut got, limit, |b| head_end(b).is_some()) {
                return Seen {
                    verdict: v,
                    bytes: got,
                    switched: false,
                };
            }
            if got.starts_with(b"HTTP/1.1 101") {
                // At once: Apache ends a switched connection whose client preface is late.
                if let Err(e) = s.write_all(&l7proxy_integration::h2wire::get_request(3, path)) {
                    return cut(&e, got);
                }
                let v = read_until(s, &mut got, limit, |_| false).unwrap_or(Verdict::Timeout);
                return Seen {
                    verdict: v,
                    bytes: got,
                    switched: true,
                };
            }
        }
        Action::KeepAlive { first, second } => {
            if let Err(e) = s.write_all(first) {
                return cut(&e, got);
            }
            if let Some(v) = read_until(s, &mut got, limit, |b| head_end(b).is_some()) {
                return Seen {
                    verdict: v,
                    bytes: got,
                    switched: false,
                };
            }
            // Let whatever the server sends after its first response arrive at the proxy.
            std::thread::sleep(Duration::from_millis(300));
            if let Err(e) = s.write_all(second) {
                return cut(&e, got);
            }
        }
    }
    let verdict = read_until(s, &mut got, limit, |_| false).unwrap_or(Verdict::Timeout);
    Seen {
        verdict,
        bytes: got,
        switched: false,
    }
}

/// A write failed: the reset (or whatever it was) is how the connection ended; the read
/// that follows would only see the end of a connection already torn down.
fn cut(e: &std::io::Error, bytes: Vec<u8>) -> Seen {
    Seen {
        verdict: Outcome::from_error(e).result,
        bytes,
        switched: false,
    }
}

/// Read into `got` until `done(got)` (returns `None`) or the connection ends (returns how).
fn read_until(
    s: &mut TcpStream,
    got: &mut Vec<u8>,
    limit: Duration,
    done: impl Fn(&[u8]) -> bool,
) -> Option<Verdict> {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 16 * 1024];
    while !done(got) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Some(Verdict::Timeout);
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut buf) {
            Ok(0) => return Some(Verdict::Closed),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Some(Outcome::from_error(&e).result),
        }
    }
    None
}

fn head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

/// A connection from the client Pod to `to`, from source port `src_port`: each case gets its
/// own port, so its alert event is found by that port alone.
pub fn connect_from(
    lab: &l7proxy_integration::lab::Lab,
    to: std::net::SocketAddr,
    from: std::net::IpAddr,
    src_port: u16,
) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    lab.client
        .run_in(move || -> std::io::Result<TcpStream> {
            let s = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
            s.set_reuse_address(true)?;
            s.bind(&std::net::SocketAddr::new(from, src_port).into())?;
            s.connect_timeout(&to.into(), Duration::from_secs(5))?;
            s.set_tcp_nodelay(true)?;
            Ok(s.into())
        })
        .expect("enter client namespace")
        .expect("connect to web")
}
