//! End-to-end benchmark on the netns lab: the same traffic through three modes run
//! interleaved in one invocation, so the machine's noise hits them alike:
//! **D** direct (no capture), **H** HAProxy in transparent mode behind the same TPROXY rules
//! with the policy written as HAProxy ACLs, **P** l7proxy with the policy.
//!
//! Results are reported as min/median/max per mode and as ratios of medians (P/D, P/H):
//! absolute figures on a shared VM mean little, ratios measured side by side do.

pub mod h2load;
pub mod haproxy;
pub mod load;
pub mod mode;
pub mod policy;
pub mod report;
pub mod run;
pub mod server;
pub mod stop;
pub mod topo;
