//! What a server prints after its listening line: a human-readable log in the spirit of
//! the course programs (silenced by `--quiet`), and the one-line summary at shutdown.

use std::collections::HashSet;
use std::fmt::Display;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

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
        // Not `eprintln!`, which panics if stderr is a closed pipe (`2>&1 | head`).
        let _ = writeln!(std::io::stderr(), "warning: {message}");
    }
}

/// How many distinct UDP senders the summary tells apart; the set stops growing
/// there, so a flood of spoofed senders cannot use up the server's memory.
const SENDERS_TRACKED: usize = 65_536;

/// Counters for the shutdown summary, shared by every thread of a server.
#[derive(Debug, Default)]
pub struct Stats {
    clients: AtomicU64,
    messages: AtomicU64,
    /// Datagrams not answered on purpose (lab-udp's simulated loss).
    dropped: AtomicU64,
    /// UDP has no connections: a client is a sender address not seen before.
    senders: Mutex<HashSet<SocketAddr>>,
}

impl Stats {
    /// One more client served (a TCP connection accepted).
    pub fn client(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    /// One more datagram answered; its sender counts as a client the first time.
    pub fn datagram_from(&self, sender: SocketAddr) {
        self.message();
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        if senders.len() < SENDERS_TRACKED && senders.insert(sender) {
            self.client();
        }
    }

    /// One more message answered: a datagram, or a read of a TCP connection that got
    /// a reply (the course's clients send one message per read; lines that come
    /// together in one read are one message, answered with one send).
    pub fn message(&self) {
        self.messages.fetch_add(1, Ordering::Relaxed);
    }

    /// One more datagram left unanswered on purpose (a simulated loss).
    pub fn datagram_dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages answered so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Clients served so far.
    pub fn clients(&self) -> u64 {
        self.clients.load(Ordering::Relaxed)
    }

    /// Adds clients and messages served elsewhere (by a child process).
    pub fn add(&self, clients: u64, messages: u64) {
        self.clients.fetch_add(clients, Ordering::Relaxed);
        self.messages.fetch_add(messages, Ordering::Relaxed);
    }

    /// Prints the one summary line, `shutting down: ...`, always (even with `--quiet`);
    /// `, N dropped` at the end if datagrams were dropped on purpose.
    pub fn print_summary(&self) {
        let clients = self.clients.load(Ordering::Relaxed);
        let messages = self.messages.load(Ordering::Relaxed);
        let dropped = match self.dropped.load(Ordering::Relaxed) {
            0 => String::new(),
            dropped => format!(", {dropped} dropped"),
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "shutting down: {clients} client{} served, {messages} message{} answered{dropped}",
            plural(clients),
            plural(messages)
        );
        let _ = stdout.flush();
    }
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// Bytes as text in quotes would show them, the same in a server's log and in a
/// check's detail: UTF-8 as its characters (`STRAßE`), and escaped, as Rust and
/// Python write them, what a reader could not see or tell apart: control characters
/// (`\n`, `\x00`, `\u{85}`), invisible ones and combining marks (`\u{200b}`, the
/// `\u{301}` of a decomposed `é`), quotes and backslashes (`\"`, `\\`), bytes that
/// are not UTF-8 (`\xff`).
pub fn escaped(bytes: &[u8]) -> String {
    let mut text = String::new();
    for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            match u8::try_from(character) {
                Ok(byte) if byte.is_ascii() => text.extend(byte.escape_ascii().map(char::from)),
                // Printable characters as themselves; the rest (controls, format
                // characters such as U+200B, combining marks) as `\u{...}`.
                _ => text.extend(character.escape_debug()),
            }
        }
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02x}"));
        }
    }
    text
}

/// Shows received bytes in a log line, as [`escaped`] does, without the line end;
/// long messages cut.
pub fn printable(bytes: &[u8]) -> String {
    const SHOWN: usize = 72;
    let head = &bytes[..bytes.len().min(SHOWN)];
    let line = head.strip_suffix(b"\n").unwrap_or(head);
    let mut shown = escaped(line.strip_suffix(b"\r").unwrap_or(line));
    if bytes.len() > SHOWN {
        shown.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_show_text_without_the_line_ending() {
        assert_eq!(printable(b"hello\r\n"), "hello");
        assert_eq!(printable("straße\tok\n".as_bytes()), "straße\\tok");
        assert_eq!(printable(b"\xff"), "\\xff");
        assert!(printable(&[b'x'; 100]).ends_with("... (100 bytes)"));
    }

    #[test]
    fn a_udp_client_is_a_sender_not_seen_before() {
        let stats = Stats::default();
        let (alice, bob) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        stats.datagram_from(alice);
        stats.datagram_from(alice);
        stats.datagram_from(bob);
        assert_eq!(stats.clients.load(Ordering::Relaxed), 2);
        assert_eq!(stats.messages(), 3);
    }
}
