//! Accept loops of the inbound and outbound listeners.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::events::AppProto;
use crate::policy::Direction;
use crate::proxy::conn;
use crate::proxy::drain::DrainWatch;
use crate::proxy::report::Reporter;
use crate::proxy::state::{Policy, Shared};

/// Where a connection was going before it was captured.
pub trait OrigDst: Send + Sync + 'static {
    fn orig_dst(&self, accepted: &TcpStream) -> io::Result<SocketAddr>;
}

/// Under TPROXY nothing is rewritten: the accepted socket's local address is the
/// original destination.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr;

impl OrigDst for LocalAddr {
    fn orig_dst(&self, accepted: &TcpStream) -> io::Result<SocketAddr> {
        accepted.local_addr()
    }
}

/// Accept until draining starts; each connection runs in its own task.
pub async fn accept_loop<P: Policy>(
    listener: TcpListener,
    direction: Direction,
    shared: Arc<Shared<P>>,
    orig: Arc<dyn OrigDst>,
    mut drain: DrainWatch,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = drain.draining() => return,
        };
        let (stream, src) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors or a connection aborted before accept: back
                // off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let dst = match orig.orig_dst(&stream) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(client.addr = %src, error = %e, "no original destination");
                conn::reset(stream);
                continue;
            }
        };
        let Some(admitted) = shared.try_admit() else {
            let rep = Reporter::new(&shared, shared.flow_id(), src, dst, direction);
            rep.deny(
                Some(&stream),
                None,
                AppProto::Failed,
                "connection limit reached".into(),
                &[],
            );
            conn::reset(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(conn::handle(
            shared.clone(),
            stream,
            direction,
            src,
            dst,
            admitted,
        ));
    }
}
