//! Bounding how many clients a server holds at once: each admitted session holds a
//! [`Ticket`], and dropping the ticket (however the session ends) frees its place,
//! so no path can forget to give it back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bounds how many sessions a server holds at once (`--max-clients`).
#[derive(Debug)]
pub struct Admission {
    held: AtomicUsize,
    max: usize,
}

impl Admission {
    /// At most `max` sessions at once.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Admission {
            held: AtomicUsize::new(0),
            max,
        })
    }

    /// The most sessions held at once.
    pub fn limit(&self) -> usize {
        self.max
    }

    /// A ticket for one more session, or `None` if the server is full. The session
    /// holds the ticket; dropping it frees the place.
    pub fn try_admit(self: &Arc<Self>) -> Option<Ticket> {
        let before = self.held.fetch_add(1, Ordering::SeqCst);
        if before >= self.max {
            self.held.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Ticket(Arc::clone(self)))
    }
}

/// One admitted session; frees its place when dropped.
#[derive(Debug)]
pub struct Ticket(Arc<Admission>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::SeqCst);
    }
}
