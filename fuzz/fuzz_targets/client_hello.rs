//! ClientHello parser: no panic, and its answers are consistent with its own contract.
#![no_main]

use l7proxy::classify::{HelloParse, parse_client_hello};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_client_hello(data) {
        Ok(HelloParse::Incomplete { at_least }) => assert!(at_least > data.len()),
        Ok(HelloParse::Done { hello, consumed }) => {
            assert!(consumed <= data.len());
            // The records it occupied are enough on their own, with the same answer.
            let again = parse_client_hello(&data[..consumed]);
            assert_eq!(again, Ok(HelloParse::Done { hello, consumed }));
        }
        Err(_) => {}
    }
});
