//! Request-target and host checks for policy matching.
//!
//! The proxy forwards the target unchanged and matches the path exactly as sent, so the
//! path must mean one thing to every reader: RFC 3986 resolvers, WHATWG URL (Node's
//! `URL`), and servers that decode `%2F`, read `\` as `/`, drop `;params` (Tomcat, Spring)
//! or decode percent-escapes before routing (Express). Rewriting a target into a canonical
//! form for matching while forwarding the original is exactly what lets those readers
//! disagree with the check (`/admin/x/../../api/v2/x` matched as `/api/v2/x` but routed to
//! `/admin` by Express), so a target that is not already canonical is refused instead.
//! Hot path: a canonical target is checked in one scan and returned borrowed.

use std::borrow::Cow;

use super::ParseError;

/// The path a policy matches for a request target: the path as sent, without the query,
/// after checking it is canonical ([`check_path`]). `*` stays `*`; an absolute-form
/// target with an empty path (`http://h?q`) is `/`. A target in another form (no leading
/// `/`, no `scheme://`) is [`ParseError::InvalidTarget`]; a `#` anywhere is
/// [`ParseError::TargetFragment`]. The query is not checked.
pub fn canonical_path(target: &str) -> Result<&str, ParseError> {
    split_target(target).map(|(_, path)| path)
}

/// [`canonical_path`] plus the authority of an absolute-form target (unchecked).
pub(super) fn split_target(target: &str) -> Result<(Option<&str>, &str), ParseError> {
    if target.contains('#') {
        return Err(ParseError::TargetFragment);
    }
    if !valid_escapes(target) {
        return Err(ParseError::MalformedEscape);
    }
    if target == "*" {
        return Ok((None, target));
    }
    let (authority, rest) = if target.starts_with('/') {
        (None, target)
    } else {
        let (authority, rest) = split_absolute(target).ok_or(ParseError::InvalidTarget)?;
        (Some(authority), rest)
    };
    // Byte search: `?` is ASCII, so the index is a char boundary.
    let path = match rest.bytes().position(|b| b == b'?') {
        Some(i) => &rest[..i],
        None => rest,
    };
    if path.is_empty() {
        return Ok((authority, "/"));
    }
    check_path(path)?;
    Ok((authority, path))
}

/// Refuse a path (starting with `/`, without query) that any common reader could resolve
/// to something other than its bytes: a dot-segment (`.`, `..`, `%2e`, `.%2E`, `..;x`,
/// `.;x`), an empty segment (`//`, or `/;x/`, empty once Tomcat drops the parameter),
/// a percent-encoded unreserved character, a backslash (raw or `%5C`) or `%2F`.
/// A trailing slash is fine. One pass, no allocation.
fn check_path(path: &str) -> Result<(), ParseError> {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return Err(ParseError::InvalidTarget);
    }
    let mut segments = b[1..].split(|&c| c == b'/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        check_segment(seg, last)?;
    }
    Ok(())
}

/// One segment between slashes. `last`: nothing follows (so empty means trailing slash).
fn check_segment(seg: &[u8], last: bool) -> Result<(), ParseError> {
    // The segment as Tomcat/Spring resolve it: without `;params`.
    let base_len = seg.iter().position(|&c| c == b';').unwrap_or(seg.len());
    let (mut dots, mut other, mut encoded_unreserved) = (0usize, false, false);
    let mut i = 0;
    while i < seg.len() {
        let c = seg[i];
        let in_base = i < base_len;
        let decoded = if c == b'%' {
            let digit = |at: usize| seg.get(at).copied().and_then(hex_val);
            let (Some(hi), Some(lo)) = (digit(i + 1), digit(i + 2)) else {
                return Err(ParseError::MalformedEscape);
            };
            let v = (hi << 4) | lo;
            match v {
                b'/' => return Err(ParseError::PathEncodedSlash),
                b'\\' => return Err(ParseError::PathBackslash),
                v if is_unreserved(v) => encoded_unreserved = true,
                _ => {}
            }
            i += 3;
            v
        } else {
            if c == b'\\' {
                return Err(ParseError::PathBackslash);
            }
            i += 1;
            c
        };
        if in_base {
            if decoded == b'.' {
                dots += 1;
            } else {
                other = true;
            }
        }
    }
    if !other && (dots == 1 || dots == 2) {
        return Err(ParseError::PathDotSegment);
    }
    if !last && base_len == 0 {
        return Err(ParseError::PathEmptySegment);
    }
    if encoded_unreserved {
        return Err(ParseError::PathEncodedUnreserved);
    }
    Ok(())
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

/// Validate an authority (Host, absolute-form or CONNECT target) and return the host as
/// policy matches it ([`normalize_host`]).
pub fn authority_host(auth: &str) -> Result<Cow<'_, str>, ParseError> {
    check_authority(auth)?;
    Ok(normalize_host(auth))
}

/// Normalize a host for matching: lower-case, without port, without its one permitted
/// trailing dot (IPv6 literals keep their brackets). Borrowed when already canonical.
/// Only meaningful for an authority [`check_authority`] accepted.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let bare = strip_port(host);
    let bare = if bare.starts_with('[') {
        bare
    } else {
        bare.strip_suffix('.').unwrap_or(bare)
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

/// Validate an authority as sent in Host, an absolute-form or a CONNECT target:
/// `reg-name / IPv4 / "[" IPv6 "]"` (IPv6 in its RFC 5952 form), optional `:port` (digits, <= 65535, may be empty).
/// Userinfo is not accepted. Hostname bytes are limited to `[A-Za-z0-9._-]`, and no
/// label may be empty except after one trailing dot (`foo.bar.com.` is the same name as
/// `foo.bar.com`; `foo.bar.com..`, `foo..bar.com` and `.foo` are refused).
pub(super) fn check_authority(auth: &str) -> Result<(), ParseError> {
    let port = if let Some(v6) = auth.strip_prefix('[') {
        let Some((inner, rest)) = v6.split_once(']') else {
            return Err(ParseError::InvalidHost);
        };
        // One spelling per address: an IP-literal that is not IPv6 in its RFC 5952 text
        // form (any letter case) could name the same host as another spelling a rule
        // does not match, or be read as a name by a server.
        let inner_ok = inner
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.to_string() == inner.to_ascii_lowercase());
        if !inner_ok {
            return Err(ParseError::InvalidHost);
        }
        match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':').ok_or(ParseError::InvalidHost)?),
        }
    } else {
        let (name, port) = match auth.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (auth, None),
        };
        let bytes_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !bytes_ok {
            return Err(ParseError::InvalidHost);
        }
        let labels = name.strip_suffix('.').unwrap_or(name);
        if labels.is_empty() || labels.split('.').any(str::is_empty) {
            return Err(ParseError::HostEmptyLabel);
        }
        port
    };
    let port_ok = port.is_none_or(|p| {
        p.is_empty()
            || (p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 65535))
    });
    if port_ok {
        Ok(())
    } else {
        Err(ParseError::InvalidHost)
    }
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
