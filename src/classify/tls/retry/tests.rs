use super::*;
use proptest::prelude::*;

const OPENSSL: &[u8] = include_bytes!("../../testdata/openssl_sni_alpn.bin");

/// A ServerHello handshake message (header included) with the given random: TLS 1.3
/// shape, echoing a 32-byte session id, with supported_versions and key_share.
fn server_hello(random: &[u8; 32]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(random);
    body.push(32);
    body.extend_from_slice(&[9; 32]);
    body.extend_from_slice(&[0x13, 0x01, 0]);
    let exts = [0, 43, 0, 2, 3, 4, 0, 51, 0, 2, 0, 0x17];
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut m = vec![2];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(&body);
    m
}

/// Frame a handshake message into records of the given payload sizes (last takes the
/// rest; none once the message is used up).
fn frame(msg: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = msg;
    for (i, &n) in sizes.iter().enumerate() {
        if rest.is_empty() {
            break;
        }
        let n = if i + 1 == sizes.len() {
            rest.len()
        } else {
            n.min(rest.len())
        };
        let (chunk, tail) = rest.split_at(n);
        out.extend_from_slice(&[22, 3, 3]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(chunk);
        rest = tail;
    }
    out
}

const CCS: [u8; 6] = [20, 3, 3, 0, 1, 1];

fn hrr() -> Vec<u8> {
    let m = server_hello(&HRR_RANDOM);
    frame(&m, &[m.len()])
}

#[test]
fn the_marker_is_sha256_of_hello_retry_request() {
    // `printf HelloRetryRequest | sha256sum`, as RFC 8446 4.1.3 prints it.
    let hex: String = HRR_RANDOM.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(
        hex,
        "CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C"
    );
}

#[test]
fn a_retry_and_where_it_ends() {
    let wire = hrr();
    assert_eq!(
        parse_server_first(&wire),
        Ok(ServerFirst::Retry {
            consumed: wire.len()
        })
    );
    // The compatibility CCS that follows is left for the next look.
    let mut more = wire.clone();
    more.extend_from_slice(&CCS);
    assert_eq!(
        parse_server_first(&more),
        Ok(ServerFirst::Retry {
            consumed: wire.len()
        })
    );
    // After a retry, a second one may come behind that CCS.
    let mut second = CCS.to_vec();
    second.extend_from_slice(&wire);
    assert_eq!(
        parse_server_first(&second),
        Ok(ServerFirst::Retry {
            consumed: second.len()
        })
    );
    for i in 0..wire.len() {
        match parse_server_first(&wire[..i]) {
            Ok(ServerFirst::Incomplete { at_least }) => {
                assert!(at_least > i && at_least <= wire.len(), "{i}: {at_least}")
            }
            other => panic!("prefix {i}: {other:?}"),
        }
    }
}

#[test]
fn an_ordinary_server_hello_is_known_after_its_random() {
    let m = server_hello(&[7; 32]);
    let wire = frame(&m, &[m.len()]);
    // Header, type and length, version and random: 43 bytes tell.
    assert_eq!(parse_server_first(&wire[..43]), Ok(ServerFirst::NotRetry));
    assert!(matches!(
        parse_server_first(&wire[..42]),
        Ok(ServerFirst::Incomplete { .. })
    ));
    // TLS 1.2: more handshake messages in the same record are none of its business.
    let mut coalesced = m.clone();
    coalesced.extend_from_slice(&[11, 0, 0, 3, 0, 0, 0]);
    assert_eq!(
        parse_server_first(&frame(&coalesced, &[coalesced.len()])),
        Ok(ServerFirst::NotRetry)
    );
    let mut after_ccs = CCS.to_vec();
    after_ccs.extend_from_slice(&wire);
    assert_eq!(parse_server_first(&after_ccs), Ok(ServerFirst::NotRetry));
}

#[test]
fn other_first_answers_are_not_retries() {
    // An alert, a server that is not TLS, a CCS then an alert.
    assert_eq!(
        parse_server_first(&[21, 3, 3, 0, 2, 2, 40]),
        Ok(ServerFirst::NotRetry)
    );
    assert_eq!(
        parse_server_first(b"SSH-2.0-OpenSSH_9.2\r\n"),
        Ok(ServerFirst::NotRetry)
    );
    assert_eq!(
        parse_server_first(&[20, 3, 3, 0, 1, 1, 21, 3, 3, 0, 2, 2, 40]),
        Ok(ServerFirst::NotRetry)
    );
}

#[test]
fn a_retry_fragmented_over_records() {
    let m = server_hello(&HRR_RANDOM);
    for sizes in [&[1usize, 1, 1, 1, 100][..], &[5, 33, 1], &[37, 1], &[38, 2]] {
        let wire = frame(&m, sizes);
        assert_eq!(
            parse_server_first(&wire),
            Ok(ServerFirst::Retry {
                consumed: wire.len()
            }),
            "{sizes:?}"
        );
        for i in 0..wire.len() {
            assert!(
                matches!(
                    parse_server_first(&wire[..i]),
                    Ok(ServerFirst::Incomplete { .. })
                ),
                "{sizes:?} {i}"
            );
        }
    }
}

#[test]
fn server_first_errors() {
    use ParseError::*;
    assert_eq!(
        parse_server_first(&[22, 3, 3, 0, 4, 11, 0, 0, 0]),
        Err(NotServerHello(11))
    );
    assert_eq!(
        parse_server_first(&[22, 3, 3, 0, 4, 2, 0, 0, 33]),
        Err(TlsLength("ServerHello"))
    );
    assert_eq!(parse_server_first(&[22, 3, 3, 0, 0]), Err(TlsEmptyRecord));
    assert_eq!(
        parse_server_first(&[22, 4, 3, 0, 1]),
        Err(TlsRecordVersion(0x0403))
    );
    assert_eq!(
        parse_server_first(&[22, 3, 3, 0x40, 1]),
        Err(TlsRecordTooLong(0x4001))
    );
    assert_eq!(
        parse_server_first(&[20, 3, 3, 0, 1, 2]),
        Err(TlsChangeCipherSpec)
    );
    assert_eq!(
        parse_server_first(&[20, 3, 3, 0, 2, 1, 1]),
        Err(TlsChangeCipherSpec)
    );
    // Handshake bytes after the retry in its own record.
    let mut m = server_hello(&HRR_RANDOM);
    let len = m.len();
    m.extend_from_slice(&[4, 0, 0, 0]);
    assert_eq!(
        parse_server_first(&frame(&m, &[m.len()])),
        Err(TlsTrailing("HelloRetryRequest record"))
    );
    // An alert between the fragments of a retry.
    let mut w = frame(&m[..len], &[40, 1]);
    w.truncate(45);
    w.extend_from_slice(&[21, 3, 3, 0, 2, 2, 40]);
    assert_eq!(parse_server_first(&w), Err(TlsRecordType(21)));
    // Two CCS records: only one is skipped.
    let mut two = CCS.to_vec();
    two.extend_from_slice(&CCS);
    assert_eq!(parse_server_first(&two), Ok(ServerFirst::NotRetry));
}

#[test]
fn the_second_hello_with_and_without_ccs() {
    let hello = match parse_client_hello(OPENSSL) {
        Ok(HelloParse::Done { hello, .. }) => hello,
        other => panic!("{other:?}"),
    };
    let mut wire = CCS.to_vec();
    wire.extend_from_slice(OPENSSL);
    assert_eq!(
        parse_retried_hello(&wire),
        Ok(HelloParse::Done {
            hello: hello.clone(),
            consumed: wire.len()
        })
    );
    assert_eq!(
        parse_retried_hello(OPENSSL),
        Ok(HelloParse::Done {
            hello,
            consumed: OPENSSL.len()
        })
    );
    for i in 0..wire.len() {
        match parse_retried_hello(&wire[..i]) {
            Ok(HelloParse::Incomplete { at_least }) => {
                assert!(at_least > i && at_least <= wire.len(), "{i}: {at_least}")
            }
            other => panic!("prefix {i}: {other:?}"),
        }
    }
}

#[test]
fn second_hello_errors() {
    use ParseError::*;
    assert_eq!(
        parse_retried_hello(&[20, 3, 3, 0, 1, 0, 22]),
        Err(TlsChangeCipherSpec)
    );
    assert_eq!(
        parse_retried_hello(&[20, 3, 3, 0, 2, 1, 1]),
        Err(TlsChangeCipherSpec)
    );
    // Two CCS, application data, plaintext: none is a hello.
    assert_eq!(
        parse_retried_hello(&[20, 3, 3, 0, 1, 1, 20, 3, 3, 0, 1, 1]),
        Err(TlsRecordType(20))
    );
    assert_eq!(
        parse_retried_hello(&[20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 1, 0]),
        Err(TlsRecordType(23))
    );
    assert_eq!(
        parse_retried_hello(b"GET /admin HTTP/1.1\r\n\r\n"),
        Err(TlsRecordType(b'G'))
    );
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_server_first(&buf);
        let _ = parse_retried_hello(&buf);
    }

    #[test]
    fn any_framing_of_a_retry_is_a_retry(sizes in proptest::collection::vec(1usize..60, 1..8)) {
        let wire = frame(&server_hello(&HRR_RANDOM), &sizes);
        prop_assert_eq!(parse_server_first(&wire), Ok(ServerFirst::Retry { consumed: wire.len() }));
    }

    #[test]
    fn any_other_random_is_not_a_retry(random in any::<[u8; 32]>(), sizes in proptest::collection::vec(1usize..60, 1..8)) {
        prop_assume!(random != HRR_RANDOM);
        let wire = frame(&server_hello(&random), &sizes);
        prop_assert_eq!(parse_server_first(&wire), Ok(ServerFirst::NotRetry));
    }
}
