//! Self-signed certificate for the lab's HTTPS servers. One certificate covers every name the
//! cases use (`foo.bar.com`, `*.bar.com`, ...) so SNI decides the policy outcome, never a
//! certificate error; clients skip verification (curl `-k`, lab-client's no-verify config).

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Names on the lab certificate.
pub const LAB_CERT_NAMES: &[&str] = &[
    "foo.bar.com",
    "*.bar.com",
    "bar.foo.com",
    "*.foo.com",
    "evil.example.com",
    "localhost",
];

/// A certificate and its key, DER-encoded.
pub struct LabCert {
    pub cert: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
}

/// Generate a fresh self-signed certificate for [`LAB_CERT_NAMES`].
pub fn generate() -> Result<LabCert, rcgen::Error> {
    let names: Vec<String> = LAB_CERT_NAMES.iter().map(|s| s.to_string()).collect();
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(names)?;
    Ok(LabCert {
        cert_pem: cert.pem(),
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der())),
    })
}
