//! One connection being served: the client's stream, the upstream once connected, and the
//! reporter that names the flow. Every step from the decision to the relay takes it, so
//! none takes the pieces one by one, and its end (report and reset) is in one place,
//! `conn::handle`.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::proxy::relay;
use crate::proxy::report::Reporter;
use crate::proxy::state::{Policy, Shared};

/// A connection from its L3/L4 decision to its end.
pub struct Session<'a, P> {
    pub shared: &'a Arc<Shared<P>>,
    pub rep: Reporter<'a, P>,
    /// Declared before `client`: a connection that ends without a reset closes its
    /// upstream first, as the client's close follows from it.
    pub upstream: Option<TcpStream>,
    pub client: TcpStream,
}

/// Both streams of a session once the upstream is connected, borrowed together.
pub struct Streams<'s, 'a, P> {
    pub shared: &'a Arc<Shared<P>>,
    pub rep: &'s Reporter<'a, P>,
    pub client: &'s mut TcpStream,
    pub up: &'s mut TcpStream,
}

impl<'a, P> Session<'a, P> {
    /// Keep the connected upstream (so the end of the session resets it with the client)
    /// and lend both streams.
    pub fn with_upstream(&mut self, up: TcpStream) -> Streams<'_, 'a, P> {
        let up = self.upstream.insert(up);
        Streams {
            shared: self.shared,
            rep: &self.rep,
            client: &mut self.client,
            up,
        }
    }
}

impl<P: Policy> Streams<'_, '_, P> {
    /// Relay opaque bytes to the end, the client's passing `check`, and count them. A
    /// refusal is left to the caller to report (its check knows what it refused).
    pub async fn relay<C: relay::Check>(&mut self, check: C) {
        let (cfg, flow) = (&self.shared.config, &self.rep.flow);
        match relay::relay(self.client, self.up, cfg.relay, cfg.idle_timeout, check).await {
            Ok(stats) => {
                self.shared
                    .metrics
                    .bytes_relayed(flow.direction, stats.to_server, stats.to_client);
                if stats.idle_timeout {
                    tracing::debug!(flow.id = flow.flow_id, "idle timeout");
                }
                if stats.reset {
                    // Byte counts are what each side received: the reset went out after
                    // the other side's send queue drained, or after `lost` bytes were
                    // given up.
                    tracing::debug!(
                        flow.id = flow.flow_id,
                        bytes.to_client = stats.to_client,
                        bytes.to_server = stats.to_server,
                        bytes.lost = stats.lost,
                        "reset by a peer; passed on after delivery"
                    );
                }
            }
            Err(e) => tracing::debug!(flow.id = flow.flow_id, error = %e, "relay ended with error"),
        }
    }
}
