//! End-to-end tests of `l7proxy redirect` on the real kernel: a client namespace and a Pod
//! namespace joined by a veth pair (IPv4 + IPv6), the capture rules installed in the Pod by
//! the real binary, and a minimal transparent proxy (IP_TRANSPARENT + SO_MARK listeners that
//! relay to the original destination) standing in for `l7proxy run`.
//!
//! Needs root, `iproute2` and `iptables` (both `iptables-nft` and `iptables-legacy`, as
//! Debian's `iptables` package ships them). Build the binary first: `cargo build`.
//!
//! Also needs `setpriv` and `bash` (util-linux, bash) for the UID cases.

mod capture;
mod lab;
mod lifecycle;
