//! What a server prints after its listening line: a human-readable log in the spirit of
//! the course programs (silenced by `--quiet`), and the one-line summary at shutdown.

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The server's log on stdout; `--quiet` keeps only the listening line, errors and the
/// shutdown summary (benchmarks run with it).
#[derive(Debug, Clone, Copy)]
pub struct Log {
    quiet: bool,
}

impl Log {
    /// A log that prints unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Log { quiet }
    }

    /// Is the log silenced (so callers can skip formatting a message)?
    pub fn is_quiet(self) -> bool {
        self.quiet
    }

    /// Prints one log line (nothing with `--quiet`).
    pub fn line(self, message: impl Display) {
        if !self.quiet {
            let mut stdout = std::io::stdout().lock();
            // A closed stdout must not stop a server from serving.
            let _ = writeln!(stdout, "{message}");
        }
    }

    /// Prints a problem the server survives (a client's fault, a full fd table): on
    /// stderr, never silenced.
    pub fn warn(self, message: impl Display) {
        eprintln!("warning: {message}");
    }
}

/// Counters for the shutdown summary, shared by every thread of a server.
#[derive(Debug, Default)]
pub struct Stats {
    clients: AtomicU64,
    messages: AtomicU64,
}

impl Stats {
    /// One more client served (a TCP connection accepted, or a new UDP peer).
    pub fn client(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    /// One more message answered (a datagram, or a read of a TCP connection).
    pub fn message(&self) {
        self.messages.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages answered so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Adds messages answered elsewhere (by a child process).
    pub fn add_messages(&self, count: u64) {
        self.messages.fetch_add(count, Ordering::Relaxed);
    }

    /// Prints the one summary line, `shutting down: ...`, always (even with `--quiet`).
    pub fn print_summary(&self) {
        let clients = self.clients.load(Ordering::Relaxed);
        let messages = self.messages.load(Ordering::Relaxed);
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "shutting down: {clients} client{} served, {messages} message{} answered",
            plural(clients),
            plural(messages)
        );
        let _ = stdout.flush();
    }
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Shows bytes as readable text with control characters escaped (`straße\n`);
/// bytes that are not UTF-8 show as U+FFFD.
pub fn escaped(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().collect()
}

/// Shows received bytes in a log line: text as text (invalid UTF-8 as U+FFFD), control
/// characters escaped, long messages cut.
pub fn printable(bytes: &[u8]) -> String {
    const SHOWN: usize = 72;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]);
    let mut shown: String = text.trim_end_matches(['\r', '\n']).escape_debug().collect();
    if bytes.len() > SHOWN {
        shown.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    shown
}
