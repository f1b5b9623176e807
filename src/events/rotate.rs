//! Size-based rotation of the EVE file (`run --eve-max-bytes`, `--eve-keep`).
//!
//! The daily switch alone bounds nothing: a day of denied floods or a busy allowed path
//! can fill the node's disk before midnight. When a write would take today's file past
//! the limit, `eve-YYYY-MM-DD.json` becomes `eve-YYYY-MM-DD.json.1` (older ones shift to
//! `.2` ... up to `.keep`, the oldest is removed) and a fresh file is opened, as
//! logrotate's `rotate N` with `size` does. Lines are never split across files.

use std::io;
use std::path::{Path, PathBuf};

/// When to rotate and how many rotated files to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a write would take the file past this many bytes; 0: never.
    pub max_bytes: u64,
    /// Rotated files kept (`.1` is the newest); 0 removes the full file instead.
    pub keep: usize,
}

impl Rotation {
    pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;
    pub const DEFAULT_KEEP: usize = 3;

    /// Whether a file of `current` bytes must be rotated before `incoming` more are
    /// appended. An empty file never is, so one batch larger than the limit still lands.
    pub fn due(&self, current: u64, incoming: usize) -> bool {
        self.max_bytes > 0
            && current > 0
            && current.saturating_add(incoming as u64) > self.max_bytes
    }
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            keep: Self::DEFAULT_KEEP,
        }
    }
}

/// A byte size as `run --eve-max-bytes` takes it: a number with an optional unit, `k`/`KB`
/// = 1000, `KiB` = 1024, likewise `M`/`MiB` and `G`/`GiB` (case-insensitive); `0` is off.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 100MiB, 500M, 0)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown unit (use KiB, MiB, GiB, K, M, G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// `path` with `.n` appended.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Shift `path.1..path.keep-1` up by one (dropping `path.keep`), then rename `path` to
/// `path.1`; with `keep` 0 remove `path`. Missing files are skipped.
pub fn rotate(path: &Path, keep: usize) -> io::Result<()> {
    if keep == 0 {
        return remove_if_present(path);
    }
    remove_if_present(&numbered(path, keep))?;
    for n in (1..keep).rev() {
        match std::fs::rename(numbered(path, n), numbered(path, n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    // Gone already (an operator removed it): nothing to keep, the caller opens a new one.
    match std::fs::rename(path, numbered(path, 1)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> Option<String> {
        std::fs::read_to_string(p).ok()
    }

    #[test]
    fn due_only_past_the_limit_and_never_for_an_empty_file() {
        let r = Rotation {
            max_bytes: 100,
            keep: 3,
        };
        assert!(!r.due(0, 1_000), "an empty file takes any batch");
        assert!(!r.due(60, 40), "exactly at the limit");
        assert!(r.due(60, 41));
        assert!(
            !Rotation {
                max_bytes: 0,
                keep: 3
            }
            .due(u64::MAX, 1),
            "0 = off"
        );
    }

    #[test]
    fn rotate_shifts_and_keeps_n() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("eve-2026-01-01.json");
        for g in 1..=5 {
            std::fs::write(&p, format!("gen{g}")).unwrap();
            rotate(&p, 3).unwrap();
            assert!(!p.exists());
        }
        assert_eq!(read(&numbered(&p, 1)).as_deref(), Some("gen5"));
        assert_eq!(read(&numbered(&p, 2)).as_deref(), Some("gen4"));
        assert_eq!(read(&numbered(&p, 3)).as_deref(), Some("gen3"));
        assert_eq!(read(&numbered(&p, 4)), None, "only 3 kept");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("5M"), Ok(5_000_000));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn a_removed_file_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("eve.json");
        std::fs::write(numbered(&p, 1), "old").unwrap();
        rotate(&p, 2).unwrap();
        assert_eq!(read(&numbered(&p, 2)).as_deref(), Some("old"));
        assert!(!numbered(&p, 1).exists());
    }

    #[test]
    fn keep_zero_removes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("eve.json");
        std::fs::write(&p, "x").unwrap();
        rotate(&p, 0).unwrap();
        assert!(!p.exists());
        assert!(!numbered(&p, 1).exists());
    }
}
