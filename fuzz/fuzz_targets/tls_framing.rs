//! TLS record framing: no panic, and the verdict does not depend on how the stream is cut
//! into chunks (the first byte says where to cut).
#![no_main]

use l7proxy::classify::TlsFraming;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let whole = TlsFraming::new().feed(stream);
    let mut split = TlsFraming::new();
    let at = usize::from(cut).min(stream.len());
    let first = split.feed(&stream[..at]);
    let both = first.and_then(|()| split.feed(&stream[at..]));
    assert_eq!(whole, both);
    // Byte by byte, the same again.
    let mut bytes = TlsFraming::new();
    let one = stream
        .iter()
        .try_for_each(|b| bytes.feed(std::slice::from_ref(b)));
    assert_eq!(whole, one);
    // A refused stream stays refused.
    if let Err(e) = whole {
        assert_eq!(split.feed(&[23, 3, 3, 0, 0]), Err(e));
    }
});
