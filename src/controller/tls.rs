//! The webhook's serving certificate, read from the files the chart mounts from its Secret
//! and re-read when they change: the kubelet swaps a Secret volume's files atomically when the
//! Secret is updated (certificate rotation), and the controller must not need a restart.
//! Polling the contents is robust against that symlink swap, unlike inotify on the files.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Problems with the certificate or key files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("{path}: no usable PEM private key: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("{cert} and {key} do not belong together: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The current certificate, swapped in place when the files change. Handshakes in flight
/// keep the one they started with.
#[derive(Debug)]
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// The file contents `current` was built from, to notice a change cheaply.
    loaded: Mutex<(Vec<u8>, Vec<u8>)>,
    /// Contents that failed to load, so a broken update is reported once, not every poll.
    rejected: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

impl CertStore {
    /// Loads the files; fails when they are missing or unusable (the controller must not start
    /// without a certificate).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertStore, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let (cert_pem, key_pem) = read_both(cert_path, key_path)?;
        let key = build(&provider, cert_path, key_path, &cert_pem, &key_pem)?;
        Ok(CertStore {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: ArcSwap::from_pointee(key),
            loaded: Mutex::new((cert_pem, key_pem)),
            rejected: Mutex::new(None),
        })
    }

    /// Re-reads the files; swaps the certificate in if they changed and are valid. `Ok(true)`
    /// when a new certificate is in use. On error the previous certificate stays; the same
    /// broken contents are reported once.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let (cert_pem, key_pem) = read_both(&self.cert_path, &self.key_path)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.0 == cert_pem && loaded.1 == key_pem {
            return Ok(false);
        }
        let mut rejected = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        if rejected
            .as_ref()
            .is_some_and(|(c, k)| *c == cert_pem && *k == key_pem)
        {
            return Ok(false);
        }
        let key = match build(
            &self.provider,
            &self.cert_path,
            &self.key_path,
            &cert_pem,
            &key_pem,
        ) {
            Ok(key) => key,
            Err(e) => {
                *rejected = Some((cert_pem, key_pem));
                return Err(e);
            }
        };
        *rejected = None;
        self.current.store(Arc::new(key));
        *loaded = (cert_pem, key_pem);
        Ok(true)
    }

    /// A server configuration (HTTP/1.1 only, as the API server's webhook client accepts it)
    /// that always presents the current certificate.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read_both(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    Ok((read(cert)?, read(key)?))
}

fn build(
    provider: &CryptoProvider,
    cert_path: &Path,
    key_path: &Path,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            path: cert_path.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert_path.to_owned(),
            reason: "the file holds no CERTIFICATE block".to_owned(),
        });
    }
    let key_err = |reason: String| TlsError::Key {
        path: key_path.to_owned(),
        reason,
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| key_err(e.to_string()))?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| key_err(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(certified)
}
