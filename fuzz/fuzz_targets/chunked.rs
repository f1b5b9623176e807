//! Chunked body tracker: the outcome does not depend on how the input is split.
#![no_main]

use l7proxy::classify::{ChunkedDecoder, ParseError};
use libfuzzer_sys::fuzz_target;

fn feed<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Result<(usize, bool), ParseError> {
    let mut dec = ChunkedDecoder::with_limits(64, 256);
    let mut total = 0;
    for p in pieces {
        let (n, done) = dec.advance(p)?;
        assert!(n <= p.len());
        total += n;
        if done {
            return Ok((total, true));
        }
        assert_eq!(n, p.len());
    }
    Ok((total, false))
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let at = usize::from(cut).min(body.len());
    let whole = feed([body]);
    assert_eq!(whole, feed([&body[..at], &body[at..]]));
    assert_eq!(whole, feed(body.chunks(1)));
});
