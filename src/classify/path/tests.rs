use super::*;
use proptest::prelude::*;

#[test]
fn normalize_path_table() {
    let cases = [
        ("/", "/"),
        ("", "/"),
        ("*", "*"),
        ("/admin", "/admin"),
        ("/admin/", "/admin/"),
        ("/public/../admin", "/admin"),
        ("/public/%2e%2e/admin", "/admin"),
        ("/public/%2E%2E/admin", "/admin"),
        ("/public/.%2e/admin", "/admin"),
        ("/%61dmin", "/admin"),
        ("/%7Euser/%2d%5F", "/~user/-_"),
        ("/a%2fb", "/a%2Fb"),
        ("/a%2Fb/../c", "/c"),
        ("/a%20b", "/a%20b"),
        ("/a%zzb", "/a%25zzb"),
        ("/a%4", "/a%254"),
        ("/%4%61", "/%254a"),
        ("//admin", "/admin"),
        ("///a//b///", "/a/b/"),
        ("/a/./b", "/a/b"),
        ("/a/.", "/a/"),
        ("/a/..", "/"),
        ("/a/b/..", "/a/"),
        ("/..", "/"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/a/b/../../../c", "/c"),
        ("/a//../b", "/b"),
        ("/...", "/..."),
        ("/.a/..b/", "/.a/..b/"),
        ("/a?b=/../c", "/a"),
        ("/a/../b?x#y", "/b"),
        ("/a#frag", "/a"),
        ("/?q", "/"),
        ("http://foo.com/a/../b?x", "/b"),
        ("https://Foo.com", "/"),
        ("http://foo.com?x=/y", "/"),
        ("http://foo.com:80//x", "/x"),
        ("foo.com:443", "/foo.com:443"),
        ("a/b", "/a/b"),
        ("/caf\u{e9}/", "/caf\u{e9}/"),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_path(input), want, "input {input:?}");
    }
}

#[test]
fn normalize_path_borrows_when_canonical() {
    for p in [
        "/",
        "/a",
        "/a/b/",
        "/api/v1/items",
        "/a?x=1",
        "http://h/a/b",
    ] {
        assert!(matches!(normalize_path(p), Cow::Borrowed(_)), "{p}");
    }
    for p in ["//a", "/a/./b", "/%61", "a"] {
        assert!(matches!(normalize_path(p), Cow::Owned(_)), "{p}");
    }
}

#[test]
fn normalize_host_table() {
    let cases = [
        ("foo.bar.com", "foo.bar.com"),
        ("Foo.BAR.com", "foo.bar.com"),
        ("foo.bar.com.", "foo.bar.com"),
        ("foo.bar.com.:8080", "foo.bar.com"),
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
    ] {
        assert!(valid_authority(ok), "{ok}");
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
        "h\0",
        "h/x",
        "caf\u{e9}",
    ] {
        assert!(!valid_authority(bad), "{bad:?}");
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
    #[test]
    fn normalize_path_is_idempotent_and_clean(s in "(/|%2e|%2E|%61|%2f|\\.|\\.\\.|a|b|\\?|#|%|%4)*") {
        let once = normalize_path(&s).into_owned();
        let twice = normalize_path(&once).into_owned();
        prop_assert_eq!(&once, &twice);
        prop_assert!(once.starts_with('/'));
        for bad in ["/./", "/../", "//"] {
            prop_assert!(!once.contains(bad), "{:?} -> {:?}", s, once);
        }
        prop_assert!(!once.ends_with("/.") && !once.ends_with("/.."));
    }

    #[test]
    fn normalize_path_any_string(s in any::<String>()) {
        let once = normalize_path(&s).into_owned();
        prop_assert_eq!(normalize_path(&once).into_owned(), once);
    }

    #[test]
    fn normalize_host_is_idempotent(s in "[A-Za-z0-9.:\\[\\]]{0,20}") {
        let once = normalize_host(&s).into_owned();
        prop_assert_eq!(normalize_host(&once).into_owned(), once);
    }
}

#[test]
fn hidden_dot_segments() {
    for p in [
        "/public/..;/admin",
        "/public/.;/x",
        "/a%2F..%2Fb",
        "/a%2f%2E%2E%2fb",
        "/a\\..\\b",
        "/a/..%5cb",
        "/a/%2e%2e;jsessionid=1/b",
    ] {
        assert!(hides_dot_segments(p), "{p}");
    }
    for p in [
        "/a/b",
        "/a/../b",
        "/a;v=1/b",
        "/repo/group%2Fproject/file",
        "/a\\b",
        "/x/%2e%2e/y",
        "/..a;/b",
        "/a/./b;c",
    ] {
        assert!(!hides_dot_segments(p), "{p}");
    }
}

proptest! {
    /// The fast check agrees with the slow path (exactly, for paths whose escapes all
    /// decode; with other escapes it conservatively says "not canonical").
    #[test]
    fn canonical_check_matches_canonicalize(s in "(/|\\.|\\.\\.|a|%41|b)*") {
        prop_assert_eq!(is_canonical(&s), canonicalize(&s) == s);
    }
}
