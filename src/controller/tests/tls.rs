//! Certificate files: loading, clear errors, and reload after a change.

use std::path::Path;

use super::super::tls::{CertStore, TlsError};

fn write_cert(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let (c, k) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key_pair.serialize_pem()).unwrap();
    (c, k)
}

#[test]
fn loads_and_reloads_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_cert(dir.path(), "one.test");
    let store = CertStore::load(&c, &k).unwrap();
    assert!(!store.reload_if_changed().unwrap(), "unchanged files");
    write_cert(dir.path(), "two.test");
    assert!(
        store.reload_if_changed().unwrap(),
        "new files are picked up"
    );
    assert!(!store.reload_if_changed().unwrap());

    // A broken update is reported and the previous certificate stays in use.
    std::fs::write(&k, "garbage").unwrap();
    assert!(matches!(
        store.reload_if_changed(),
        Err(TlsError::Key { .. })
    ));
    assert!(!store.reload_if_changed().unwrap(), "reported once");
    // A fixed update is picked up again.
    write_cert(dir.path(), "three.test");
    assert!(store.reload_if_changed().unwrap());
}

#[test]
fn clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(
        CertStore::load(&missing, &missing),
        Err(TlsError::Read { .. })
    ));
    let (c, k) = write_cert(dir.path(), "one.test");
    let other = tempfile::tempdir().unwrap();
    let (_, k2) = write_cert(other.path(), "two.test");
    let err = CertStore::load(&c, &k2).unwrap_err();
    assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
    assert!(matches!(
        CertStore::load(&k, &k),
        Err(TlsError::Certificate { .. })
    ));
}
