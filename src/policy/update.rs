//! What a policy source hands the data path.
//!
//! Every source (the manifest files, the Kubernetes API) compiles its own objects, because
//! each keeps its own last good version per object and reports problems where its objects
//! live (the proxy log for files, Kubernetes Events for the cluster). What it hands over is
//! the outcome of one compile, and one follower puts every source's outcomes into effect
//! the same way: a snapshot is installed, a failure is counted and the last good policy
//! stays.

use super::Snapshot;

/// One outcome of a policy source, in the order the source produced them.
#[derive(Debug)]
pub enum Update<P = Snapshot> {
    /// A compiled policy to put in force. What the source left out or kept at its last
    /// good version it has already logged and counted.
    Compiled(P),
    /// Nothing could be put in force: the last good policy stays.
    Failed(Failure),
}

/// Why nothing could be put in force; the message as the source wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A reload of the manifests found no valid change, or could not compile at all.
    Reload(String),
    /// The cluster store could not be compiled as a whole (the protected Pod is not
    /// listed yet).
    Compile(String),
}
