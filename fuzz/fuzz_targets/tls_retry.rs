//! HelloRetryRequest detection and the second ClientHello: no panic, and the answers are
//! consistent with their own contract.
#![no_main]

use l7proxy::classify::{HelloParse, ServerFirst, parse_retried_hello, parse_server_first};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_server_first(data) {
        Ok(ServerFirst::Incomplete { at_least }) => assert!(at_least > data.len()),
        Ok(ServerFirst::Retry { consumed }) => {
            assert!(consumed <= data.len());
            // The retry's records alone give the same answer.
            assert_eq!(
                parse_server_first(&data[..consumed]),
                Ok(ServerFirst::Retry { consumed })
            );
        }
        Ok(ServerFirst::NotRetry) | Err(_) => {}
    }
    match parse_retried_hello(data) {
        Ok(HelloParse::Incomplete { at_least }) => assert!(at_least > data.len()),
        Ok(HelloParse::Done { hello, consumed }) => {
            assert!(consumed <= data.len());
            let again = parse_retried_hello(&data[..consumed]);
            assert_eq!(again, Ok(HelloParse::Done { hello, consumed }));
        }
        Err(_) => {}
    }
});
