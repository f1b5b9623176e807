//! Network-namespace lab for l7proxy's end-to-end tests: namespaces joined by veth pairs,
//! real servers and real clients, cases described as data.
//!
//! Everything here needs root; tests call [`require_root`] first.

pub mod env;
pub mod error;
pub mod netns;
pub mod process;

pub use env::{l7proxy_bin, lab_bin, require_root, workspace_dir};
pub use error::{Error, Result};
pub use netns::Netns;
pub use process::ChildGuard;

pub mod bench;
pub mod bulk;
pub mod case;
pub mod certs;
pub mod chart;
pub mod clients;
pub mod demo;
pub mod escape;
pub mod eve;
pub mod explain;
pub mod h2wire;
pub mod lab;
pub mod pods;
pub mod policy;
pub mod probe;
pub mod realservers;
pub mod servers;
