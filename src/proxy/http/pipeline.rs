//! The queue of forwarded requests awaiting their responses, shared by the two halves of
//! one connection task.
//!
//! A channel would allocate a block of slots per connection up front; this starts empty
//! and grows to the pipelining depth actually used. The lock is never contended (both
//! halves run in the same task) and is held for a push or a pop only.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// A bounded FIFO with async push/pop, closed by either side.
pub struct Pipeline<T> {
    items: Mutex<VecDeque<T>>,
    max: usize,
    closed: AtomicBool,
    pushed: Notify,
    popped: Notify,
}

impl<T> Pipeline<T> {
    pub fn new(max: usize) -> Self {
        Pipeline {
            // Most clients do not pipeline: room for one request, grown on demand.
            items: Mutex::new(VecDeque::with_capacity(1)),
            max,
            closed: AtomicBool::new(false),
            pushed: Notify::new(),
            popped: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue `item`, waiting while the queue is full; `Err` when closed.
    pub async fn push(&self, mut item: T) -> Result<(), T> {
        loop {
            match self.try_push(item) {
                Ok(()) => return Ok(()),
                Err(TryPush::Closed(back)) => return Err(back),
                Err(TryPush::Full(back)) => {
                    item = back;
                    self.popped.notified().await;
                }
            }
        }
    }

    fn try_push(&self, item: T) -> Result<(), TryPush<T>> {
        let mut q = self.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(TryPush::Closed(item));
        }
        if q.len() >= self.max {
            return Err(TryPush::Full(item));
        }
        q.push_back(item);
        drop(q);
        self.pushed.notify_one();
        Ok(())
    }

    /// The oldest item; `None` once closed and empty.
    pub async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut q = self.lock();
                if let Some(item) = q.pop_front() {
                    drop(q);
                    self.popped.notify_one();
                    return Some(item);
                }
                if self.closed.load(Ordering::Acquire) {
                    return None;
                }
            }
            self.pushed.notified().await;
        }
    }

    /// Nothing is queued right now.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Either side has closed the queue.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// No more pushes; pending pops drain what is queued, then get `None`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.pushed.notify_one();
        self.popped.notify_one();
    }
}

enum TryPush<T> {
    Full(T),
    Closed(T),
}

/// Closes the pipeline when dropped, so the other half always learns the end.
pub struct CloseOnDrop<'a, T>(pub &'a Pipeline<T>);

impl<T> Drop for CloseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fifo_backpressure_and_close() {
        let p = Pipeline::new(2);
        p.push(1).await.unwrap();
        p.push(2).await.unwrap();
        let (a, b) = tokio::join!(p.push(3), async {
            tokio::task::yield_now().await;
            p.pop().await
        });
        assert_eq!((a, b), (Ok(()), Some(1)));
        p.close();
        assert_eq!(p.push(4).await, Err(4));
        assert_eq!(p.pop().await, Some(2));
        assert_eq!(p.pop().await, Some(3));
        assert_eq!(p.pop().await, None);
    }
}
