//! The writer thread: owns the EVE and np.log files, so the data path never touches a
//! file descriptor or waits on a disk.
//!
//! Files are opened with `O_APPEND`: every write lands at the current end of file, so an
//! operator may `truncate -s 0` the log while we run and later lines start at offset 0
//! (no hole of NULs, no torn line). Each batch of lines goes out in one `write(2)` with
//! whole lines only, and nothing is buffered in user space between batches, so a reader
//! sees a line as soon as the batch containing it is written.
//!
//! The lines themselves are serialized by the emitters ([`super::batch`]); this thread
//! takes them every [`COALESCE`] while they keep coming and sleeps on its queue otherwise.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDate, Utc};

use super::batch::{self, Batch, Taken};
use super::limit::Limiter;
use super::rotate::{self, Rotation};
use super::{AuditRecord, Error, Metrics, SinkOptions, audit};

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
    /// The batch has lines and the writer was asleep.
    Wake,
    /// An np.log record and when it was emitted.
    Audit(SystemTime, Box<AuditRecord>),
    /// Answer once everything queued before it is written.
    Flush(Sender<()>),
}

/// How long the writer sleeps without events before checking for a new UTC day or a
/// removed file, so today's file exists within a second after midnight even when idle.
const TICK: Duration = Duration::from_secs(1);
/// How long the writer lets lines gather between two takes of the batch.
///
/// Without it the writer would wake for every event: each `emit` would pay a futex wake
/// and the proxy's core a context switch, which measured ~20% of the proxy's CPU under
/// keep-alive load. While lines keep coming the writer polls at this period and emitters
/// never wake it. The cost is at most this much delay before a line reaches the file.
const COALESCE: Duration = Duration::from_millis(2);
/// Most messages taken off the queue per round, so flushes are answered even while np.log
/// records keep coming.
const MAX_MESSAGES: usize = 4096;
/// A buffer grown past this by a burst is given back after it is written, so one burst
/// does not pin megabytes for the life of the process.
const KEEP_CAPACITY: usize = 1 << 20;

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
    batch: Arc<Batch>,
    rx: Receiver<Msg>,
) -> Result<(), Error> {
    std::fs::create_dir_all(&options.log_dir).map_err(|source| Error::CreateDir {
        path: options.log_dir.clone(),
        source,
    })?;
    let eve = DailyFile::open(&options.log_dir, clock.now())?;
    let writer = Writer {
        eve,
        batch,
        taken: Taken::default(),
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
        Ok(DailyFile {
            dir: dir.to_path_buf(),
            day: utc_day(now),
            ends: batch::next_midnight(now),
            path,
            file,
        })
    }
}

struct Writer {
    eve: DailyFile,
    batch: Arc<Batch>,
    /// The lines being written; its buffers go back to the batch on the next take.
    taken: Taken,
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
        let mut open = true;
        while open {
            std::thread::sleep(COALESCE);
            for _ in 0..MAX_MESSAGES {
                match rx.try_recv() {
                    Ok(msg) => self.handle(msg, &mut flushes),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            // Taking an empty batch marks the writer asleep: from then on the first line
            // pushed sends a wake-up, so sleeping on the queue below loses nothing.
            let wrote = self.write_batch();
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
            self.report_suppressed();
            if wrote || !open {
                continue;
            }
            match rx.recv_timeout(TICK) {
                Ok(msg) => self.handle(msg, &mut flushes),
                Err(RecvTimeoutError::Timeout) => self.tick(),
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        self.write_batch();
        tracing::debug!("event writer stopped");
    }

    fn handle(&mut self, msg: Msg, flushes: &mut Vec<Sender<()>>) {
        match msg {
            Msg::Wake => {}
            Msg::Flush(done) => flushes.push(done),
            Msg::Audit(at, rec) => {
                self.write_audit(&audit::line(&rec, at, self.applied_to.as_deref()))
            }
        }
    }

    /// Take the batch and write it, each chunk into the file of its day. False when the
    /// batch was empty.
    fn write_batch(&mut self) -> bool {
        let mut taken = std::mem::take(&mut self.taken);
        self.batch.take(&mut taken);
        if taken.is_empty() {
            self.taken = taken;
            return false;
        }
        for chunk in taken.earlier.iter().chain(std::iter::once(&taken.current)) {
            self.write_chunk(chunk);
        }
        if taken.current.buf.capacity() > KEEP_CAPACITY {
            taken.current.buf = Vec::new();
        }
        self.taken = taken;
        true
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

    /// Open the file for `now`'s day.
    fn roll(&mut self, now: SystemTime) {
        match DailyFile::open(&self.eve.dir, now) {
            Ok(f) => {
                tracing::info!(path = %f.path.display(), "opened EVE log");
                self.eve = f;
            }
            Err(e) => tracing::warn!(error = %e, "cannot open new EVE log; keeping the old one"),
        }
    }

    fn write_chunk(&mut self, chunk: &batch::Chunk) {
        if chunk.lines == 0 {
            return;
        }
        if let Some(at) = chunk.at
            && self.eve.ends.is_some_and(|ends| at >= ends)
        {
            self.roll(at);
        }
        self.rotate_if_due(chunk.buf.len());
        match self.eve.file.write_all(&chunk.buf) {
            Ok(()) => self.recovered(),
            Err(e) => {
                self.failed(&self.eve.path.clone(), &e);
                self.metrics.event_write_failed(chunk.lines);
            }
        }
    }

    /// Rotate today's file when `incoming` more bytes would take it past the size limit.
    /// The size is read from the file (one `fstat` per batch), so an operator's
    /// `truncate` is taken into account.
    fn rotate_if_due(&mut self, incoming: usize) {
        if self.rotation.max_bytes == 0 {
            return;
        }
        let Ok(meta) = self.eve.file.metadata() else {
            return;
        };
        if !self.rotation.due(meta.len(), incoming) {
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
