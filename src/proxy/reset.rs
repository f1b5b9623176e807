//! Ending a connection with a TCP RST instead of a FIN: what a client sees when the proxy
//! refuses it, and how a reset of one side is passed on to the other.

use tokio::net::TcpStream;

use crate::socket;

/// End the connection with a TCP RST.
pub fn reset(stream: TcpStream) {
    if let Err(e) = socket::set_reset_on_close(&stream) {
        tracing::debug!(error = %e, "SO_LINGER failed; closing normally");
    }
    drop(stream);
}

/// Reset both sides of a proxied connection, the upstream first: the client's reset is
/// the last thing that happens to the connection.
pub fn reset_both(client: TcpStream, upstream: TcpStream) {
    reset(upstream);
    reset(client);
}
