use super::*;
use proptest::prelude::*;

/// Feed `input` in the given pieces; return total consumed and done, or the error.
fn feed(dec: &mut ChunkedDecoder, pieces: &[&[u8]]) -> Result<(usize, bool), ParseError> {
    let mut total = 0;
    for p in pieces {
        let (n, done) = dec.advance(p)?;
        total += n;
        if done {
            return Ok((total, true));
        }
        assert_eq!(n, p.len(), "not done but did not consume everything");
    }
    Ok((total, false))
}

fn whole(input: &[u8]) -> Result<(usize, bool), ParseError> {
    feed(&mut ChunkedDecoder::new(), &[input])
}

fn bytewise(input: &[u8]) -> Result<(usize, bool), ParseError> {
    let pieces: Vec<&[u8]> = input.chunks(1).collect();
    feed(&mut ChunkedDecoder::new(), &pieces)
}

#[test]
fn valid_bodies() {
    let cases: &[(&[u8], usize)] = &[
        (b"0\r\n\r\n", 5),
        (b"5\r\nhello\r\n0\r\n\r\n", 15),
        (b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 15),
        (b"A\r\n0123456789\r\n0\r\n\r\n", 20),
        (b"a;name=val\r\n0123456789\r\n0\r\n\r\n", 29),
        (b"5 ;x\r\nhello\r\n0\r\n\r\n", 18),
        (b"5\t\r\nhello\r\n0\r\n\r\n", 16),
        (b"0000000000000005\r\nhello\r\n0\r\n\r\n", 30),
        (b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", 29),
        (b"3\r\n\r\n\r\r\n0\r\n\r\n", 13),
    ];
    for (input, consumed) in cases {
        let want = Ok((*consumed, true));
        assert_eq!(whole(input), want, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(
            bytewise(input),
            want,
            "bytewise {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn incomplete_bodies() {
    for input in [
        &b"5\r\nhel"[..],
        b"5\r\nhello\r\n",
        b"0\r\n",
        b"0\r\nX: y\r\n",
        b"0\r\n\r",
    ] {
        assert_eq!(whole(input), Ok((input.len(), false)), "{input:?}");
    }
}

#[test]
fn invalid_bodies() {
    use ParseError::*;
    let cases: &[(&[u8], ParseError)] = &[
        (b"\r\n", InvalidChunkSize),
        (b"g\r\n", InvalidChunkSize),
        (b"-1\r\n", InvalidChunkSize),
        (b"+5\r\n", InvalidChunkSize),
        (b"0x5\r\n", InvalidChunkSize),
        (b"5 x\r\n", InvalidChunkSize),
        (b"5\n", ChunkMissingCrlf),
        (b"5\rX", ChunkMissingCrlf),
        (b"5;a\nhello", ChunkMissingCrlf),
        (b"5;a\0\r\n", InvalidChunkSize),
        (b"5\r\nhelloX\r\n", ChunkMissingCrlf),
        (b"5\r\nhello\n0\r\n\r\n", ChunkMissingCrlf),
        (b"5\r\nhello\r0", ChunkMissingCrlf),
        (b"00000000000000005\r\n", InvalidChunkSize),
        (b"FFFFFFFFFFFFFFFFF\r\n", InvalidChunkSize),
        (b"0\r\n\n", ChunkMissingCrlf),
        (b"0\r\nX: y\n", ChunkMissingCrlf),
        (b"0\r\n folded\r\n\r\n", InvalidTrailer),
        (b"0\r\nX: \x01\r\n\r\n", InvalidTrailer),
        // Trailer lines must be `token ":" field-value`.
        (b"0\r\nno colon\r\n\r\n", InvalidTrailer),
        (b"0\r\nnocolon\r\n\r\n", InvalidTrailer),
        (b"0\r\nX : y\r\n\r\n", InvalidTrailer),
        (b"0\r\n: y\r\n\r\n", InvalidTrailer),
        (b"0\r\n\tX: y\r\n\r\n", InvalidTrailer),
        (b"0\r\nX(: y\r\n\r\n", InvalidTrailer),
        (b"0\r\nX: y\r\n folded\r\n\r\n", InvalidTrailer),
        (b"0\r\nX: a\x7fb\r\n\r\n", InvalidTrailer),
        (b"0\r\nX\n", ChunkMissingCrlf),
        (b"0\r\nGET / HTTP/1.1\r\n\r\n", InvalidTrailer),
        (b"0\r\n\rX", ChunkMissingCrlf),
    ];
    for (input, err) in cases {
        assert_eq!(
            whole(input),
            Err(err.clone()),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            bytewise(input),
            Err(err.clone()),
            "bytewise {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn valid_trailers_pass() {
    for input in [
        &b"0\r\nX-Checksum: abc\r\n\r\n"[..],
        b"0\r\nA:\r\nB: two words\t\r\nC:x\r\n\r\n",
        b"0\r\nX-Obs: caf\xe9\r\n\r\n",
        b"0\r\n!#$%&'*+-.^_`|~9: v\r\n\r\n",
    ] {
        let want = Ok((input.len(), true));
        assert_eq!(whole(input), want, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(bytewise(input), want);
    }
}

#[test]
fn trailer_field_count_is_bounded() {
    let mut body = b"0\r\n".to_vec();
    for _ in 0..MAX_TRAILER_FIELDS {
        body.extend_from_slice(b"A: b\r\n");
    }
    let ok = [body.as_slice(), b"\r\n"].concat();
    assert_eq!(whole(&ok), Ok((ok.len(), true)));
    body.extend_from_slice(b"A: b\r\n\r\n");
    assert_eq!(
        whole(&body),
        Err(ParseError::TooManyTrailers {
            max: MAX_TRAILER_FIELDS
        })
    );
}

#[test]
fn errors_are_sticky() {
    let mut d = ChunkedDecoder::new();
    assert!(d.advance(b"z").is_err());
    assert_eq!(d.advance(b"0\r\n\r\n"), Err(ParseError::InvalidChunkSize));
}

#[test]
fn limits() {
    let mut d = ChunkedDecoder::with_limits(8, 10);
    assert_eq!(
        d.advance(b"5;aaaaaaaa\r\n"),
        Err(ParseError::ChunkLineTooLong { max: 8 })
    );
    let mut d = ChunkedDecoder::with_limits(8, 10);
    assert_eq!(d.advance(b"5;aaa\r\nhello\r\n"), Ok((14, false)));
    let mut d = ChunkedDecoder::with_limits(8, 10);
    assert_eq!(
        d.advance(b"0\r\nX: 12345678\r\n\r\n"),
        Err(ParseError::TrailersTooLarge { max: 10 })
    );
    // The line limit applies to each size line, not cumulatively.
    let mut d = ChunkedDecoder::with_limits(4, 10);
    assert_eq!(
        d.advance(b"1;a\r\nx\r\n1;b\r\ny\r\n0\r\n\r\n"),
        Ok((21, true))
    );
}

#[test]
fn huge_chunk_sizes_are_tracked_without_overflow() {
    let mut d = ChunkedDecoder::new();
    assert_eq!(d.advance(b"FFFFFFFFFFFFFFFF\r\nabc"), Ok((21, false)));
    assert_eq!(d.data_remaining(), u64::MAX - 3);
}

#[test]
fn skip_data_for_splice() {
    let mut d = ChunkedDecoder::new();
    assert_eq!(d.advance(b"10\r\n"), Ok((4, false)));
    assert_eq!(d.data_remaining(), 16);
    assert_eq!(d.skip_data(100), 16);
    assert_eq!(d.data_remaining(), 0);
    assert_eq!(d.skip_data(1), 0);
    assert_eq!(d.advance(b"\r\n0\r\n\r\n"), Ok((7, true)));
}

#[test]
fn length_and_body_trackers() {
    let mut l = LengthDecoder::new(5);
    assert_eq!(l.advance(b"abc"), (3, false));
    assert_eq!(l.advance(b"defg"), (2, true));
    assert_eq!(l.advance(b"x"), (0, true));
    let mut none = BodyTracker::new(BodyFraming::None);
    assert!(none.is_done());
    assert_eq!(none.advance(b"GET"), Ok((0, true)));
    let mut close = BodyTracker::new(BodyFraming::CloseDelimited);
    assert_eq!(close.advance(b"abc"), Ok((3, false)));
    assert!(!close.is_done());
    let mut ch = BodyTracker::new(BodyFraming::Chunked);
    assert_eq!(ch.advance(b"0\r\n\r\nrest"), Ok((5, true)));
    assert!(ch.is_done());
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let chunk =
        (proptest::collection::vec(any::<u8>(), 1..40), any::<bool>()).prop_map(|(data, ext)| {
            let mut c = format!("{:x}", data.len()).into_bytes();
            if ext {
                c.extend_from_slice(b";k=v");
            }
            c.extend_from_slice(b"\r\n");
            c.extend_from_slice(&data);
            c.extend_from_slice(b"\r\n");
            c
        });
    (proptest::collection::vec(chunk, 0..6), any::<bool>()).prop_map(|(chunks, trailer)| {
        let mut body: Vec<u8> = chunks.concat();
        body.extend_from_slice(b"0\r\n");
        if trailer {
            body.extend_from_slice(b"T: x\r\n");
        }
        body.extend_from_slice(b"\r\n");
        body
    })
}

proptest! {
    #[test]
    fn valid_body_any_split(body in body_strategy(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8), extra in proptest::collection::vec(any::<u8>(), 0..10)) {
        let mut input = body.clone();
        input.extend_from_slice(&extra);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&input[last..p]);
            last = p;
        }
        pieces.push(&input[last..]);
        prop_assert_eq!(feed(&mut ChunkedDecoder::new(), &pieces), Ok((body.len(), true)));
    }

    #[test]
    fn arbitrary_bytes_split_independent(input in proptest::collection::vec(any::<u8>(), 0..200), cut in any::<prop::sample::Index>()) {
        let at = cut.index(input.len() + 1);
        let one = whole(&input);
        let two = feed(&mut ChunkedDecoder::new(), &[&input[..at], &input[at..]]);
        prop_assert_eq!(&one, &two);
        prop_assert_eq!(one, bytewise(&input));
    }
}
