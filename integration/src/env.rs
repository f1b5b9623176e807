//! Where the lab finds its privileges and binaries.

use std::path::PathBuf;

/// True when the test may build namespaces. When not root the test is skipped with a
/// message; with `CI` set a skip would hide a broken pipeline, so it panics instead.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("end-to-end lab tests need root (network namespaces, iptables) and CI is set");
    }
    eprintln!("SKIPPED: end-to-end lab test needs root (network namespaces, iptables)");
    false
}

/// The workspace root (parent of the integration crate).
pub fn workspace_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The target directory the binaries were built into (`CARGO_TARGET_DIR` or
/// `<workspace>/target`), profile `debug`.
fn target_debug_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"))
        .join("debug")
}

/// The `l7proxy` binary under test: `L7PROXY_BIN`, else `<workspace>/target/debug/l7proxy`.
pub fn l7proxy_bin() -> PathBuf {
    let path = std::env::var_os("L7PROXY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_debug_dir().join("l7proxy"));
    assert!(
        path.is_file(),
        "l7proxy binary not found at {}: run `cargo build` first (or set L7PROXY_BIN)",
        path.display()
    );
    path
}

/// A binary of this crate (`lab-server`, `lab-client`). Looked up next to the running
/// executable (tests run from `target/debug/deps`), then in `target/debug`; `LAB_BIN_DIR`
/// overrides.
pub fn lab_bin(name: &str) -> PathBuf {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("LAB_BIN_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
        if dir.ends_with("deps")
            && let Some(up) = dir.parent()
        {
            dirs.push(up.to_path_buf());
        }
    }
    dirs.push(target_debug_dir());
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} binary not found in {dirs:?}: run `cargo build -p l7proxy-integration` first")
        })
}
