//! State shared by every connection task: the live policy, the event sink, metrics and
//! limits.
//!
//! The policy is read through `ArcSwap::load`, a lock-free pointer read, once per
//! connection and once per HTTP request; a reload swaps the whole snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use crate::events::{Event, EventSink, Metrics};
use crate::policy::{
    Flow, HttpRequestMeta, L4Verdict, L7Id, L7Verdict, L7Wants, Snapshot, TlsMeta,
};
use crate::proxy::config::Config;
use crate::proxy::drain::DrainWatch;
use crate::proxy::service::{Balancer, Resolve};

/// What the data path asks of a compiled policy; implemented by [`Snapshot`]. A trait so
/// the data path's tests can run with a policy of their own.
pub trait Policy: Send + Sync + 'static {
    fn generation(&self) -> u64;
    fn decide(&self, flow: &Flow) -> L4Verdict;
    fn l7_wants(&self, l7: L7Id) -> L7Wants;
    /// The verdict on one request; `detail` says why only when it is denied.
    fn check_http(&self, l7: L7Id, req: &HttpRequestMeta<'_>) -> L7Verdict;
    fn check_tls(&self, l7: L7Id, hello: &TlsMeta<'_>) -> L7Verdict;
}

impl Policy for Snapshot {
    fn generation(&self) -> u64 {
        Snapshot::generation(self)
    }
    fn decide(&self, flow: &Flow) -> L4Verdict {
        Snapshot::decide(self, flow)
    }
    fn l7_wants(&self, l7: L7Id) -> L7Wants {
        Snapshot::l7_wants(self, l7)
    }
    fn check_http(&self, l7: L7Id, req: &HttpRequestMeta<'_>) -> L7Verdict {
        Snapshot::decide_http(self, l7, req)
    }
    fn check_tls(&self, l7: L7Id, hello: &TlsMeta<'_>) -> L7Verdict {
        Snapshot::check_tls(self, l7, hello)
    }
}

/// Where events go; implemented by [`EventSink`] (and by a collector in tests).
pub trait Sink: Send + Sync + 'static {
    fn emit(&self, event: Event);
}

impl Sink for EventSink {
    fn emit(&self, event: Event) {
        EventSink::emit(self, event)
    }
}

/// Shared by all connection tasks of one proxy.
pub struct Shared<P> {
    pub policy: ArcSwap<P>,
    pub sink: Arc<dyn Sink>,
    pub metrics: Arc<Metrics>,
    pub config: Config,
    /// Lets keep-alive HTTP connections close at a request boundary when draining.
    pub drain: DrainWatch,
    /// Picks the endpoint of egress connections to a Service VIP; `None` when Services
    /// are unknown (manifest mode), and VIPs are then decided on as addressed.
    pub services: Option<Balancer>,
    next_flow_id: AtomicU64,
    next_port: AtomicUsize,
    active: AtomicUsize,
}

impl<P: Policy> Shared<P> {
    pub fn new(
        policy: P,
        sink: Arc<dyn Sink>,
        metrics: Arc<Metrics>,
        config: Config,
        drain: DrainWatch,
    ) -> Self {
        Shared {
            policy: ArcSwap::from_pointee(policy),
            sink,
            metrics,
            config,
            drain,
            services: None,
            // Flow ids only need to be unique per log; start from the clock so ids of
            // successive proxy runs do not repeat.
            next_flow_id: AtomicU64::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_micros() as u64)
                    .unwrap_or(1),
            ),
            next_port: AtomicUsize::new(std::process::id() as usize),
            active: AtomicUsize::new(0),
        }
    }

    /// Resolve egress connections to Service VIPs with `resolve`.
    pub fn with_services(mut self, resolve: Option<Arc<dyn Resolve>>) -> Self {
        self.services = resolve.map(Balancer::new);
        self
    }

    pub fn flow_id(&self) -> u64 {
        self.next_flow_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Next candidate source port for a client-IP-preserving upstream.
    pub fn next_upstream_port(&self) -> u16 {
        let r = &self.config.upstream_ports;
        let span = usize::from(*r.end() - *r.start()) + 1;
        let i = self.next_port.fetch_add(1, Ordering::Relaxed) % span;
        *r.start() + i as u16
    }

    /// Count a new connection; `None` when the limit is reached.
    pub fn try_admit(self: &Arc<Self>) -> Option<Admitted<P>> {
        let prev = self.active.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(self.clone());
        if prev >= self.config.max_connections {
            return None; // dropping `admitted` undoes the increment
        }
        Some(admitted)
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }
}

/// One admitted connection; dropping it frees its slot.
pub struct Admitted<P>(Arc<Shared<P>>);

impl<P> Drop for Admitted<P> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}
