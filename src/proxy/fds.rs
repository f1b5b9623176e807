//! Fitting `--max-connections` to the open-file limit.
//!
//! Each proxied connection holds two descriptors (client and upstream socket; the splice
//! relay adds two pipes). When the limit that binds is the kernel's open-file limit
//! instead of `--max-connections`, `accept` fails with EMFILE while the connection waits
//! in the backlog, and upstream connects fail mid-connection. So at startup the soft limit
//! is raised to the hard one and the connection limit is lowered to what the descriptors
//! left after a reserve allow: excess connections are then refused cleanly (reset with an
//! alert) by admission, before they cost a descriptor beyond the accept.

use crate::proxy::relay::RelayMode;
use crate::socket;

/// Descriptors kept free besides the connections: admin endpoint connections, the accepted
/// socket of a connection about to be refused, event log rotation, manifest watches,
/// upstream sockets retried during connect.
pub const RESERVE: u64 = 64;

/// Descriptors one proxied connection holds.
pub fn per_connection(mode: RelayMode) -> u64 {
    match mode {
        RelayMode::Copy => 2,
        // Plus one pipe (two descriptors) per direction.
        RelayMode::Splice => 6,
    }
}

/// Connections that fit under `limit` descriptors when `open` are already in use.
pub fn connection_cap(limit: u64, open: u64, per_connection: u64) -> u64 {
    limit.saturating_sub(open.saturating_add(RESERVE)) / per_connection.max(1)
}

/// Raise the open-file limit, then return `requested` capped to what it allows; logs the
/// limit and the cap when it lowers `requested`.
pub fn fit_max_connections(requested: usize, mode: RelayMode) -> usize {
    let before = socket::file_limit();
    let after = match socket::raise_file_limit() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            match before {
                Ok(l) => l,
                Err(_) => return requested,
            }
        }
    };
    let open = socket::open_fds().unwrap_or(0);
    tracing::info!(
        nofile.soft_before = before.map(|l| l.soft).ok(),
        nofile.soft = after.soft,
        nofile.hard = after.hard,
        fds.open = open,
        "open-file limit"
    );
    let cap = connection_cap(after.soft, open, per_connection(mode));
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    if cap < requested {
        tracing::warn!(
            max_connections.requested = requested,
            max_connections.effective = cap,
            nofile.soft = after.soft,
            fds.per_connection = per_connection(mode),
            fds.reserve = RESERVE,
            "open-file limit lowers --max-connections"
        );
        return cap;
    }
    requested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_leaves_the_reserve_and_counts_both_sockets() {
        // 1024 descriptors, 20 open at startup: (1024 - 20 - 64) / 2.
        assert_eq!(connection_cap(1024, 20, 2), 470);
        assert_eq!(
            connection_cap(1024, 20, per_connection(RelayMode::Splice)),
            156
        );
        // Nothing left after the reserve: no connection fits, none is admitted.
        assert_eq!(connection_cap(64, 20, 2), 0);
        assert_eq!(connection_cap(10, 20, 2), 0);
        // Unlimited stays effectively unlimited.
        assert!(connection_cap(u64::MAX, 20, 2) > 1 << 40);
        assert_eq!(connection_cap(1000, 0, 0), 936);
    }
}
