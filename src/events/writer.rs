//! The writer thread: owns the EVE and np.log files, so the data path never touches a
//! file descriptor or waits on a disk.
//!
//! Files are opened with `O_APPEND`: every write lands at the current end of file, so an
//! operator may `truncate -s 0` the log while we run and later lines start at offset 0
//! (no hole of NULs, no torn line). Each batch of lines goes out in one `write(2)` with
//! whole lines only, and nothing is buffered in user space between batches, so a reader
//! sees a line as soon as the batch containing it is written.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDate, Utc};

use super::limit::Limiter;
use super::rotate::{self, Rotation};
use super::{Error, Event, Metrics, SinkOptions, audit, eve};

/// Source of "now" for event timestamps and the daily file switch; injectable for tests.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// What the sink sends to the writer thread.
pub(super) enum Msg {
    /// An event and when it was emitted.
    Event(SystemTime, Box<Event>),
    /// Answer once everything queued before it is written.
    Flush(Sender<()>),
}

/// How long the writer sleeps without events before checking for a new UTC day or a
/// removed file, so today's file exists within a second after midnight even when idle.
const TICK: Duration = Duration::from_secs(1);
/// How long the writer lets events gather after the first one of a batch wakes it.
///
/// Without it the writer wakes for every event: each `emit` then pays a futex wake and
/// the proxy's core a context switch, which measured ~20% of the proxy's CPU under
/// keep-alive load. While the writer sleeps here, senders only push onto the queue. The
/// cost is at most this much delay before a line reaches the file.
const COALESCE: Duration = Duration::from_millis(2);
/// Most events taken off the queue per batch.
const MAX_BATCH: usize = 4096;
/// Buffered bytes that trigger a write inside a batch.
const WRITE_AT: usize = 64 * 1024;

/// `eve-YYYY-MM-DD.json` for the UTC date of `t`.
pub fn eve_file_name(t: SystemTime) -> String {
    format!("eve-{}.json", utc_day(t).format("%Y-%m-%d"))
}

fn utc_day(t: SystemTime) -> NaiveDate {
    DateTime::<Utc>::from(t).date_naive()
}

fn open_append(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })
}

/// Create the directory and today's EVE file, then start the thread.
pub(super) fn spawn(
    options: SinkOptions,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    limiter: Arc<Limiter>,
    rx: Receiver<Msg>,
) -> Result<(), Error> {
    std::fs::create_dir_all(&options.log_dir).map_err(|source| Error::CreateDir {
        path: options.log_dir.clone(),
        source,
    })?;
    let eve = DailyFile::open(&options.log_dir, clock.now())?;
    let writer = Writer {
        eve,
        pending: Vec::with_capacity(WRITE_AT),
        pending_lines: 0,
        lines: eve::LineWriter::with_payload_cap(options.alert_payload_bytes),
        rotation: options.rotation,
        limiter,
        audit: None,
        audit_path: options.log_dir.join("np.log"),
        applied_to: options.applied_to,
        metrics,
        clock,
        failing: false,
    };
    std::thread::Builder::new()
        .name("event-writer".into())
        .spawn(move || writer.run(rx))
        .map_err(Error::Spawn)?;
    Ok(())
}

/// Today's EVE file.
struct DailyFile {
    dir: PathBuf,
    day: NaiveDate,
    /// Midnight UTC after `day`: events from then on belong to the next file. Compared
    /// per event instead of converting each timestamp to a date. `None` past chrono's
    /// last date.
    ends: Option<SystemTime>,
    path: PathBuf,
    file: File,
}

impl DailyFile {
    fn open(dir: &Path, now: SystemTime) -> Result<DailyFile, Error> {
        let path = dir.join(eve_file_name(now));
        let file = open_append(&path)?;
        let day = utc_day(now);
        let ends = day
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().into());
        Ok(DailyFile {
            dir: dir.to_path_buf(),
            day,
            ends,
            path,
            file,
        })
    }
}

struct Writer {
    eve: DailyFile,
    /// Whole lines not yet written to `eve`.
    pending: Vec<u8>,
    pending_lines: u64,
    lines: eve::LineWriter,
    rotation: Rotation,
    limiter: Arc<Limiter>,
    /// np.log, opened on the first audit record.
    audit: Option<File>,
    audit_path: PathBuf,
    applied_to: Option<String>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// A write failed and has been logged; stay quiet (but keep counting) until one works,
    /// so a full disk does not flood the proxy's own log.
    failing: bool,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut flushes = Vec::new();
        loop {
            match rx.recv_timeout(TICK) {
                Ok(msg) => {
                    std::thread::sleep(COALESCE);
                    self.handle(msg, &mut flushes);
                    // Bounded, so flushes are answered even while events keep coming.
                    for _ in 1..MAX_BATCH {
                        match rx.try_recv() {
                            Ok(msg) => self.handle(msg, &mut flushes),
                            Err(_) => break,
                        }
                    }
                    self.write_pending();
                    for done in flushes.drain(..) {
                        let _ = done.send(());
                    }
                    self.report_suppressed();
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.tick();
                    self.report_suppressed();
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.write_pending();
        tracing::debug!("event writer stopped");
    }

    fn handle(&mut self, msg: Msg, flushes: &mut Vec<Sender<()>>) {
        match msg {
            Msg::Flush(done) => flushes.push(done),
            Msg::Event(at, event) => match &*event {
                Event::Audit(rec) => {
                    self.write_audit(&audit::line(rec, at, self.applied_to.as_deref()))
                }
                ev => {
                    if self.eve.ends.is_some_and(|ends| at >= ends) {
                        self.roll(at);
                    }
                    if self.lines.write(ev, at, &mut self.pending) {
                        self.pending_lines += 1;
                        if self.pending.len() >= WRITE_AT {
                            self.write_pending();
                        }
                    }
                }
            },
        }
    }

    /// Idle housekeeping: switch to a new day's file, or recreate a file someone removed
    /// (log rotation by rename/unlink) instead of writing into an unlinked inode.
    fn tick(&mut self) {
        let now = self.clock.now();
        if utc_day(now) > self.eve.day || !self.eve.path.exists() {
            self.roll(now);
        }
    }

    /// One line per second in the proxy's own log while the alert rate limit holds
    /// alerts back, so an operator reading it knows the EVE log has a gap.
    fn report_suppressed(&self) {
        if let Some(n) = self.limiter.summary(std::time::Instant::now()) {
            tracing::warn!(
                alerts.suppressed = n,
                "{n} alerts suppressed by the alert rate limit (denials still enforced)"
            );
        }
    }

    /// Write what belongs to the old file, then open the file for `now`'s day.
    fn roll(&mut self, now: SystemTime) {
        self.write_pending();
        match DailyFile::open(&self.eve.dir, now) {
            Ok(f) => {
                tracing::info!(path = %f.path.display(), "opened EVE log");
                self.eve = f;
            }
            Err(e) => tracing::warn!(error = %e, "cannot open new EVE log; keeping the old one"),
        }
    }

    fn write_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.rotate_if_due();
        match self.eve.file.write_all(&self.pending) {
            Ok(()) => self.recovered(),
            Err(e) => {
                self.failed(&self.eve.path.clone(), &e);
                self.metrics.event_write_failed(self.pending_lines);
            }
        }
        self.pending.clear();
        self.pending_lines = 0;
    }

    /// Rotate today's file when the pending batch would take it past the size limit.
    /// The size is read from the file (one `fstat` per batch), so an operator's
    /// `truncate` is taken into account.
    fn rotate_if_due(&mut self) {
        if self.rotation.max_bytes == 0 {
            return;
        }
        let Ok(meta) = self.eve.file.metadata() else {
            return;
        };
        if !self.rotation.due(meta.len(), self.pending.len()) {
            return;
        }
        match rotate::rotate(&self.eve.path, self.rotation.keep)
            .map_err(|source| Error::Open {
                path: self.eve.path.clone(),
                source,
            })
            .and_then(|()| open_append(&self.eve.path))
        {
            Ok(file) => {
                tracing::info!(path = %self.eve.path.display(), max_bytes = self.rotation.max_bytes, "rotated EVE log");
                self.eve.file = file;
            }
            // Keep writing where we were: losing events is worse than a large file.
            Err(e) => tracing::warn!(error = %e, "cannot rotate the EVE log"),
        }
    }

    fn write_audit(&mut self, line: &str) {
        if self.audit.is_none() {
            match open_append(&self.audit_path) {
                Ok(f) => self.audit = Some(f),
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(error = %e, "cannot open audit log");
                        self.failing = true;
                    }
                    self.metrics.event_write_failed(1);
                    return;
                }
            }
        }
        let Some(f) = &mut self.audit else { return };
        match f.write_all(line.as_bytes()) {
            Ok(()) => self.recovered(),
            Err(e) => {
                self.failed(&self.audit_path.clone(), &e);
                self.metrics.event_write_failed(1);
                // Reopen next time: the file may have been removed or its disk replaced.
                self.audit = None;
            }
        }
    }

    fn failed(&mut self, path: &Path, e: &std::io::Error) {
        if !self.failing {
            tracing::warn!(path = %path.display(), error = %e, "cannot write log; counting lost events until writes succeed");
            self.failing = true;
        }
    }

    fn recovered(&mut self) {
        if self.failing {
            tracing::info!("log writes succeed again");
            self.failing = false;
        }
    }
}
