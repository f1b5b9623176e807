use super::*;
use proptest::prelude::*;

const OPENSSL: &[u8] = include_bytes!("../../testdata/openssl_sni_alpn.bin");

fn record(typ: u8, version: u16, payload_len: usize) -> Vec<u8> {
    let mut r = vec![typ];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(payload_len as u16).to_be_bytes());
    r.extend(std::iter::repeat_n(0xab, payload_len));
    r
}

/// What a TLS 1.3 client sends: its hello, the compatibility CCS, then protected records
/// (one empty, one of the largest size allowed).
fn session() -> Vec<u8> {
    let mut s = OPENSSL.to_vec();
    s.extend_from_slice(&[20, 3, 3, 0, 1, 1]);
    for len in [53, 0, 1, 700, MAX_CIPHERTEXT, 17] {
        s.extend_from_slice(&record(23, 0x0303, len));
    }
    s.extend_from_slice(&record(21, 0x0303, 2));
    s
}

fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<TlsFraming, (usize, ParseError)> {
    let mut f = TlsFraming::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    for c in cuts {
        f.feed(&bytes[at..c]).map_err(|e| (c, e))?;
        at = c;
    }
    Ok(f)
}

#[test]
fn a_whole_session_is_accepted_in_one_chunk_and_byte_by_byte() {
    let s = session();
    let mut f = TlsFraming::new();
    assert_eq!(f.feed(&s), Ok(()));
    assert!(f.at_boundary());
    let mut f = TlsFraming::new();
    for (i, b) in s.iter().enumerate() {
        assert_eq!(f.feed(std::slice::from_ref(b)), Ok(()), "byte {i}");
    }
    assert!(f.at_boundary());
    assert!(f.feed(&[]).is_ok());
}

#[test]
fn header_violations() {
    use ParseError::*;
    let cases: &[(&[u8], ParseError)] = &[
        (b"GET /admin HTTP/1.1\r\n\r\n", TlsContentType(b'G')),
        (&[24, 3, 3, 0, 3, 1, 0, 0], TlsContentType(24)),
        (&[19, 3, 3, 0, 1, 0], TlsContentType(19)),
        (&[0, 3, 3, 0, 1, 0], TlsContentType(0)),
        (&[23, 3, 0, 0, 1, 0], TlsLegacyVersion(0x0300)),
        (&[23, 3, 4, 0, 1, 0], TlsLegacyVersion(0x0304)),
        (&[23, 2, 0, 0, 1, 0], TlsLegacyVersion(0x0200)),
        (
            &[23, 3, 3, 0x48, 0x01],
            TlsCiphertextTooLong(MAX_CIPHERTEXT + 1),
        ),
        (&[22, 3, 1, 0, 0], TlsEmptyRecordOf(22)),
        (&[21, 3, 3, 0, 0], TlsEmptyRecordOf(21)),
        (&[20, 3, 3, 0, 0], TlsEmptyRecordOf(20)),
    ];
    for (bytes, want) in cases {
        let mut f = TlsFraming::new();
        assert_eq!(f.feed(bytes).as_ref(), Err(want), "{bytes:?}");
        // Refused for good: later bytes, even valid ones, get the same answer.
        assert_eq!(f.feed(&[23, 3, 3, 0, 0]).as_ref(), Err(want));
        assert_eq!(f.feed(&[]).as_ref(), Err(want));
    }
    // Empty application data and a record of exactly the maximum are fine.
    assert!(TlsFraming::new().feed(&[23, 3, 3, 0, 0]).is_ok());
    assert!(TlsFraming::new().feed(&[23, 3, 1, 0x48, 0x00]).is_ok());
}

#[test]
fn plaintext_after_a_valid_hello_is_refused_at_its_first_byte() {
    let mut s = OPENSSL.to_vec();
    s.extend_from_slice(b"GET /admin HTTP/1.1\r\n\r\n");
    let mut f = TlsFraming::new();
    assert_eq!(f.feed(OPENSSL), Ok(()));
    // The next header is only complete after 5 bytes: 4 are still accepted.
    assert_eq!(f.feed(b"GET "), Ok(()));
    assert_eq!(f.feed(b"/"), Err(ParseError::TlsContentType(b'G')));
    assert_eq!(
        TlsFraming::new().feed(&s),
        Err(ParseError::TlsContentType(b'G'))
    );
}

#[test]
fn a_header_split_across_chunks_at_every_point() {
    let s = session();
    for cut in 0..s.len() {
        assert!(feed_split(&s, &[cut]).is_ok(), "cut at {cut}");
    }
}

fn bad_header() -> impl Strategy<Value = [u8; 5]> {
    prop_oneof![
        (any::<u8>().prop_filter("not 20..=23", |t| !(20..=23).contains(t)))
            .prop_map(|t| [t, 3, 3, 0, 1]),
        (any::<u16>().prop_filter("not 1.0-1.2", |v| !(0x0301..=0x0303).contains(v)))
            .prop_map(|v| [23, (v >> 8) as u8, v as u8, 0, 1]),
        ((MAX_CIPHERTEXT as u16 + 1)..=u16::MAX).prop_map(|l| [23, 3, 3, (l >> 8) as u8, l as u8]),
        (20u8..=22).prop_map(|t| [t, 3, 3, 0, 0]),
    ]
}

proptest! {
    #[test]
    fn any_valid_record_sequence_split_anywhere_is_accepted(
        records in proptest::collection::vec((20u8..=23, 0x0301u16..=0x0303, 1usize..3000), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut s = Vec::new();
        for (t, v, len) in records {
            s.extend_from_slice(&record(t, v, len));
        }
        let f = feed_split(&s, &cuts);
        prop_assert!(f.is_ok(), "{:?}", f);
        prop_assert!(f.unwrap().at_boundary());
    }

    #[test]
    fn an_invalid_header_anywhere_is_refused_where_it_completes(
        before in proptest::collection::vec((20u8..=23, 1usize..600), 0..6),
        bad in bad_header(),
        after in proptest::collection::vec(any::<u8>(), 0..50),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut s = Vec::new();
        for (t, len) in before {
            s.extend_from_slice(&record(t, 0x0303, len));
        }
        let bad_end = s.len() + 5;
        s.extend_from_slice(&bad);
        s.extend_from_slice(&after);
        match feed_split(&s, &cuts) {
            Ok(f) => prop_assert!(false, "accepted: {:?}", f),
            // Refused in the chunk that completed the bad header, not before.
            Err((at, _)) => prop_assert!(at >= bad_end, "{} < {}", at, bad_end),
        }
        let mut f = TlsFraming::new();
        prop_assert!(f.feed(&s[..bad_end - 1]).is_ok());
    }

    #[test]
    fn never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..10)) {
        let mut f = TlsFraming::new();
        for c in &chunks {
            let _ = f.feed(c);
        }
    }
}
