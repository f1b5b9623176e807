//! The synthesized packet must decode as a real one: parsed back field by field here, with
//! checksums verified the way a receiver does (sum over the data including the checksum
//! field must be 0xffff), which is a different computation from how they were produced.

use super::*;

/// One's-complement sum folded to 16 bits (receiver-side verification).
fn folded_sum(data: &[u8], initial: u32) -> u16 {
    let mut acc = initial;
    for w in data.chunks(2) {
        let hi = u32::from(w[0]) << 8;
        let lo = w.get(1).copied().map(u32::from).unwrap_or(0);
        acc += hi | lo;
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

struct Decoded {
    version: u8,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    flags: u8,
    payload: Vec<u8>,
}

/// Decode and verify a LINKTYPE_RAW IPv4/IPv6 + TCP packet; panics on any inconsistency.
fn decode(p: &[u8]) -> Decoded {
    let version = p[0] >> 4;
    let (src, dst, tcp, pseudo_src, pseudo_dst): (IpAddr, IpAddr, &[u8], Vec<u8>, Vec<u8>) =
        match version {
            4 => {
                let ihl = usize::from(p[0] & 0x0f) * 4;
                assert_eq!(ihl, 20);
                let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
                assert_eq!(total, p.len(), "IPv4 total length");
                assert_eq!(p[9], 6, "protocol TCP");
                assert_eq!(folded_sum(&p[..ihl], 0), 0xffff, "IPv4 header checksum");
                let s: [u8; 4] = p[12..16].try_into().unwrap();
                let d: [u8; 4] = p[16..20].try_into().unwrap();
                (s.into(), d.into(), &p[ihl..], s.to_vec(), d.to_vec())
            }
            6 => {
                let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
                assert_eq!(plen + 40, p.len(), "IPv6 payload length");
                assert_eq!(p[6], 6, "next header TCP");
                let s: [u8; 16] = p[8..24].try_into().unwrap();
                let d: [u8; 16] = p[24..40].try_into().unwrap();
                (s.into(), d.into(), &p[40..], s.to_vec(), d.to_vec())
            }
            v => panic!("IP version {v}"),
        };
    let mut pseudo = pseudo_src;
    pseudo.extend_from_slice(&pseudo_dst);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
    let pseudo_sum = u32::from(folded_sum(&pseudo, 0));
    assert_eq!(folded_sum(tcp, pseudo_sum), 0xffff, "TCP checksum");
    let off = usize::from(tcp[12] >> 4) * 4;
    assert_eq!(off, 20);
    Decoded {
        version,
        src,
        dst,
        sport: u16::from_be_bytes([tcp[0], tcp[1]]),
        dport: u16::from_be_bytes([tcp[2], tcp[3]]),
        flags: tcp[13],
        payload: tcp[off..].to_vec(),
    }
}

const REQ: &[u8] = b"GET /admin/index.html HTTP/1.1\r\nHost: 10.10.1.3\r\n\r\n";

#[test]
fn ipv4_decodes() {
    let p = synthesize(
        "10.10.1.4:45034".parse().unwrap(),
        "10.10.1.3:80".parse().unwrap(),
        REQ,
    );
    let d = decode(&p);
    assert_eq!(d.version, 4);
    assert_eq!(d.src, "10.10.1.4".parse::<IpAddr>().unwrap());
    assert_eq!(d.dst, "10.10.1.3".parse::<IpAddr>().unwrap());
    assert_eq!((d.sport, d.dport), (45034, 80));
    assert_eq!(d.flags, TCP_PSH | TCP_ACK);
    assert_eq!(d.payload, REQ);
}

#[test]
fn ipv6_decodes_with_odd_payload() {
    let payload = b"GET / HTTP/1.1\r\n\r\nX"; // odd length exercises the padding
    let p = synthesize(
        "[fd00::4]:50000".parse().unwrap(),
        "[fd00::3]:8080".parse().unwrap(),
        payload,
    );
    let d = decode(&p);
    assert_eq!(d.version, 6);
    assert_eq!(d.src, "fd00::4".parse::<IpAddr>().unwrap());
    assert_eq!(d.dst, "fd00::3".parse::<IpAddr>().unwrap());
    assert_eq!((d.sport, d.dport), (50000, 8080));
    assert_eq!(d.payload, payload);
}

#[test]
fn mapped_addresses_become_ipv4_and_mixed_become_ipv6() {
    let p = synthesize(
        "[::ffff:10.0.0.1]:1000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        b"x",
    );
    assert_eq!(decode(&p).version, 4);
    let p = synthesize(
        "10.0.0.1:1000".parse().unwrap(),
        "[fd00::2]:80".parse().unwrap(),
        b"x",
    );
    let d = decode(&p);
    assert_eq!(d.version, 6);
    assert_eq!(d.src, "::ffff:10.0.0.1".parse::<IpAddr>().unwrap());
}

#[test]
fn empty_payload_is_a_plain_ack() {
    let p = synthesize(
        "10.0.0.1:1000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        b"",
    );
    let d = decode(&p);
    assert_eq!(d.flags, TCP_ACK);
    assert!(d.payload.is_empty());
    assert_eq!(p.len(), 40);
}

#[test]
fn large_payload_truncated_to_max_packet() {
    // 0xff bytes make every word 0xffff: the worst case for the checksum accumulator.
    let big = vec![0xffu8; 100_000];
    for (s, d) in [("10.0.0.1:1", "10.0.0.2:2"), ("[fd00::1]:1", "[fd00::2]:2")] {
        let p = synthesize(s.parse().unwrap(), d.parse().unwrap(), &big);
        assert_eq!(p.len(), MAX_PACKET);
        let dec = decode(&p);
        assert!(dec.payload.iter().all(|b| *b == 0xff));
    }
}

#[test]
fn checksum_known_answer() {
    // RFC 1071-style example header (widely published): checksum 0xb861.
    let hdr = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(checksum(&hdr, 0), 0xb861);
}
