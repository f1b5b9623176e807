//! The transparent data path: TPROXY listeners, per-connection decision, classification,
//! enforcement, relay. Started by [`crate::app`], which owns the command line, the policy
//! source and the process lifecycle; this module is what it starts: [`Config`], the seams
//! it plugs in ([`listener::OrigDst`], [`service::Resolve`], [`state::Policy`],
//! [`state::Sink`]).
//!
//! Layout: [`listener`] accepts and admits (handing on an [`accepted::Accepted`]), [`conn`]
//! decides per connection (L3/L4 verdict, then classification of the first bytes in [`first_bytes`] for L7 rules)
//! and serves what it allowed, carrying the connection as a [`session::Session`];
//! [`http`] enforces every request of an HTTP/1.x connection (asking [`gate`], using the
//! body framing in `http::framing`), [`relay`] moves opaque bytes, [`service`] picks the endpoint
//! behind a Service VIP for egress (decided on and connected to instead of the VIP),
//! [`upstream`] connects to the original destination, [`reload`] swaps policy snapshots,
//! [`drain`] stops gracefully. Every step that cuts a connection short returns an
//! [`outcome::Denied`], which [`conn`] alone reports (through [`report`], which turns
//! outcomes into events and metrics) and enforces ([`reset`]). [`tls`] follows an allowed
//! TLS connection: a HelloRetryRequest's second hello, then the client's record framing.

mod accepted;
mod buf;
pub mod config;
mod conn;
pub mod drain;
pub mod fds;
mod first_bytes;
mod gate;
mod h2;
mod http;
pub mod listener;
mod outcome;
pub mod relay;
pub mod reload;
mod report;
mod reset;
pub mod service;
mod session;
pub mod state;
mod tls;
mod upstream;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use config::{Config, Http2Deny};
pub use relay::RelayMode;
