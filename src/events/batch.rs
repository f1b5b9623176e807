//! The EVE lines waiting for the writer thread, serialized by the thread that emitted them.
//!
//! Serializing where the event happens, into one shared buffer, is what keeps the data path
//! cheap: no event is boxed or sent through a channel, its strings are freed by the thread
//! that allocated them, and the writer only hands whole buffers to `write(2)`. The buffers
//! are swapped, never reallocated, so a busy connection emits without allocating.
//!
//! Emitters never wake a busy writer: the writer polls the batch while lines keep coming
//! and only tells emitters it is going to sleep when it found the batch empty. The first
//! line after that wakes it (one message), the rest of the burst rides along.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use super::{Event, eve};

/// What [`Batch::push`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Push {
    /// Queued, and the writer is asleep: the caller must wake it.
    Wake,
    /// Queued; the writer will take it on its next poll.
    Queued,
    /// The batch holds its most lines already (the writer is stuck): not queued.
    Full,
    /// Not an EVE event, or it could not be serialized: not queued.
    Unwritten,
}

/// Lines of one UTC day, in emission order.
#[derive(Debug, Default)]
pub(super) struct Chunk {
    /// When the first line was emitted: the writer puts the chunk into that day's file.
    pub at: Option<SystemTime>,
    pub buf: Vec<u8>,
    pub lines: u64,
}

impl Chunk {
    fn clear(&mut self) {
        self.at = None;
        self.buf.clear();
        self.lines = 0;
    }
}

/// Lines taken by the writer: chunks of earlier days (only when the batch spans a UTC
/// midnight), then the current one.
#[derive(Debug, Default)]
pub(super) struct Taken {
    pub earlier: Vec<Chunk>,
    pub current: Chunk,
}

impl Taken {
    pub fn is_empty(&self) -> bool {
        self.current.lines == 0 && self.earlier.is_empty()
    }
}

#[derive(Debug)]
struct Lines {
    writer: eve::LineWriter,
    current: Chunk,
    /// Midnight UTC after `current.at`: a line emitted from then on starts a new chunk.
    ends: Option<SystemTime>,
    earlier: Vec<Chunk>,
    /// Lines in `current` and `earlier`.
    total: u64,
    /// The writer found the batch empty and is waiting for a message.
    writer_asleep: bool,
}

/// The shared batch; one per sink.
#[derive(Debug)]
pub(super) struct Batch {
    lines: Mutex<Lines>,
    /// Most lines held; beyond, events are dropped (and counted by the caller).
    cap: u64,
}

impl Batch {
    pub fn new(cap: usize, payload_cap: usize) -> Batch {
        Batch {
            lines: Mutex::new(Lines {
                writer: eve::LineWriter::with_payload_cap(payload_cap),
                current: Chunk::default(),
                ends: None,
                earlier: Vec::new(),
                total: 0,
                writer_asleep: false,
            }),
            cap: cap.max(1) as u64,
        }
    }

    /// The lock is only ever held to serialize one line or to swap buffers; a panic while
    /// holding it leaves at worst a half line, which `LineWriter::write` never does.
    fn lock(&self) -> MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serialize `event` stamped `at` onto the batch.
    pub fn push(&self, event: &Event, at: SystemTime) -> Push {
        let mut guard = self.lock();
        let l = &mut *guard;
        if l.total >= self.cap {
            return Push::Full;
        }
        if l.ends.is_some_and(|ends| at >= ends) && l.current.lines > 0 {
            l.earlier.push(std::mem::take(&mut l.current));
        }
        if !l.writer.write(event, at, &mut l.current.buf) {
            return Push::Unwritten;
        }
        if l.current.at.is_none() {
            l.current.at = Some(at);
            l.ends = next_midnight(at);
        }
        l.current.lines += 1;
        l.total += 1;
        if std::mem::take(&mut l.writer_asleep) {
            Push::Wake
        } else {
            Push::Queued
        }
    }

    /// Move every queued line into `into` (cleared first; its buffer becomes the batch's
    /// next one, so capacity is reused). When there was nothing, the writer is marked
    /// asleep: the next push asks for a wake-up.
    pub fn take(&self, into: &mut Taken) {
        into.earlier.clear();
        into.current.clear();
        let mut guard = self.lock();
        let l = &mut *guard;
        if l.total == 0 {
            l.writer_asleep = true;
            return;
        }
        std::mem::swap(&mut l.current, &mut into.current);
        std::mem::swap(&mut l.earlier, &mut into.earlier);
        l.ends = None;
        l.total = 0;
    }
}

/// The first UTC midnight after `t`; `None` past chrono's last date.
pub(super) fn next_midnight(t: SystemTime) -> Option<SystemTime> {
    DateTime::<Utc>::from(t)
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().into())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::events::tests::http;

    #[test]
    fn first_push_after_an_empty_take_wakes_and_the_rest_queue() {
        let b = Batch::new(10, 0);
        let now = SystemTime::now();
        let mut taken = Taken::default();
        assert_eq!(
            b.push(&http(1, "/a"), now),
            Push::Queued,
            "writer never slept"
        );
        b.take(&mut taken);
        assert_eq!(taken.current.lines, 1);
        b.take(&mut taken);
        assert!(taken.is_empty());
        assert_eq!(b.push(&http(2, "/b"), now), Push::Wake);
        assert_eq!(b.push(&http(3, "/c"), now), Push::Queued);
        b.take(&mut taken);
        let text = String::from_utf8(taken.current.buf.clone()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("\"/b\"") && text.contains("\"/c\""), "{text}");
    }

    #[test]
    fn full_batch_refuses() {
        let b = Batch::new(2, 0);
        let now = SystemTime::now();
        assert_eq!(b.push(&http(1, "/a"), now), Push::Queued);
        assert_eq!(b.push(&http(2, "/b"), now), Push::Queued);
        assert_eq!(b.push(&http(3, "/c"), now), Push::Full);
        let mut taken = Taken::default();
        b.take(&mut taken);
        assert_eq!(taken.current.lines, 2);
        assert_eq!(b.push(&http(4, "/d"), now), Push::Queued);
    }

    #[test]
    fn a_batch_across_midnight_is_split_by_day() {
        let b = Batch::new(10, 0);
        // 2024-09-05T23:59:59.5Z, then past midnight.
        let late = UNIX_EPOCH + Duration::from_millis(1_725_580_799_500);
        let early = late + Duration::from_secs(1);
        b.push(&http(1, "/late"), late);
        b.push(&http(2, "/early"), early);
        b.push(&http(3, "/later"), early);
        let mut taken = Taken::default();
        b.take(&mut taken);
        assert_eq!(taken.earlier.len(), 1);
        assert_eq!(taken.earlier[0].at, Some(late));
        assert_eq!(taken.earlier[0].lines, 1);
        assert_eq!(taken.current.at, Some(early));
        assert_eq!(taken.current.lines, 2);
    }

    #[test]
    fn swapped_buffers_keep_their_capacity() {
        let b = Batch::new(100, 0);
        let now = SystemTime::now();
        let mut taken = Taken::default();
        for round in 0..3 {
            for i in 0..10 {
                b.push(&http(i, "/steady"), now);
            }
            b.take(&mut taken);
            assert_eq!(taken.current.lines, 10, "round {round}");
        }
        // Both buffers have grown to a round's size; neither starts from zero again.
        b.push(&http(0, "/steady"), now);
        assert!(b.lock().current.buf.capacity() >= taken.current.buf.len());
    }
}
