//! The delay line behind `server --delay`: replies held until their send time, sent by
//! a thread of their own in time order, so a reply held for 300 ms never holds up the
//! replies behind it (what `thread::sleep` before `sendto` would do).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// At most this many replies wait in a [`DelayLine`] (netem's default `limit`); the
/// next ones are dropped, as a full router queue does, so a flood cannot use up the
/// server's memory (at most 1,000 datagrams of 64 KiB).
pub const DELAY_LINE_LIMIT: usize = 1_000;

/// Replies waiting for their send time, in time order (a min-heap), sent by a thread
/// of their own (see [`with_delay_line`]).
#[derive(Debug)]
pub struct DelayLine<T> {
    state: Mutex<Waiting<T>>,
    /// Signalled when a reply is added or the line is closed.
    changed: Condvar,
}

#[derive(Debug)]
struct Waiting<T> {
    replies: BinaryHeap<Reverse<Held<T>>>,
    /// Breaks ties between equal send times: first in, first out.
    added: u64,
    closed: bool,
}

#[derive(Debug)]
struct Held<T> {
    due: Instant,
    order: u64,
    reply: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Held<T> {}
impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Held<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

/// The line is full: the reply was not queued (and so is lost).
#[derive(Debug, PartialEq, Eq)]
pub struct LineFull;

impl<T> DelayLine<T> {
    fn new() -> Self {
        DelayLine {
            state: Mutex::new(Waiting {
                replies: BinaryHeap::new(),
                added: 0,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// Queues `reply` to be sent `delay` from now; returns at once.
    pub fn hold(&self, delay: Duration, reply: T) -> Result<(), LineFull> {
        let mut waiting = self.lock();
        if waiting.replies.len() >= DELAY_LINE_LIMIT {
            return Err(LineFull);
        }
        let order = waiting.added;
        waiting.added += 1;
        waiting.replies.push(Reverse(Held {
            due: Instant::now() + delay,
            order,
            reply,
        }));
        self.changed.notify_one();
        Ok(())
    }

    /// The sender thread: hands each reply to `send` at its time, until closed.
    fn send_when_due(&self, mut send: impl FnMut(T)) {
        let mut waiting = self.lock();
        while !waiting.closed {
            let now = Instant::now();
            let next_due = waiting.replies.peek().map(|Reverse(held)| held.due);
            match next_due {
                Some(due) if due <= now => {
                    if let Some(Reverse(held)) = waiting.replies.pop() {
                        // Send without the lock, so the server can queue meanwhile.
                        drop(waiting);
                        send(held.reply);
                        waiting = self.lock();
                    }
                }
                Some(due) => {
                    waiting = self
                        .changed
                        .wait_timeout(waiting, due - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                None => {
                    waiting = self
                        .changed
                        .wait(waiting)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }

    /// Stops the sender thread; replies still waiting are never sent.
    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, Waiting<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Closes a [`DelayLine`] when dropped.
struct CloseOnDrop<'a, T>(&'a DelayLine<T>);

impl<T> Drop for CloseOnDrop<'_, T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Runs `body` with a [`DelayLine`] whose replies a second thread hands to `send` at
/// their time. When `body` returns, the line closes: replies still held are dropped.
pub fn with_delay_line<T: Send, R>(
    send: impl FnMut(T) + Send,
    body: impl FnOnce(&DelayLine<T>) -> R,
) -> Result<R> {
    let line = DelayLine::new();
    thread::scope(|scope| {
        // Closes the line however this closure ends, so the sender thread always ends
        // and the scope can join it.
        let _close = CloseOnDrop(&line);
        thread::Builder::new()
            .name("delay-line".into())
            .spawn_scoped(scope, || line.send_when_due(send))
            .context("cannot start the thread that sends delayed replies")?;
        Ok(body(&line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_long_delay_does_not_hold_up_a_short_one() {
        let (sent, order) = mpsc::channel();
        with_delay_line(
            |reply: &str| sent.send((reply, Instant::now())).unwrap(),
            |line| {
                let start = Instant::now();
                line.hold(Duration::from_millis(300), "slow").unwrap();
                line.hold(Duration::from_millis(10), "fast").unwrap();
                let (first, at) = order.recv_timeout(Duration::from_secs(10)).unwrap();
                assert_eq!(first, "fast");
                assert!(at - start >= Duration::from_millis(10));
                let (second, at) = order.recv_timeout(Duration::from_secs(10)).unwrap();
                assert_eq!(second, "slow");
                assert!(at - start >= Duration::from_millis(300));
            },
        )
        .unwrap();
    }

    #[test]
    fn a_full_line_refuses_and_closing_drops_what_is_held() {
        let (sent, received) = mpsc::channel();
        with_delay_line(
            |reply: usize| sent.send(reply).unwrap(),
            |line| {
                for reply in 0..DELAY_LINE_LIMIT {
                    line.hold(Duration::from_secs(3600), reply).unwrap();
                }
                assert_eq!(line.hold(Duration::ZERO, 0), Err(LineFull));
            },
        )
        .unwrap();
        // with_delay_line returned: the sender thread ended without sending.
        assert!(received.try_recv().is_err());
    }
}
