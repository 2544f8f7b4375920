//! The startup of a `--server` whose readiness cannot be seen in a socket table (no
//! /proc: not Linux): until the first check's first connection is accepted, or its
//! first datagram answered (or the startup deadline), a refusal is the server still
//! starting, and is tried again. That first exchange is then the only probe.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long between two tries of a refused connection or datagram.
pub const RETRY: Duration = Duration::from_millis(50);

static UNTIL: Mutex<Option<Instant>> = Mutex::new(None);

fn until() -> std::sync::MutexGuard<'static, Option<Instant>> {
    UNTIL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The server was started and may take until `deadline` to listen or bind.
pub fn starting(deadline: Instant) {
    *until() = Some(deadline);
}

/// A connection was accepted, or a datagram answered: the server is up.
pub fn ready() {
    *until() = None;
}

/// Is a refusal now only the server still starting?
pub fn still_starting() -> bool {
    until().is_some_and(|deadline| Instant::now() < deadline)
}
