//! The tiny runner behind every lab's `check` subcommand: named checks, one
//! `PASS name` or `FAIL name: detail` line each, then `N passed, M failed`.
//!
//! Each check runs on a thread of its own and is abandoned if it outlives its budget,
//! so a server that hangs or spins fails that check instead of hanging the grader.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::cli::parse_seconds;
use crate::net;

/// `--target HOST:PORT` and `--timeout`, the options of every lab's `check`.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetOptions {
    /// The server to check, as HOST:PORT
    #[arg(long)]
    pub target: String,
    /// Seconds to wait for each connection and reply
    #[arg(long, value_parser = parse_seconds, default_value = "2")]
    pub timeout: Duration,
}

impl TargetOptions {
    /// A run of checks against the target's address. If the target does not
    /// resolve, that is the run's one failed check, already scored: `Err` holds the
    /// exit code to return.
    pub fn start(&self) -> Result<(Checks, SocketAddr), ExitCode> {
        let mut checks = Checks::new(self.timeout);
        match net::resolve_target(&self.target) {
            Ok(addresses) => Ok((checks, addresses[0])),
            Err(error) => {
                checks.run("the target resolves", move || Err(error));
                Err(checks.finish())
            }
        }
    }
}

/// How many `--timeout`s one check may take in all (it may wait several times).
const BUDGET_IN_TIMEOUTS: u32 = 5;

/// A run of checks against one server.
#[derive(Debug)]
pub struct Checks {
    timeout: Duration,
    passed: usize,
    failed: usize,
}

impl Checks {
    /// Checks whose every wait is bounded by `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Checks {
            timeout,
            passed: 0,
            failed: 0,
        }
    }

    /// The bound on each wait (a connect, a reply) inside a check.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one check and prints its line.
    pub fn run<F>(&mut self, name: &str, check: F)
    where
        F: FnOnce() -> Result<()> + Send + 'static,
    {
        let (done, outcome) = mpsc::channel();
        thread::spawn(move || {
            let _ = done.send(check());
        });
        let budget = self.timeout * BUDGET_IN_TIMEOUTS;
        let verdict = match outcome.recv_timeout(budget) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(anyhow::anyhow!(
                "no result within {:.1} s: the server hangs or is too slow",
                budget.as_secs_f64()
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(anyhow::anyhow!("the check itself crashed"))
            }
        };
        match verdict {
            Ok(()) => {
                self.passed += 1;
                crate::outln!("PASS {name}");
            }
            Err(error) => {
                self.failed += 1;
                crate::outln!("FAIL {name}: {error:#}");
            }
        }
    }

    /// Prints the score line; success only if no check failed.
    pub fn finish(self) -> ExitCode {
        crate::outln!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 && self.passed > 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Fails with "expected ..., got ..." unless `got == expected`; bytes are shown as
/// escaped text so the detail fits on the check's line.
pub fn expect_bytes(what: &str, got: &[u8], expected: &[u8]) -> Result<()> {
    if got != expected {
        bail!(
            "{what}: expected \"{}\", got \"{}\"",
            got_text(expected),
            got_text(got)
        );
    }
    Ok(())
}

/// Fails with "expected ..., got ..." unless `got == expected`.
pub fn expect_eq<T: PartialEq + Debug>(what: &str, got: T, expected: T) -> Result<()> {
    if got != expected {
        bail!("{what}: expected {expected:?}, got {got:?}");
    }
    Ok(())
}

fn got_text(bytes: &[u8]) -> String {
    const SHOWN: usize = 80;
    let mut text: String = bytes[..bytes.len().min(SHOWN)].escape_ascii().to_string();
    if bytes.len() > SHOWN {
        text.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    text
}
