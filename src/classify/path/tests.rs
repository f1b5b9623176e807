use super::*;
use proptest::prelude::*;

#[test]
fn canonical_path_table() {
    use ParseError::*;
    let cases: &[(&str, Result<&str, ParseError>)] = &[
        ("/", Ok("/")),
        ("*", Ok("*")),
        ("/admin", Ok("/admin")),
        ("/api/", Ok("/api/")),
        ("/a%20b", Ok("/a%20b")),
        ("/a%2fb", Err(PathEncodedSlash)),
        ("/a%2Fb", Err(PathEncodedSlash)),
        ("/a;v=1/b", Ok("/a;v=1/b")),
        ("/...", Ok("/...")),
        ("/.a/..b/", Ok("/.a/..b/")),
        ("/a.", Ok("/a.")),
        ("/a?b=/../c", Ok("/a")),
        ("/a?%7E//\\", Ok("/a")),
        ("/?q", Ok("/")),
        ("http://foo.com/a/b?x", Ok("/a/b")),
        ("https://Foo.com", Ok("/")),
        ("http://foo.com?x=/y", Ok("/")),
        ("/caf\u{e9}/", Ok("/caf\u{e9}/")),
        ("/%E2%82%AC", Ok("/%E2%82%AC")),
        // Dot-segments in every spelling.
        ("/public/../admin", Err(PathDotSegment)),
        ("/a/./b", Err(PathDotSegment)),
        ("/a/.", Err(PathDotSegment)),
        ("/a/..", Err(PathDotSegment)),
        ("/..", Err(PathDotSegment)),
        ("/public/%2e%2e/admin", Err(PathDotSegment)),
        ("/public/%2E%2E/admin", Err(PathDotSegment)),
        ("/public/.%2e/admin", Err(PathDotSegment)),
        ("/public/%2e/admin", Err(PathDotSegment)),
        ("/public/..;/admin", Err(PathDotSegment)),
        ("/public/.;x/admin", Err(PathDotSegment)),
        ("/a/%2e%2e;jsessionid=1/b", Err(PathDotSegment)),
        ("http://foo.com:80/x/../y", Err(PathDotSegment)),
        // Empty segments, also after Tomcat drops a parameter.
        ("//admin", Err(PathEmptySegment)),
        ("/a//b", Err(PathEmptySegment)),
        ("/a//", Err(PathEmptySegment)),
        ("/a/;x/b", Err(PathEmptySegment)),
        ("http://foo.com:80//x", Err(PathEmptySegment)),
        // Encoded unreserved characters.
        ("/%61dmin", Err(PathEncodedUnreserved)),
        ("/%7Euser", Err(PathEncodedUnreserved)),
        ("/a%2eb", Err(PathEncodedUnreserved)),
        ("/a;%61", Err(PathEncodedUnreserved)),
        // Backslashes, fragments, malformed escapes, other forms.
        ("/a\\b", Err(PathBackslash)),
        ("/a%5cb", Err(PathBackslash)),
        ("/a#frag", Err(TargetFragment)),
        ("/a?q#frag", Err(TargetFragment)),
        ("/a%zzb", Err(MalformedEscape)),
        ("/a%4", Err(MalformedEscape)),
        ("", Err(InvalidTarget)),
        ("a/b", Err(InvalidTarget)),
        ("foo.com:443", Err(InvalidTarget)),
    ];
    for (input, want) in cases {
        assert_eq!(canonical_path(input), *want, "input {input:?}");
    }
}

/// Dot-segment reasons win over the encoding ones, so the operator sees the attack class.
#[test]
fn reasons_name_the_class() {
    assert_eq!(
        canonical_path("/a/%2e%2e/b").unwrap_err().to_string(),
        "path has a dot-segment"
    );
    assert_eq!(
        canonical_path("/a//b").unwrap_err().to_string(),
        "path has an empty segment"
    );
    assert_eq!(
        canonical_path("/%41").unwrap_err().to_string(),
        "path has a percent-encoded unreserved character"
    );
    assert_eq!(
        canonical_path("/#x").unwrap_err().to_string(),
        "target has a fragment"
    );
}

#[test]
fn normalize_host_table() {
    let cases = [
        ("foo.bar.com", "foo.bar.com"),
        ("Foo.BAR.com", "foo.bar.com"),
        ("foo.bar.com.", "foo.bar.com"),
        ("foo.bar.com.:8080", "foo.bar.com"),
        ("foo.bar.com..", "foo.bar.com."),
        ("FOO.com:80", "foo.com"),
        ("10.0.0.1:80", "10.0.0.1"),
        ("[::1]", "[::1]"),
        ("[::1]:8080", "[::1]"),
        ("[FE80::1]:1", "[fe80::1]"),
        ("::1", "::1"),
        ("", ""),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_host(input), want, "input {input:?}");
    }
    assert!(matches!(normalize_host("a.b"), Cow::Borrowed(_)));
}

#[test]
fn authority_validation() {
    for ok in [
        "a",
        "foo.bar.com",
        "foo.com:80",
        "foo.com:",
        "[::1]:443",
        "1.2.3.4",
        "a_b",
        "foo.bar.com.",
        "foo.bar.com.:80",
    ] {
        assert_eq!(check_authority(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        ":80",
        "a b",
        "u@h",
        "h:80:80",
        "h:+80",
        "h:65536",
        "h:123456",
        "[::1",
        "[]",
        "[::1]x",
        "[..12]",
        "[0:0::1]",
        "[::ffff:1.2.3.4.5]",
        "[fe80::1%eth0]",
        "h\0",
        "h/x",
        "caf\u{e9}",
    ] {
        assert_eq!(
            check_authority(bad),
            Err(ParseError::InvalidHost),
            "{bad:?}"
        );
    }
    for empty_label in [
        "foo.bar.com..",
        "foo..bar.com",
        ".foo",
        ".",
        "..:80",
        "a..b:1",
    ] {
        assert_eq!(
            check_authority(empty_label),
            Err(ParseError::HostEmptyLabel),
            "{empty_label:?}"
        );
    }
}

#[test]
fn escape_validation() {
    assert!(valid_escapes("/a%20b%2F"));
    assert!(!valid_escapes("/a%2"));
    assert!(!valid_escapes("/a%g0"));
    assert!(!valid_escapes("%"));
}

proptest! {
    /// An accepted path has none of the forms any reader could resolve differently.
    #[test]
    fn accepted_paths_are_canonical(s in "(/|%2e|%2E|%61|%2f|%5c|\\.|\\.\\.|a|b|;|\\?|#|%|%4|\\\\)*") {
        if let Ok(p) = canonical_path(&s) {
            prop_assert!(p == "*" || p.starts_with('/'));
            prop_assert!(!p.contains("//"), "{:?} -> {:?}", s, p);
            prop_assert!(!p.contains('\\') && !p.contains('#') && !p.contains('?'));
            let lower = p.to_ascii_lowercase();
            for bad in ["%2e", "%61", "%2f", "%5c"] {
                prop_assert!(!lower.contains(bad), "{:?} -> {:?}", s, p);
            }
            for seg in p.split('/') {
                let base = seg.split(';').next().unwrap_or_default();
                prop_assert!(base != "." && base != "..", "{:?} -> {:?}", s, p);
            }
            prop_assert!(s.starts_with(p) || p == "/");
        }
    }

    #[test]
    fn canonical_path_any_string(s in any::<String>()) {
        let _ = canonical_path(&s);
    }

    #[test]
    fn normalize_host_is_idempotent(s in "[A-Za-z0-9]{1,4}(\\.[A-Za-z0-9]{1,4}){0,3}\\.?(:[0-9]{1,4})?") {
        prop_assert_eq!(check_authority(&s), Ok(()));
        let once = normalize_host(&s).into_owned();
        prop_assert_eq!(normalize_host(&once).into_owned(), once);
    }
}
