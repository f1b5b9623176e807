use super::*;
use crate::classify::ClientHello;
use proptest::prelude::*;

const OPENSSL: &[u8] = include_bytes!("../testdata/openssl_sni_alpn.bin");
const OPENSSL_TLS12_NOSNI: &[u8] = include_bytes!("../testdata/openssl_tls12_nosni.bin");
const RUSTLS_PQ: &[u8] = include_bytes!("../testdata/rustls_pq.bin");

fn done(buf: &[u8]) -> (ClientHello, usize) {
    match parse_client_hello(buf) {
        Ok(HelloParse::Done { hello, consumed }) => (hello, consumed),
        other => panic!("{other:?}"),
    }
}

/// The handshake message (header included) of a single-record hello.
fn message(record: &[u8]) -> &[u8] {
    &record[RECORD_HEADER..]
}

/// Frame a handshake message into records of the given payload sizes (last takes the rest).
fn frame(msg: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = msg;
    for (i, &n) in sizes.iter().enumerate() {
        let n = if i + 1 == sizes.len() {
            rest.len()
        } else {
            n.min(rest.len())
        };
        let (chunk, tail) = rest.split_at(n);
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(chunk);
        rest = tail;
    }
    out
}

/// Append an extension to a single-record hello, fixing every enclosing length.
fn with_extension(record: &[u8], typ: u16, data: &[u8]) -> Vec<u8> {
    let msg = message(record);
    let mut body = msg[4..].to_vec();
    // Walk to the extensions length field.
    let sid = 2 + 32;
    let suites = sid + 1 + usize::from(body[sid]);
    let comp = suites + 2 + usize::from(u16::from_be_bytes([body[suites], body[suites + 1]]));
    let ext_len_at = comp + 1 + usize::from(body[comp]);
    let ext_len = u16::from_be_bytes([body[ext_len_at], body[ext_len_at + 1]]) as usize;
    let new_len = (ext_len + 4 + data.len()) as u16;
    body[ext_len_at..ext_len_at + 2].copy_from_slice(&new_len.to_be_bytes());
    body.extend_from_slice(&typ.to_be_bytes());
    body.extend_from_slice(&(data.len() as u16).to_be_bytes());
    body.extend_from_slice(data);
    let mut m = vec![1];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&body);
    frame(&m, &[m.len()])
}

#[test]
fn openssl_fixture() {
    let (hello, consumed) = done(OPENSSL);
    assert_eq!(hello.sni.as_deref(), Some("foo.bar.com"));
    assert_eq!(hello.normalized_sni().as_deref(), Some("foo.bar.com"));
    assert_eq!(hello.alpn, ["h2", "http/1.1"]);
    assert_eq!(hello.version, 0x0304);
    assert_eq!(consumed, OPENSSL.len());
}

#[test]
fn openssl_tls12_without_sni() {
    let (hello, _) = done(OPENSSL_TLS12_NOSNI);
    assert_eq!(
        hello,
        ClientHello {
            sni: None,
            alpn: vec![],
            version: 0x0303
        }
    );
}

#[test]
fn rustls_post_quantum_fixture_is_larger_than_an_mtu() {
    assert!(RUSTLS_PQ.len() > 1460, "{}", RUSTLS_PQ.len());
    let (hello, consumed) = done(RUSTLS_PQ);
    assert_eq!(hello.sni.as_deref(), Some("www.example-rustls.com"));
    assert_eq!(hello.alpn, ["h2", "http/1.1"]);
    assert_eq!(hello.version, 0x0304);
    assert_eq!(consumed, RUSTLS_PQ.len());
}

#[test]
fn every_split_point_reports_incomplete_then_done() {
    for fixture in [OPENSSL, RUSTLS_PQ] {
        for i in 0..fixture.len() {
            match parse_client_hello(&fixture[..i]) {
                Ok(HelloParse::Incomplete { at_least }) => {
                    assert!(at_least > i && at_least <= fixture.len(), "{i}: {at_least}")
                }
                other => panic!("prefix {i}: {other:?}"),
            }
        }
        let mut extra = fixture.to_vec();
        extra.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
        assert_eq!(done(&extra).1, fixture.len());
    }
}

#[test]
fn hello_split_across_records() {
    let msg = message(RUSTLS_PQ);
    let want = done(RUSTLS_PQ).0;
    for sizes in [
        &[1usize, 9][..],
        &[2, 1, 1, 5],
        &[4, 100],
        &[700, 700, 700],
        &[100, 1000],
    ] {
        let wire = frame(msg, sizes);
        let (hello, consumed) = done(&wire);
        assert_eq!(hello, want, "{sizes:?}");
        assert_eq!(consumed, wire.len());
        for i in 0..wire.len() {
            assert!(
                matches!(
                    parse_client_hello(&wire[..i]),
                    Ok(HelloParse::Incomplete { .. })
                ),
                "{sizes:?} {i}"
            );
        }
    }
}

#[test]
fn padded_hello_over_2000_bytes() {
    let big = with_extension(RUSTLS_PQ, 21, &[0; 700]);
    assert!(big.len() > 2000);
    assert_eq!(done(&big).0, done(RUSTLS_PQ).0);
    assert_eq!(
        done(&frame(message(&big), &[1400, 1])).1,
        big.len() + RECORD_HEADER
    );
}

#[test]
fn record_level_errors() {
    use ParseError::*;
    let mut bad_type = OPENSSL.to_vec();
    bad_type[0] = 23;
    assert_eq!(parse_client_hello(&bad_type), Err(TlsRecordType(23)));
    assert_eq!(
        parse_client_hello(&[21, 3, 3, 0, 2, 2, 40]),
        Err(TlsRecordType(21))
    );
    assert_eq!(
        parse_client_hello(&[22, 2, 0, 0, 1]),
        Err(TlsRecordVersion(0x0200))
    );
    assert_eq!(parse_client_hello(&[22, 3, 1, 0, 0]), Err(TlsEmptyRecord));
    assert_eq!(
        parse_client_hello(&[22, 3, 1, 0x40, 1]),
        Err(TlsRecordTooLong(0x4001))
    );
    assert_eq!(
        parse_client_hello(&[22, 3, 1, 0, 4, 2, 0, 0, 0]),
        Err(NotClientHello(2))
    );
    // Hello claims 16 MiB.
    assert_eq!(
        parse_client_hello(&[22, 3, 1, 0x40, 0, 1, 0xff, 0xff, 0xff]),
        Err(HelloTooLarge {
            needed: 5 + 4 + 0xffff00 + 0xff,
            max: MAX_HELLO_LEN
        })
    );
    // A zero-length record after the first fragment.
    let mut w = frame(message(OPENSSL), &[10, 1]);
    w.truncate(15);
    w.extend_from_slice(&[22, 3, 1, 0, 0]);
    assert_eq!(parse_client_hello(&w), Err(TlsEmptyRecord));
    // An alert record between fragments.
    let mut w = frame(message(OPENSSL), &[10, 1]);
    w.truncate(15);
    w.extend_from_slice(&[21, 3, 3, 0, 2, 2, 40]);
    assert_eq!(parse_client_hello(&w), Err(TlsRecordType(21)));
    // Record longer than the handshake message it carries (trailing data).
    let mut m = message(OPENSSL).to_vec();
    m.push(0);
    assert_eq!(
        parse_client_hello(&frame(&m, &[m.len()])),
        Err(TlsTrailing("ClientHello record"))
    );
    // Handshake header split across records with a non-hello type.
    assert_eq!(
        parse_client_hello(&[22, 3, 1, 0, 1, 2, 22, 3, 1, 0, 3, 0, 0, 1]),
        Err(NotClientHello(2))
    );
}

#[test]
fn tiny_records_hit_the_cap() {
    let msg = message(RUSTLS_PQ);
    // 1-byte records multiply the wire size by 6: fine for this hello (under 64 KiB).
    let ones = vec![1usize; msg.len()];
    assert_eq!(done(&frame(msg, &ones)).0, done(RUSTLS_PQ).0);
    let big = with_extension(RUSTLS_PQ, 21, &[0; 12000]);
    let ones = vec![1usize; big.len()];
    let wire = frame(message(&big), &ones);
    assert!(matches!(
        parse_client_hello(&wire),
        Err(ParseError::HelloTooLarge { .. })
    ));
}

/// Rebuild the OpenSSL hello with its body bytes edited by `f`.
fn edited(f: impl FnOnce(&mut Vec<u8>)) -> Result<HelloParse, ParseError> {
    let mut body = message(OPENSSL)[4..].to_vec();
    f(&mut body);
    let mut m = vec![1];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&body);
    parse_client_hello(&frame(&m, &[m.len()]))
}

#[test]
fn body_level_errors() {
    use ParseError::*;
    assert_eq!(edited(|b| b.truncate(20)), Err(TlsLength("random")));
    assert_eq!(
        edited(|b| b[34] = 33),
        Err(TlsInvalid("legacy_session_id longer than 32"))
    );
    assert_eq!(
        edited(|b| b.truncate(36)),
        Err(TlsLength("legacy_session_id"))
    );
    assert_eq!(edited(|b| b.push(0)), Err(TlsTrailing("ClientHello")));
    // Extensions block claims 1 byte more than there is.
    let ext_at = |b: &Vec<u8>| {
        let s = 35 + usize::from(b[34]);
        let c = s + 2 + usize::from(u16::from_be_bytes([b[s], b[s + 1]]));
        c + 1 + usize::from(b[c])
    };
    assert_eq!(
        edited(|b| {
            let at = ext_at(b);
            b[at + 1] += 1;
        }),
        Err(TlsLength("extensions"))
    );
    assert_eq!(
        edited(|b| {
            let at = ext_at(b);
            b[at + 1] -= 1;
        }),
        Err(TlsTrailing("ClientHello"))
    );
}

/// A minimal hello body with the given extensions block contents.
fn hello_with_exts(exts: &[u8]) -> Result<HelloParse, ParseError> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(exts);
    let mut m = vec![1];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&body);
    parse_client_hello(&frame(&m, &[m.len()]))
}

fn ext(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut e = typ.to_be_bytes().to_vec();
    e.extend_from_slice(&(data.len() as u16).to_be_bytes());
    e.extend_from_slice(data);
    e
}

fn sni(names: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (t, n) in names {
        list.push(*t);
        list.extend_from_slice(&(n.len() as u16).to_be_bytes());
        list.extend_from_slice(n);
    }
    let mut d = (list.len() as u16).to_be_bytes().to_vec();
    d.extend_from_slice(&list);
    ext(0, &d)
}

#[test]
fn extension_table() {
    use ParseError::*;
    let hello = |sni: Option<&str>, alpn: &[&str], version| {
        Ok(HelloParse::Done {
            hello: ClientHello {
                sni: sni.map(Into::into),
                alpn: alpn.iter().map(|s| s.to_string()).collect(),
                version,
            },
            consumed: 0,
        })
    };
    let run = |exts: Vec<u8>| match hello_with_exts(&exts) {
        Ok(HelloParse::Done { hello, .. }) => Ok(HelloParse::Done { hello, consumed: 0 }),
        other => other,
    };
    let cases: Vec<(Vec<u8>, Result<HelloParse, ParseError>)> = vec![
        (vec![], hello(None, &[], 0x0303)),
        (
            sni(&[(0, b"Foo.example")]),
            hello(Some("Foo.example"), &[], 0x0303),
        ),
        (
            sni(&[(0, b"Foo.example.")]),
            hello(Some("Foo.example."), &[], 0x0303),
        ),
        (
            sni(&[(1, b"x"), (0, b"a.b")]),
            hello(Some("a.b"), &[], 0x0303),
        ),
        (sni(&[(0, b"a\0b")]), Err(InvalidSni)),
        (sni(&[(0, b"caf\xc3\xa9")]), Err(InvalidSni)),
        (sni(&[(0, b"a b")]), Err(InvalidSni)),
        (sni(&[(0, b"")]), Err(InvalidSni)),
        (sni(&[(0, b"a"), (0, b"b")]), Err(InvalidSni)),
        (sni(&[(1, b"a")]), Err(InvalidSni)),
        (ext(0, &[0, 0]), Err(TlsInvalid("empty server_name_list"))),
        (
            ext(0, &[0, 4, 0, 0, 2, b'a']),
            Err(TlsLength("server_name")),
        ),
        (
            ext(0, &[0, 4, 0, 0, 1, b'a', 9]),
            Err(TlsTrailing("server_name extension")),
        ),
        (
            ext(0, &[0, 9, 0, 0, 1, b'a']),
            Err(TlsLength("server_name_list")),
        ),
        (
            [sni(&[(0, b"a")]), sni(&[(0, b"a")])].concat(),
            Err(TlsDuplicateExtension(0)),
        ),
        (
            ext(16, &[0, 5, 2, b'h', b'2', 1, b'x', 0]),
            Err(TlsTrailing("ALPN extension")),
        ),
        (
            ext(16, &[0, 5, 2, b'h', b'2', 1, b'x']),
            hello(None, &["h2", "x"], 0x0303),
        ),
        (
            ext(16, &[0, 7, 2, b'h', b'2']),
            Err(TlsLength("protocol_name_list")),
        ),
        (
            ext(16, &[0, 4, 2, b'h', b'2', 0]),
            Err(TlsInvalid("empty ALPN protocol name")),
        ),
        (
            ext(16, &[0, 0]),
            Err(TlsInvalid("empty ALPN protocol_name_list")),
        ),
        (ext(43, &[4, 0x3a, 0x3a, 3, 4]), hello(None, &[], 0x0304)),
        (ext(43, &[2, 0x3a, 0x3a]), hello(None, &[], 0x0303)),
        (
            ext(43, &[3, 3, 4, 3]),
            Err(TlsInvalid("supported_versions length")),
        ),
        (
            ext(43, &[2, 3, 4, 0]),
            Err(TlsTrailing("supported_versions extension")),
        ),
        (ext(43, &[4, 3, 4]), Err(TlsLength("supported_versions"))),
        (
            [ext(0xfafa, &[]), ext(0x0a0a, &[1])].concat(),
            hello(None, &[], 0x0303),
        ),
        (vec![0], Err(TlsLength("extension type"))),
        (vec![0, 1, 0, 5, 1], Err(TlsLength("extension_data"))),
    ];
    for (i, (exts, want)) in cases.into_iter().enumerate() {
        assert_eq!(run(exts), want, "case {i}");
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_client_hello(&buf);
    }

    #[test]
    fn never_panics_on_mutated_hello(idx in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4), cut in any::<prop::sample::Index>()) {
        let mut b = OPENSSL.to_vec();
        for (i, v) in &idx {
            let at = i.index(b.len());
            b[at] = *v;
        }
        let end = cut.index(b.len() + 1);
        let _ = parse_client_hello(&b[..end]);
    }

    #[test]
    fn any_record_framing_gives_the_same_hello(sizes in proptest::collection::vec(1usize..400, 1..8)) {
        let wire = frame(message(RUSTLS_PQ), &sizes);
        prop_assert_eq!(done(&wire).0, done(RUSTLS_PQ).0);
    }
}

#[test]
fn normalized_sni_is_lower_case_without_trailing_dot() {
    let h = ClientHello {
        sni: Some("Foo.Bar.com.".into()),
        ..ClientHello::default()
    };
    assert_eq!(h.normalized_sni().as_deref(), Some("foo.bar.com"));
    assert_eq!(ClientHello::default().normalized_sni(), None);
}
