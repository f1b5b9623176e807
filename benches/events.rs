//! What an allowed request's EVE `http` record costs the whole process: the emitting
//! thread and the writer thread together, measured as process CPU time
//! (`CLOCK_PROCESS_CPUTIME_ID`), not wall time, because the writer's share happens on
//! another thread and the gather pauses in between cost nothing.
//!
//! Events arrive in bursts of 32 with a pause after each, as 32 keep-alive connections
//! answered in one reactor turn produce them; every measured batch ends with a flush, so
//! the writer's `write(2)` of those lines is inside the figure.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use l7proxy::events::{Event, EventSink, FlowInfo, HttpEvent, Metrics};
use l7proxy::policy::{Direction, PolicyKind, RuleRef};
use nix::time::{ClockId, clock_gettime};

const BURST: u64 = 32;
const PAUSE: Duration = Duration::from_micros(500);

fn process_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map(Duration::from)
        .expect("CLOCK_PROCESS_CPUTIME_ID")
}

fn event() -> Event {
    Event::Http {
        flow: FlowInfo {
            flow_id: 1_234_567,
            src: "10.77.0.21:40000".parse().unwrap(),
            dst: "10.77.0.10:80".parse().unwrap(),
            direction: Direction::Ingress,
            start: SystemTime::now(),
        },
        rule: Some(Arc::new(RuleRef {
            kind: PolicyKind::AntreaNetworkPolicy,
            namespace: Some("default".into()),
            name: "allow-web".into(),
            rule: "rule-0".into(),
            tier: "application".into(),
            priority: 5.0,
            direction: Direction::Ingress,
            enable_logging: false,
            log_label: None,
        })),
        http: HttpEvent {
            tx_id: 7,
            hostname: Some("web.bench".into()),
            http_port: Some(80),
            url: "/api/v2/items/42".into(),
            http_user_agent: Some("wrk".into()),
            http_content_type: Some("text/plain".into()),
            http_method: "GET".into(),
            protocol: "HTTP/1.1",
            status: Some(200),
            length: 1024,
            http2_stream_id: None,
        },
    }
}

fn emit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sink = EventSink::start(dir.path(), Arc::new(Metrics::new())).unwrap();
    let template = event();
    c.bench_function("emit_http_process_cpu", |b| {
        b.iter_custom(|iters| {
            let start = process_cpu();
            for i in 0..iters {
                // The clone stands for the strings the data path builds per request.
                sink.emit(template.clone());
                if i % BURST == BURST - 1 {
                    std::thread::sleep(PAUSE);
                }
            }
            assert!(sink.flush(Duration::from_secs(30)), "writer stuck");
            process_cpu() - start
        })
    });
}

criterion_group!(benches, emit);
criterion_main!(benches);
