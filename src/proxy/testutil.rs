//! Loopback socket helpers and fixtures for the data path's unit tests.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::policy::{Direction, PolicyKind, RuleRef};

/// Two ends of a real loopback TCP connection: (connecting side, accepted side).
pub async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, a) = tokio::join!(TcpStream::connect(addr), l.accept());
    (c.unwrap(), a.unwrap().0)
}

/// Deterministic, non-repeating-looking test payload.
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// An ingress rule of an Antrea policy `default/web`, as the L7 rules in tests are.
pub fn rule() -> Arc<RuleRef> {
    Arc::new(RuleRef {
        kind: PolicyKind::AntreaNetworkPolicy,
        namespace: Some("default".into()),
        name: "web".into(),
        rule: "l7".into(),
        tier: "application".into(),
        priority: 5.0,
        direction: Direction::Ingress,
        enable_logging: false,
        log_label: None,
    })
}
