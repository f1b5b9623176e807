//! Synthesized raw IP + TCP packet for the `packet` field of EVE alerts.
//!
//! Suricata logs the packet that triggered an alert; a proxy never sees packets, only a
//! byte stream. So that Suricata tooling (and `tcpdump -r` after wrapping it in a pcap)
//! can still decode what was denied, we build one well-formed packet around the denied
//! bytes: the flow's addresses and ports, PSH|ACK (plain ACK when there is no payload),
//! relative sequence and acknowledgement numbers 1 (as just after the handshake), TTL /
//! hop limit 64, IPv4 DF, valid IPv4 header and TCP checksums. Headers are synthesized;
//! only the payload is real. The link type is `LINKTYPE_RAW` (101): no Ethernet header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// pcap `LINKTYPE_RAW`: the packet starts with the IP header (version from its first nibble).
pub const LINKTYPE_RAW: u32 = 101;

const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const TCP_HEADER: usize = 20;
/// Largest packet we build; IPv4's total-length field caps it, and we keep IPv6 to the
/// same size so one rule covers both.
pub const MAX_PACKET: usize = 65535;
/// Most payload bytes a packet carries whatever the address family.
pub const MAX_PAYLOAD: usize = MAX_PACKET - IPV6_HEADER - TCP_HEADER;

const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const PROTO_TCP: u8 = 6;

/// Build a raw IPv4 (both ends IPv4, or IPv4-mapped IPv6) or IPv6 + TCP packet from
/// `src` to `dst` carrying `payload`, truncated so the packet fits [`MAX_PACKET`].
pub fn synthesize(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    match (src.ip().to_canonical(), dst.ip().to_canonical()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let payload = &payload[..payload.len().min(MAX_PACKET - IPV4_HEADER - TCP_HEADER)];
            ipv4(s, d, src.port(), dst.port(), payload)
        }
        (s, d) => {
            let payload = &payload[..payload.len().min(MAX_PACKET - IPV6_HEADER - TCP_HEADER)];
            ipv6(as_v6(s), as_v6(d), src.port(), dst.port(), payload)
        }
    }
}

fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let tcp_len = TCP_HEADER + payload.len();
    let total = IPV4_HEADER + tcp_len;
    let mut p = Vec::with_capacity(total);
    p.push(0x45); // version 4, IHL 5
    p.push(0); // DSCP/ECN
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]); // identification
    p.extend_from_slice(&0x4000u16.to_be_bytes()); // DF, fragment offset 0
    p.push(64); // TTL
    p.push(PROTO_TCP);
    p.extend_from_slice(&[0, 0]); // header checksum, filled below
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let csum = checksum(&p[..IPV4_HEADER], 0);
    p[10..12].copy_from_slice(&csum.to_be_bytes());

    let pseudo = pseudo_sum(&src.octets(), &dst.octets(), tcp_len as u32);
    push_tcp(&mut p, sport, dport, payload, pseudo);
    p
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let tcp_len = TCP_HEADER + payload.len();
    let mut p = Vec::with_capacity(IPV6_HEADER + tcp_len);
    p.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, traffic class 0, flow label 0
    p.extend_from_slice(&(tcp_len as u16).to_be_bytes());
    p.push(PROTO_TCP); // next header
    p.push(64); // hop limit
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());

    let pseudo = pseudo_sum(&src.octets(), &dst.octets(), tcp_len as u32);
    push_tcp(&mut p, sport, dport, payload, pseudo);
    p
}

/// Append a 20-byte TCP header and the payload, with the checksum over the pseudo-header
/// sum `pseudo`, the header and the payload.
fn push_tcp(p: &mut Vec<u8>, sport: u16, dport: u16, payload: &[u8], pseudo: u32) {
    let start = p.len();
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&1u32.to_be_bytes()); // sequence number
    p.extend_from_slice(&1u32.to_be_bytes()); // acknowledgement number
    p.push(5 << 4); // data offset 5 words, no options
    p.push(if payload.is_empty() {
        TCP_ACK
    } else {
        TCP_PSH | TCP_ACK
    });
    p.extend_from_slice(&u16::MAX.to_be_bytes()); // window
    p.extend_from_slice(&[0, 0]); // checksum, filled below
    p.extend_from_slice(&[0, 0]); // urgent pointer
    p.extend_from_slice(payload);
    let csum = checksum(&p[start..], pseudo);
    p[start + 16..start + 18].copy_from_slice(&csum.to_be_bytes());
}

/// One's-complement sum of the TCP pseudo-header (addresses, protocol, TCP length); the
/// IPv4 and IPv6 forms sum to the same value for the same fields.
fn pseudo_sum(src: &[u8], dst: &[u8], tcp_len: u32) -> u32 {
    sum_words(src, 0)
        + sum_words(dst, 0)
        + u32::from(PROTO_TCP)
        + (tcp_len >> 16)
        + (tcp_len & 0xffff)
}

/// Add `data` as big-endian 16-bit words to `acc` (odd trailing byte padded with zero).
fn sum_words(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
        // Fold early so long payloads (64 KiB of 0xffff words) cannot overflow u32.
        if acc > 0xffff_0000 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Internet checksum (RFC 1071) over `data` plus an initial one's-complement sum.
pub(crate) fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut acc = sum_words(data, initial);
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

#[cfg(test)]
mod tests;
