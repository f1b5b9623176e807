//! rustls client with full control over how the ClientHello reaches the wire. rustls's
//! default key exchange sends an X25519MLKEM768 share, so the hello is ~1.6 KB: larger than
//! one segment on a 1500-byte MTU, which is exactly what a proxy's hello parser must survive.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

use super::Target;
use super::http::{HttpRequest, exchange};
use super::outcome::{Outcome, Verdict};

/// How the ClientHello is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelloWrite {
    /// One write (one or more segments, as the kernel likes).
    Whole,
    /// Bytes `..at` in one segment, a pause, then the rest.
    Segments { at: usize, pause: Duration },
    /// Re-framed as two TLS records, the handshake message split at byte `at` of the
    /// record payload.
    Records { at: usize },
}

/// A TLS probe: handshake with `sni`, then HTTP requests inside.
#[derive(Clone, Debug)]
pub struct TlsProbe {
    /// `None`: no SNI extension (rustls sends none for an IP address).
    pub sni: Option<String>,
    pub write: HelloWrite,
    /// Grow the hello (with padding ALPN entries) to at least this many bytes.
    pub min_hello: usize,
    pub tls12_only: bool,
    pub requests: Vec<HttpRequest>,
}

/// Run the probe. Allowed when every HTTP request inside TLS got a response.
pub fn probe(target: &Target, p: &TlsProbe) -> Outcome {
    let hello_and_conn = build_hello(target, p);
    let (hello, mut conn) = match hello_and_conn {
        Ok(v) => v,
        Err(detail) => {
            let mut o = Outcome::new(Verdict::Error);
            o.detail = detail;
            return o;
        }
    };
    let wire = match p.write {
        HelloWrite::Records { at } => match reframe(&hello, at) {
            Ok(w) => w,
            Err(detail) => {
                let mut o = Outcome::new(Verdict::Error);
                o.detail = detail;
                return o;
            }
        },
        _ => hello.clone(),
    };
    let mut sock = match target.connect() {
        Ok(s) => s,
        Err(e) => return Outcome::from_error(&e),
    };
    let written = match p.write {
        HelloWrite::Segments { at, pause } => {
            let at = at.clamp(1, wire.len().saturating_sub(1).max(1));
            sock.write_all(&wire[..at]).and_then(|_| {
                std::thread::sleep(pause);
                sock.write_all(&wire[at..])
            })
        }
        _ => sock.write_all(&wire),
    };
    if let Err(e) = written {
        let mut o = Outcome::from_error(&e);
        o.hello_len = hello.len();
        return o;
    }
    let mut o = if p.requests.is_empty() {
        // No request: allowed means the handshake with the real server completed.
        handshake(&mut conn, &mut sock)
    } else {
        let mut stream = rustls::Stream::new(&mut conn, &mut sock);
        exchange(&mut stream, &p.requests, false)
    };
    o.hello_len = hello.len();
    o
}

fn handshake(conn: &mut ClientConnection, sock: &mut std::net::TcpStream) -> Outcome {
    while conn.is_handshaking() {
        match conn.complete_io(sock) {
            Ok((0, 0)) => return Outcome::from_error(&std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) => return Outcome::from_error(&e),
        }
    }
    Outcome::new(Verdict::Allowed)
}

/// Build the connection and take its first flight (the ClientHello record) out of rustls.
fn build_hello(target: &Target, p: &TlsProbe) -> Result<(Vec<u8>, ClientConnection), String> {
    let name = match &p.sni {
        Some(sni) => ServerName::try_from(sni.clone()).map_err(|e| format!("sni {sni:?}: {e}"))?,
        None => ServerName::IpAddress(target.addr.ip().into()),
    };
    let mut pads = 0usize;
    loop {
        let config = Arc::new(client_config(p.tls12_only, pads)?);
        let mut conn = ClientConnection::new(config, name.clone()).map_err(|e| e.to_string())?;
        let mut hello = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut hello).map_err(|e| e.to_string())?;
        }
        if hello.len() >= p.min_hello || pads > 64 {
            return Ok((hello, conn));
        }
        pads += 1;
    }
}

/// Client config that skips certificate checks (the lab's certificate is self-signed; the
/// probe tests the proxy's decision, not PKI) with `pads` 200-byte filler ALPN entries.
fn client_config(tls12_only: bool, pads: usize) -> Result<ClientConfig, String> {
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    config.alpn_protocols = (0..pads)
        .map(|i| format!("x-pad-{i:03}-{}", "p".repeat(190)).into_bytes())
        .collect();
    if pads > 0 {
        config.alpn_protocols.push(b"http/1.1".to_vec());
    }
    Ok(config)
}

/// Split one handshake record into two records carrying the same handshake bytes.
pub fn reframe(record: &[u8], at: usize) -> Result<Vec<u8>, String> {
    if record.len() < 6 || record[0] != 0x16 {
        return Err("not a TLS handshake record".into());
    }
    let len = u16::from_be_bytes([record[3], record[4]]) as usize;
    if record.len() != 5 + len {
        return Err(format!(
            "expected one record of {len} bytes, got {} bytes",
            record.len()
        ));
    }
    let payload = &record[5..];
    let at = at.clamp(1, len - 1);
    let mut out = Vec::with_capacity(record.len() + 5);
    for part in [&payload[..at], &payload[at..]] {
        out.extend_from_slice(&record[..3]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    Ok(out)
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hello_carries_a_post_quantum_share_and_padding_grows_it() {
        let target = Target::new("127.0.0.1:443".parse().unwrap());
        let mut p = TlsProbe {
            sni: Some("foo.bar.com".into()),
            write: HelloWrite::Whole,
            min_hello: 0,
            tls12_only: false,
            requests: vec![],
        };
        let (hello, _) = build_hello(&target, &p).unwrap();
        // X25519MLKEM768 (1216-byte share) + X25519: more than one 1448-byte MSS.
        assert!(hello.len() > 1448, "hello is {} bytes", hello.len());
        p.min_hello = 2100;
        let (big, _) = build_hello(&target, &p).unwrap();
        assert!(big.len() >= 2100);
        let two = reframe(&big, 700).unwrap();
        assert_eq!(two.len(), big.len() + 5);
        assert_eq!(&two[5..5 + 700], &big[5..5 + 700]);
        assert_eq!(u16::from_be_bytes([two[3], two[4]]), 700);
        assert_eq!(two[705], 0x16);
    }
}
