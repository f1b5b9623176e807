//! Request-target checks: an accepted path is the target's own bytes (no rewriting) and
//! has none of the forms readers resolve differently; host normalization is idempotent.
#![no_main]

use l7proxy::classify::{authority_host, canonical_path, normalize_host};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(path) = canonical_path(&s) {
        assert!(path == "*" || path.starts_with('/'), "{s:?} -> {path:?}");
        assert!(s.contains(path) || path == "/", "{s:?} -> {path:?}");
        assert!(!s.contains('#'), "{s:?}");
        assert!(!path.contains("//") && !path.contains('\\'), "{s:?} -> {path:?}");
        let lower = path.to_ascii_lowercase();
        for encoded in ["%2e", "%2f", "%5c", "%41", "%7e"] {
            assert!(!lower.contains(encoded), "{s:?} -> {path:?}");
        }
        for seg in path.split('/') {
            let base = seg.split(';').next().unwrap_or_default();
            assert!(base != "." && base != "..", "{s:?} -> {path:?}");
        }
    }
    if let Ok(host) = authority_host(&s) {
        assert!(!host.contains("..") && !host.ends_with('.'), "{s:?} -> {host:?}");
        assert_eq!(normalize_host(&host), host.as_ref());
    }
});
