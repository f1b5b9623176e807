//! l7proxy enforces Antrea-style Layer 7 NetworkPolicy for one Kubernetes Pod with a
//! transparent (TPROXY) userspace proxy.
//!
//! Data flows one way: a policy *source* (manifests on disk, or [`kube`]) fills the
//! [`policy`] store, which compiles an immutable snapshot; the [`proxy`] asks the snapshot
//! for a decision on each connection (and, for L7 rules, on what [`classify`] read off the
//! wire), relays allowed bytes through [`socket`], and reports to [`events`]. [`app`]
//! starts it all for `l7proxy run`; `ARCHITECTURE.md` draws the whole.

#![deny(unsafe_code)]

pub mod app;
pub mod args;
pub mod classify;
pub mod cli;
pub mod controller;
pub mod events;
pub mod kube;
pub mod manifests;
pub mod matcher;
pub mod policy;
pub mod proxy;
pub mod redirect;
pub mod signal;
#[allow(unsafe_code)]
pub mod socket;
