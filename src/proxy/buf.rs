//! A read buffer that starts small and grows only when a message needs it.
//!
//! Parsing happens in place on `filled()`; consumed bytes are dropped from the front and
//! the rest is moved down only when more room is needed, so a keep-alive connection does
//! no allocation per read once its buffer has reached its working size.

use std::cell::RefCell;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpStream, tcp};

/// A reader that can wait for data before a buffer exists.
///
/// A keep-alive connection spends most of its life waiting for the next request; if the
/// buffer were allocated before that wait, every idle connection would hold one (two per
/// HTTP connection: requests and responses). Waiting for readiness first keeps idle
/// connections at the size of their sockets and task.
pub trait Readable: AsyncRead + Unpin {
    /// Resolves when a read would not block (data, end of stream or an error).
    fn readable(&self) -> impl std::future::Future<Output = io::Result<()>> + Send;
}

impl Readable for TcpStream {
    fn readable(&self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        TcpStream::readable(self)
    }
}

impl Readable for tcp::ReadHalf<'_> {
    fn readable(&self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        tcp::ReadHalf::readable(self)
    }
}

/// In-memory input is always ready (tests).
impl Readable for &[u8] {
    async fn readable(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Initial capacity: enough for a typical request head or ClientHello.
pub const INITIAL: usize = 2048;

/// Result of [`ReadBuf::fill`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// `n` more bytes are buffered.
    Read(usize),
    /// The peer closed its sending side.
    Eof,
    /// The buffer holds `limit` unconsumed bytes already.
    Full,
}

#[derive(Debug, Default)]
pub struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

thread_local! {
    /// Initial-size buffers given back by connections on this thread. A keep-alive
    /// connection releases its buffers between requests (idle connections must hold
    /// none), so without this every request would allocate and zero two of them; the
    /// spare list makes that a pop and a push. Bounded, so it never holds more than
    /// [`SPARE_MAX`] × [`INITIAL`] bytes per thread.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Most spare buffers kept per thread.
const SPARE_MAX: usize = 64;

/// A buffer of `INITIAL` bytes, reused when one is spare. Its bytes are stale, never read:
/// only what a read wrote is exposed through `filled`.
fn take_initial() -> Vec<u8> {
    SPARE
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| vec![0u8; INITIAL])
}

fn give_back(buf: Vec<u8>) {
    if buf.len() == INITIAL {
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_MAX {
                s.push(buf);
            }
        });
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.data));
    }
}

impl ReadBuf {
    pub fn new() -> ReadBuf {
        ReadBuf::default()
    }

    /// Grow to `size` (at least `INITIAL`), taking a spare buffer for the first size.
    fn resize(&mut self, size: usize) {
        if self.data.is_empty() && size == INITIAL {
            self.data = take_initial();
        } else {
            self.data.resize(size, 0);
        }
    }

    /// Unconsumed bytes.
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Double the capacity, up to `limit` (for bulk bodies: fewer, larger reads).
    pub fn grow(&mut self, limit: usize) {
        let grown = (self.data.len() * 2).clamp(INITIAL, limit.max(INITIAL));
        if grown > self.data.len() {
            self.resize(grown);
        }
    }

    /// Give the memory back while nothing is buffered (an idle keep-alive connection
    /// should not hold buffers); the next `fill` allocates again.
    pub fn release(&mut self) {
        if self.is_empty() {
            give_back(std::mem::take(&mut self.data));
        }
    }

    /// Drop `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Read once more from `rd`, keeping at most `limit` unconsumed bytes. Without
    /// memory (new or [`release`d](Self::release)), waits for `rd` to be readable before
    /// allocating.
    pub async fn fill<R: Readable>(&mut self, rd: &mut R, limit: usize) -> io::Result<Fill> {
        if self.len() >= limit {
            return Ok(Fill::Full);
        }
        if self.data.is_empty() {
            rd.readable().await?;
        }
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.data.len() {
                let grown = (self.data.len() * 2).clamp(INITIAL, limit.max(INITIAL));
                self.resize(grown);
            }
        }
        let room = (limit - self.len()).min(self.data.len() - self.end);
        let n = rd.read(&mut self.data[self.end..self.end + room]).await?;
        if n == 0 {
            return Ok(Fill::Eof);
        }
        self.end += n;
        Ok(Fill::Read(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn grows_to_limit_then_reports_full() {
        let data = vec![7u8; 10_000];
        let mut rd = &data[..];
        let mut b = ReadBuf::new();
        let mut total = 0;
        loop {
            match b.fill(&mut rd, 5000).await.unwrap() {
                Fill::Read(n) => total += n,
                Fill::Full => break,
                Fill::Eof => panic!("eof before limit"),
            }
        }
        assert_eq!(total, 5000);
        assert_eq!(b.len(), 5000);
        b.consume(4000);
        assert_eq!(b.len(), 1000);
        assert_eq!(b.fill(&mut rd, 5000).await.unwrap(), Fill::Read(4000));
        assert_eq!(b.filled().len(), 5000);
    }

    #[tokio::test]
    async fn a_released_buffer_is_reused_by_the_next_fill() {
        let mut b = ReadBuf::new();
        b.fill(&mut &b"abc"[..], 100).await.unwrap();
        let first = b.filled().as_ptr();
        b.consume(3);
        b.release();
        assert_eq!(b.capacity(), 0, "an idle buffer holds no memory");
        b.fill(&mut &b"xy"[..], 100).await.unwrap();
        assert_eq!(b.filled(), b"xy");
        assert_eq!(
            b.filled().as_ptr(),
            first,
            "the spare buffer was not reused"
        );
    }

    #[tokio::test]
    async fn eof_and_consume_all_resets() {
        let data = b"abc".to_vec();
        let mut rd = &data[..];
        let mut b = ReadBuf::new();
        assert_eq!(b.fill(&mut rd, 100).await.unwrap(), Fill::Read(3));
        assert_eq!(b.fill(&mut rd, 100).await.unwrap(), Fill::Eof);
        b.consume(10);
        assert!(b.is_empty());
    }
}
