//! `lab-udp ping`: the UDP Pinger of Kurose & Ross (chapter 2, programming assignment 2).
//!
//! Sends `--count` datagrams `Ping SEQ TIME`, one every `--interval`, and waits up to
//! `--timeout` for each reply: any server that answers with the uppercase of the
//! datagram (`lab-udp server`, the course's UDPServer.py) is a pinger server. Each
//! reply's round-trip time (RTT) is printed, or `Request timed out`, then ping(8)'s
//! summary. Try it against `lab-udp server --loss 0.3 --delay 10..50`.
//!
//! The textbook's pinger waits for reply N before it sends ping N+1 and takes whatever
//! arrives as reply N. Here pings go out on time whether or not replies came, several
//! may be waiting at once, and a reply is matched to its ping by its sequence number
//! and exact text: a reply that comes after its ping timed out is reported as late,
//! never taken for a later ping's.
//!
//! The socket calls, all in `pinger.rs`: one socket `connect`ed to the server, `send`
//! for each ping, `poll` with a timeout that runs to the next thing to do (the next
//! ping's send time, or the oldest waiting ping's deadline), and a non-blocking `recv`
//! for each datagram it finds queued (after a refusal, for the replies queued ahead
//! of it).
//!
//! Layout: `pings.rs` keeps the pings sent and matches replies to them (no I/O),
//! `pinger.rs` is the event loop and its socket calls, `summary.rs` the numbers and
//! ping(8)'s summary.

use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Result;
use common::cli::{parse_seconds, parse_timeout};
use common::outln;

use crate::Endpoint;

mod pinger;
mod pings;
mod summary;

pub use pinger::ping;
pub use summary::Tally;

/// Command-line options of `lab-udp ping`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// How many pings to send
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
    /// Seconds between pings (ping N goes at ping 1's send + (N - 1) intervals)
    #[arg(short, long, value_parser = parse_seconds, default_value = "1")]
    interval: Duration,
    /// Seconds to wait for each reply
    #[arg(short = 'W', long, value_parser = parse_timeout, default_value = "1")]
    timeout: Duration,
}

/// What one run of the pinger does.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Pings to send.
    pub count: u32,
    /// Between pings: ping N is due at ping 1's send + (N - 1) intervals.
    pub interval: Duration,
    /// How long each reply is waited for.
    pub timeout: Duration,
}

/// `lab-udp ping`: ping the server, print the summary; Ctrl-C prints it early.
pub fn run(options: &Options) -> Result<ExitCode> {
    let servers = options.endpoint.resolve()?;
    let tally = Arc::new(Mutex::new(Tally::new(servers[0])));
    summary_on_ctrl_c(Arc::clone(&tally));
    let settings = Settings {
        count: options.count,
        interval: options.interval,
        timeout: options.timeout,
    };
    ping(&servers, settings, &tally)?;
    let mut tally = lock(&tally);
    if let Some(summary) = tally.summary_once() {
        outln!("{summary}");
    }
    Ok(ExitCode::from(tally.exit_status()))
}

/// As ping(8) does: Ctrl-C prints the summary so far and exits 0 if a reply came, else 1.
fn summary_on_ctrl_c(tally: Arc<Mutex<Tally>>) {
    // If no handler can be installed, Ctrl-C ends the pinger without a summary.
    let _ = ctrlc::set_handler(move || {
        // The lock waits for a line being printed, so the summary never splits one.
        let mut tally = lock(&tally);
        if let Some(summary) = tally.summary_once() {
            outln!("{summary}");
        }
        std::process::exit(tally.exit_status().into());
    });
}

/// The tally, even if a thread panicked while holding it.
fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}
