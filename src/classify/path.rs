//! Path and host normalization for policy matching.
//!
//! The proxy forwards the original bytes; these canonical forms exist only so that every
//! spelling a server would resolve to the same resource (`/a/../admin`, `/%61dmin`,
//! `//admin`) is matched as that resource. Hot path: the common already-canonical target
//! is checked in one scan and returned borrowed, without allocating.

use std::borrow::Cow;

/// Normalize an HTTP request target's path for matching: take the path of an origin- or
/// absolute-form target, drop query and fragment, decode percent-encoded unreserved
/// characters (and upper-case the hex of the remaining escapes), remove dot-segments
/// (RFC 3986 5.2.4) and merge repeated slashes, so `/public/../admin`, `/%61dmin` and
/// `/public/%2e%2e/admin` all become `/admin`. `*` stays `*`. The result always starts
/// with `/` (or is `*`) and never contains `//`, `/./` or `/../`.
///
/// A `%` that does not start a valid escape (`%zz`, `%4`) becomes `%25`, so the result
/// is stable under re-normalization; [`super::parse_request`] rejects such targets anyway.
/// Repeated slashes are merged before dot-segments are resolved (`/a//../b` → `/b`), as
/// nginx, Apache and Go's `path.Clean` do.
pub fn normalize_path(target: &str) -> Cow<'_, str> {
    if target == "*" {
        return Cow::Borrowed(target);
    }
    let path = path_part(target);
    if is_canonical(path) {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(canonicalize(path))
    }
}

/// The path of a target without query and fragment (not yet normalized).
pub(super) fn path_part(target: &str) -> &str {
    let path = path_of(target);
    // Byte search: both delimiters are ASCII, so the index is a char boundary.
    match path.bytes().position(|b| b == b'?' || b == b'#') {
        Some(i) => &path[..i],
        None => path,
    }
}

/// True when a reading of `path` that some servers apply and [`normalize_path`] does not
/// — decoding `%2F`/`%5C` to a slash, treating `\` as `/`, dropping `;params` from a
/// segment (Tomcat/Spring) — reveals more dot-segments than the standard reading. Such a
/// path (`/public/..;/admin`, `/public%2F..%2Fadmin`) could reach a resource other than
/// the one we matched, so the request is refused rather than guessed at.
pub(super) fn hides_dot_segments(path: &str) -> bool {
    if !path.bytes().any(|b| matches!(b, b'%' | b'\\' | b';')) {
        return false;
    }
    dot_segments(path, true) > dot_segments(path, false)
}

fn dot_segments(path: &str, lenient: bool) -> usize {
    let b = path.as_bytes();
    let mut view = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escape = (b[i] == b'%')
            .then(|| Some((hex_val(*b.get(i + 1)?)?, hex_val(*b.get(i + 2)?)?)))
            .flatten()
            .map(|(hi, lo)| (hi << 4) | lo);
        match escape {
            Some(v) if is_unreserved(v) => view.push(v),
            Some(b'/' | b'\\') if lenient => view.push(b'/'),
            Some(_) => view.extend_from_slice(&b[i..i + 3]),
            None if lenient && b[i] == b'\\' => view.push(b'/'),
            None => view.push(b[i]),
        }
        i += if escape.is_some() { 3 } else { 1 };
    }
    view.split(|&c| c == b'/')
        .map(|seg| match seg.iter().position(|&c| c == b';') {
            Some(p) if lenient => &seg[..p],
            _ => seg,
        })
        .filter(|seg| matches!(*seg, b"." | b".."))
        .count()
}

/// The path part of an origin-form (`/p`) or absolute-form (`scheme://authority/p`)
/// target. Anything else is returned whole (and gets a leading `/` later).
fn path_of(target: &str) -> &str {
    if target.starts_with('/') {
        return target;
    }
    match split_absolute(target) {
        Some((_, rest)) => rest,
        None => target,
    }
}

/// Split an absolute-form target into `(authority, path-and-rest)`.
pub(super) fn split_absolute(target: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}

/// True when `path` is already what [`canonicalize`] would produce. One pass over the
/// bytes with a two-byte lookahead after each `/` (hot path: most targets are canonical).
fn is_canonical(path: &str) -> bool {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'%' => return false,
            b'/' => {
                let rest = &b[i + 1..];
                let dots = rest.iter().take_while(|&&d| d == b'.').count().min(3);
                let after = rest.get(dots);
                let dot_segment = (dots == 1 || dots == 2) && matches!(after, None | Some(b'/'));
                if rest.first() == Some(&b'/') || dot_segment {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode `%XX` escapes of unreserved characters, upper-case the others, and escape a
/// stray `%`.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape = (b == b'%')
            .then(|| Some((hex_val(*bytes.get(i + 1)?)?, hex_val(*bytes.get(i + 2)?)?)))
            .flatten();
        match escape {
            Some((hi, lo)) => {
                let v = (hi << 4) | lo;
                if is_unreserved(v) {
                    out.push(v);
                } else {
                    out.extend_from_slice(&[b'%', bytes[i + 1], bytes[i + 2]]);
                    let n = out.len();
                    out[n - 2..].make_ascii_uppercase();
                }
                i += 3;
            }
            None if b == b'%' => {
                out.extend_from_slice(b"%25");
                i += 1;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII was substituted for ASCII escapes, so this is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn canonicalize(path: &str) -> String {
    let decoded = decode_unreserved(path);
    let mut out = String::with_capacity(decoded.len() + 1);
    let mut trailing_slash = false;
    for seg in decoded.split('/') {
        trailing_slash = matches!(seg, "" | "." | "..");
        match seg {
            "" | "." => {}
            ".." => {
                let cut = out.rfind('/').unwrap_or(0);
                out.truncate(cut);
            }
            _ => {
                out.push('/');
                out.push_str(seg);
            }
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

/// Normalize a host for matching: lower-case, without port, without trailing dot
/// (IPv6 literals keep their brackets). Borrowed when already canonical.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let bare = strip_port(host);
    let bare = if bare.starts_with('[') {
        bare
    } else {
        bare.trim_end_matches('.')
    };
    if bare.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(bare.to_ascii_lowercase())
    } else {
        Cow::Borrowed(bare)
    }
}

/// `host[:port]` → `host`; `[v6]:port` → `[v6]`. A bare IPv6 address (several colons)
/// is left whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => name,
        _ => host,
    }
}

/// Validate an authority as sent in Host or an absolute-form target:
/// `reg-name / IPv4 / "[" IPv6 "]"`, optional `:port` (digits, <= 65535, may be empty).
/// Userinfo is not accepted. Hostname bytes are limited to `[A-Za-z0-9._-]`.
pub(super) fn valid_authority(auth: &str) -> bool {
    let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
        let Some((inner, rest)) = v6.split_once(']') else {
            return false;
        };
        let inner_ok = !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        let port = match rest {
            "" => None,
            _ => match rest.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        };
        (inner_ok, port)
    } else {
        let (name, port) = match auth.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (auth, None),
        };
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        (ok, port)
    };
    let port_ok = port.is_none_or(|p| {
        p.is_empty()
            || (p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 65535))
    });
    host && port_ok
}

/// True when every `%` in `s` starts a `%XX` escape with two hex digits.
pub(super) fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests;
