//! The sink end to end on real files in a temporary directory: the file exists before any
//! event, lines land whole and parse, truncation while running, the daily switch (with an
//! injected clock), queue-full drops (writer blocked on a FIFO nobody reads) and np.log.

use std::fs;
use std::io::Read as _;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use serde_json::Value;

use super::*;
use crate::policy::PolicyKind;

pub(super) const FLUSH: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    fn at(t: SystemTime) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(t)))
    }
    fn set(&self, t: SystemTime) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

pub(super) fn rule() -> Arc<RuleRef> {
    Arc::new(RuleRef {
        kind: PolicyKind::AntreaNetworkPolicy,
        namespace: Some("default".into()),
        name: "allow-web".into(),
        rule: "rule-0".into(),
        tier: "application".into(),
        priority: 5.0,
        direction: Direction::Ingress,
        enable_logging: true,
        log_label: Some("web".into()),
    })
}

pub(super) fn http(id: u64, url: &str) -> Event {
    Event::Http {
        flow: FlowInfo {
            flow_id: id,
            src: "10.0.0.1:40000".parse().unwrap(),
            dst: "10.0.0.2:80".parse().unwrap(),
            direction: Direction::Ingress,
            start: SystemTime::now(),
        },
        rule: Some(rule()),
        http: HttpEvent {
            url: url.into(),
            http_method: "GET".into(),
            protocol: "HTTP/1.1",
            status: Some(200),
            ..Default::default()
        },
    }
}

pub(super) fn eve_path(dir: &Path) -> PathBuf {
    dir.join(writer::eve_file_name(SystemTime::now()))
}

/// Every line of the file, parsed; panics on a line that is not JSON.
pub(super) fn lines(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn urls(path: &Path) -> Vec<String> {
    lines(path)
        .iter()
        .map(|v| v["http"]["url"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn file_exists_before_any_event() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("nested/l7engine");
    let _sink = EventSink::start(&logs, Arc::new(Metrics::new())).unwrap();
    let path = eve_path(&logs);
    assert!(path.exists(), "{} missing", path.display());
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);
}

#[test]
fn events_land_as_lines_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = EventSink::start(dir.path(), Arc::new(Metrics::new())).unwrap();
    for i in 0..50 {
        sink.emit(http(i, &format!("/{i}")));
    }
    assert!(sink.flush(FLUSH));
    let got = urls(&eve_path(dir.path()));
    let want: Vec<String> = (0..50).map(|i| format!("/{i}")).collect();
    assert_eq!(got, want);
}

#[test]
fn truncation_while_running_loses_nothing_written_after() {
    let dir = tempfile::tempdir().unwrap();
    let sink = EventSink::start(dir.path(), Arc::new(Metrics::new())).unwrap();
    let path = eve_path(dir.path());
    for i in 0..5 {
        sink.emit(http(i, "/before"));
    }
    assert!(sink.flush(FLUSH));
    assert_eq!(urls(&path).len(), 5);

    // What `truncate -s 0` does: open without O_APPEND and set the length.
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    for i in 0..3 {
        sink.emit(http(i, "/after"));
    }
    assert!(sink.flush(FLUSH));
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes.first(), Some(&b'{'), "no hole before the first line");
    assert!(!bytes.contains(&0));
    assert_eq!(urls(&path), vec!["/after"; 3]);
}

#[test]
fn concurrent_emitters_and_truncation_keep_every_line_whole() {
    let dir = tempfile::tempdir().unwrap();
    let sink = EventSink::start_with(
        SinkOptions {
            queue_capacity: 100_000,
            ..SinkOptions::new(dir.path())
        },
        Arc::new(Metrics::new()),
    )
    .unwrap();
    let path = eve_path(dir.path());
    std::thread::scope(|s| {
        for t in 0..4 {
            let sink = sink.clone();
            s.spawn(move || {
                for i in 0..500 {
                    sink.emit(http(t * 1000 + i, &"/x".repeat(i as usize % 50)));
                }
            });
        }
        s.spawn(|| {
            for _ in 0..20 {
                let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(0).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    });
    assert!(sink.flush(FLUSH));
    lines(&path); // every remaining line parses
}

#[test]
fn new_file_when_utc_day_changes() {
    let dir = tempfile::tempdir().unwrap();
    // 2024-09-05T23:59:59.5Z
    let before = UNIX_EPOCH + Duration::from_millis(1_725_580_799_500);
    let clock = ManualClock::at(before);
    let sink = EventSink::start_with_clock(
        SinkOptions::new(dir.path()),
        Arc::new(Metrics::new()),
        clock.clone(),
    )
    .unwrap();
    let day1 = dir.path().join("eve-2024-09-05.json");
    let day2 = dir.path().join("eve-2024-09-06.json");
    let day3 = dir.path().join("eve-2024-09-07.json");
    assert!(day1.exists());
    sink.emit(http(1, "/late"));
    clock.set(before + Duration::from_micros(499_999));
    sink.emit(http(2, "/last"));
    clock.set(before + Duration::from_millis(500));
    sink.emit(http(3, "/midnight"));
    clock.set(before + Duration::from_secs(1));
    sink.emit(http(4, "/early"));
    assert!(sink.flush(FLUSH));
    assert_eq!(urls(&day1), vec!["/late", "/last"]);
    assert_eq!(urls(&day2), vec!["/midnight", "/early"]);
    assert_eq!(
        lines(&day1)[1]["timestamp"],
        "2024-09-05T23:59:59.999999+0000"
    );
    assert_eq!(
        lines(&day2)[0]["timestamp"],
        "2024-09-06T00:00:00.000000+0000"
    );
    assert_eq!(
        lines(&day2)[1]["timestamp"],
        "2024-09-06T00:00:00.500000+0000"
    );

    // Idle across midnight: the writer's tick opens the new day's file by itself.
    clock.set(before + Duration::from_secs(86_401));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !day3.exists() {
        assert!(Instant::now() < deadline, "no file for the new day");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn removed_file_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let sink = EventSink::start(dir.path(), Arc::new(Metrics::new())).unwrap();
    let path = eve_path(dir.path());
    fs::remove_file(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "file not recreated");
        std::thread::sleep(Duration::from_millis(50));
    }
    sink.emit(http(1, "/again"));
    assert!(sink.flush(FLUSH));
    assert_eq!(urls(&path), vec!["/again"]);
}

#[test]
fn full_queue_drops_and_counts() {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let path = eve_path(dir.path());
    // A FIFO nobody reads yet: the writer blocks in write(2) once the pipe buffer is full,
    // exactly like a stuck disk, and the queue behind it fills up.
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_nonblock())
        .open(&path)
        .unwrap();
    let metrics = Arc::new(Metrics::new());
    let sink = EventSink::start_with(
        SinkOptions {
            queue_capacity: 4,
            ..SinkOptions::new(dir.path())
        },
        metrics.clone(),
    )
    .unwrap();
    // Back to blocking reads now that a writer holds the FIFO open.
    fcntl(reader.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty())).unwrap();

    let big = "/".to_string() + &"a".repeat(200_000); // one line > pipe buffer
    let emitted = 40u64;
    for i in 0..emitted {
        sink.emit(http(i, if i == 0 { &big } else { "/small" }));
    }
    let dropped = counter(&metrics.encode(), "l7proxy_events_dropped_total");
    // Held at most: the batch the writer took (up to 4 lines, blocked in write(2)) and a
    // full batch of 4 behind it.
    assert!(dropped >= emitted - 2 * 4, "dropped {dropped}");
    assert!(metrics.encode().contains("l7proxy_events_dropped_total"));

    // Unblock: the writer drains, exits once the sink is gone, and closes the FIFO.
    drop(sink);
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    let delivered = text.lines().count() as u64;
    assert_eq!(
        delivered + dropped,
        emitted,
        "every event written or counted"
    );
}

fn libc_nonblock() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}

/// Value of an unlabelled counter in the exposition text.
pub(crate) fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
}

#[test]
fn audit_records_go_to_np_log() {
    let dir = tempfile::tempdir().unwrap();
    let sink = EventSink::start_with(
        SinkOptions {
            applied_to: Some("default/web-0".into()),
            ..SinkOptions::new(dir.path())
        },
        Arc::new(Metrics::new()),
    )
    .unwrap();
    sink.emit(Event::Audit(AuditRecord {
        rule: rule(),
        disposition: "Redirect",
        src: "10.0.0.1:40000".parse().unwrap(),
        dst: "10.0.0.2:80".parse().unwrap(),
        length: 60,
    }));
    assert!(sink.flush(FLUSH));
    let text = fs::read_to_string(dir.path().join("np.log")).unwrap();
    let cols: Vec<&str> = text.trim_end().split(' ').collect();
    assert_eq!(
        cols[2..],
        [
            "AntreaPolicyIngressRule",
            "AntreaNetworkPolicy:default/allow-web",
            "rule-0",
            "Ingress",
            "Redirect",
            "5",
            "default/web-0",
            "10.0.0.1",
            "40000",
            "10.0.0.2",
            "80",
            "TCP",
            "60",
            "web"
        ]
    );
    assert_eq!(lines(&eve_path(dir.path())).len(), 0, "audit is not EVE");
}

#[test]
fn start_fails_cleanly_on_unusable_dir() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"").unwrap();
    let err = EventSink::start(&file, Arc::new(Metrics::new())).unwrap_err();
    assert!(matches!(err, Error::CreateDir { .. }), "{err}");
}

#[test]
fn write_failures_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    // /dev/full fails every write with ENOSPC, like a full disk.
    std::os::unix::fs::symlink("/dev/full", eve_path(dir.path())).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.path().join("np.log")).unwrap();
    let metrics = Arc::new(Metrics::new());
    let sink = EventSink::start(dir.path(), metrics.clone()).unwrap();
    for i in 0..3 {
        sink.emit(http(i, "/lost"));
    }
    sink.emit(Event::Audit(AuditRecord {
        rule: rule(),
        disposition: "Allow",
        src: "10.0.0.1:40000".parse().unwrap(),
        dst: "10.0.0.2:80".parse().unwrap(),
        length: 0,
    }));
    assert!(sink.flush(FLUSH));
    let text = metrics.encode();
    assert_eq!(counter(&text, "l7proxy_events_write_failed_total"), 4);
    assert_eq!(counter(&text, "l7proxy_events_dropped_total"), 0);
}

mod limits;
