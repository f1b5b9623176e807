//! Real clients for what curl cannot do: a rustls client whose default post-quantum key share
//! makes a ClientHello larger than one segment, a hello written in pieces or re-framed over
//! two TLS records, an oversize hello, pipelined HTTP requests, raw bytes, bulk downloads.
//! Each returns an [`Outcome`]: what a policy check needs to know (allowed, reset, ...).

pub mod http;
pub mod outcome;
pub mod tls;

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

pub use outcome::{Outcome, Verdict};
use socket2::{Domain, Socket, Type};

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// Source address to bind (one client namespace holds several Pod addresses).
    pub bind: Option<IpAddr>,
    pub timeout: Duration,
}

impl Target {
    pub fn new(addr: SocketAddr) -> Target {
        Target {
            addr,
            bind: None,
            timeout: Duration::from_secs(5),
        }
    }

    /// Connect with `TCP_NODELAY` (so separate writes leave as separate segments) and
    /// read/write timeouts.
    pub fn connect(&self) -> std::io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(self.addr), Type::STREAM, None)?;
        if let Some(ip) = self.bind {
            socket.bind(&SocketAddr::new(ip, 0).into())?;
        }
        socket.connect_timeout(&self.addr.into(), self.timeout)?;
        socket.set_tcp_nodelay(true)?;
        socket.set_read_timeout(Some(self.timeout))?;
        socket.set_write_timeout(Some(self.timeout))?;
        Ok(socket.into())
    }
}

/// Write `data`, then read until EOF/reset/timeout; allowed when at least one byte came back
/// (the echo server answers).
pub fn raw(target: &Target, data: &[u8]) -> Outcome {
    use std::io::{Read, Write};
    let mut stream = match target.connect() {
        Ok(s) => s,
        Err(e) => return Outcome::from_error(&e),
    };
    if let Err(e) = stream.write_all(data) {
        return Outcome::from_error(&e);
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() >= data.len() {
                    break;
                }
            }
            Err(e) => {
                let mut o = Outcome::from_error(&e);
                o.bytes = got.len() as u64;
                return o;
            }
        }
    }
    let mut o = if got.is_empty() {
        Outcome::new(Verdict::Closed)
    } else {
        Outcome::new(Verdict::Allowed)
    };
    o.bytes = got.len() as u64;
    o.detail = String::from_utf8_lossy(&got[..got.len().min(200)]).into_owned();
    o
}

/// Send `len` bytes of the shared pattern to the bulk server, half-close, and read its
/// verdict; allowed only when the server saw every byte intact.
pub fn upload(target: &Target, len: u64) -> Outcome {
    use std::io::{Read, Write};
    let mut stream = match target.connect() {
        Ok(s) => s,
        Err(e) => return Outcome::from_error(&e),
    };
    let mut pattern = crate::bulk::Pattern::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = len;
    let sent = stream
        .write_all(format!("up {len}\n").as_bytes())
        .and_then(|_| {
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                pattern.fill(&mut buf[..n]);
                stream.write_all(&buf[..n])?;
                left -= n as u64;
            }
            stream.shutdown(std::net::Shutdown::Write)
        });
    if let Err(e) = sent {
        let mut o = Outcome::from_error(&e);
        o.bytes = len - left;
        return o;
    }
    let mut reply = String::new();
    if let Err(e) = stream.read_to_string(&mut reply) {
        return Outcome::from_error(&e);
    }
    let mut o = Outcome::new(match reply.as_str() {
        "ok\n" => Verdict::Allowed,
        "" => Verdict::Closed,
        _ => Verdict::Corrupt,
    });
    o.bytes = len;
    o.detail = reply.trim().to_string();
    o
}

/// Ask the bulk server for `len` bytes and verify them against the shared pattern; allowed
/// only when every byte arrived intact.
pub fn bulk(target: &Target, len: u64) -> Outcome {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};
    let mut stream = match target.connect() {
        Ok(s) => s,
        Err(e) => return Outcome::from_error(&e),
    };
    if let Err(e) = stream.write_all(format!("{len}\n").as_bytes()) {
        return Outcome::from_error(&e);
    }
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) => {
                let mut o = Outcome::from_error(&e);
                o.bytes = total;
                return o;
            }
        }
    }
    let got = crate::bulk::hex(&hasher.finalize());
    let want = crate::bulk::expected_sha256(len);
    let mut o = if total == len && got == want {
        Outcome::new(Verdict::Allowed)
    } else {
        Outcome::new(Verdict::Corrupt)
    };
    o.bytes = total;
    o.detail = format!("sha256 {got} (expected {want})");
    o
}
