//! Manifest loading and validation: any YAML a user can write is either accepted or
//! refused with errors, never a panic; an accepted store always compiles or says why.
#![no_main]

use std::net::SocketAddr;

use l7proxy::policy::{Direction, Flow, Protocol, Store};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut store = Store::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let Ok(value) = serde_json::Value::deserialize(doc) else {
            return;
        };
        if let Err(errors) = store.apply_object("fuzz.yaml", &value) {
            assert!(!errors.is_empty(), "a refusal carries its errors");
        }
    }
    let _ = store.check_references();
    let Ok(snapshot) = store.compile("default", "web", 1) else {
        return;
    };
    let peer: SocketAddr = "10.0.0.2:40000".parse().unwrap();
    let me: SocketAddr = "10.0.0.1:80".parse().unwrap();
    for (direction, src, dst) in [
        (Direction::Ingress, peer, me),
        (Direction::Egress, me, peer),
    ] {
        let _ = snapshot.decide(&Flow {
            direction,
            src,
            dst,
            protocol: Protocol::Tcp,
        });
    }
});
