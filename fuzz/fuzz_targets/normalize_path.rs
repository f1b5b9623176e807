//! Path normalization: canonical output, idempotent.
#![no_main]

use l7proxy::classify::{normalize_host, normalize_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let once = normalize_path(&s).into_owned();
    assert!(once == "*" || once.starts_with('/'), "{s:?} -> {once:?}");
    for bad in ["/./", "/../", "//"] {
        assert!(!once.contains(bad), "{s:?} -> {once:?}");
    }
    assert!(
        !once.ends_with("/.") && !once.ends_with("/.."),
        "{s:?} -> {once:?}"
    );
    assert_eq!(normalize_path(&once), once.as_str());
    let host = normalize_host(&s).into_owned();
    assert_eq!(normalize_host(&host), host.as_str());
});
