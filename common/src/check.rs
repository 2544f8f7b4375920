//! The runner behind every lab's `check` (grade a server) and `check-client` (grade a
//! client): named checks, each bounded in time, and a report with a score.
//!
//! - `check --target HOST:PORT` checks a server that is already running.
//! - `check --server 'CMD'` runs the submission itself ([`submission`]): `CMD` with
//!   `{port}` and `{host}` filled in, waits until it answers (a TCP connection
//!   accepted, or a probe datagram answered), runs the checks, then stops it. A
//!   server that dies during a check is reported with its exit status and that
//!   check's name, and the checks after it fail at once instead of each waiting out
//!   its timeout.
//! - `check-client --client 'CMD'` ([`client`]) runs a client against a scripted
//!   server of ours, once per check, and grades what it sent and printed.
//!
//! - A run that cannot take place (a server that never came up, a `--target` that
//!   refuses, a `--client` without `{port}`) is said once in an `error:` line, and
//!   every check is listed as failed, not run: the report, in every format, has the
//!   lab's full list of checks and `max_score`, and the text its score line.
//! - Grading that is interrupted (Ctrl-C, SIGTERM, a closed stdout) stops the
//!   submission and reports nothing more: its death is our doing, not its failure.
//!
//! Each check runs on a thread of its own and is abandoned if it outlives its budget,
//! so a server that hangs or spins fails that check instead of hanging the grader.
//! [`report`] prints the outcome as text, JSON, JUnit XML or Gradescope's format.

pub mod client;
pub mod grade;
pub mod isolation;
pub mod limits;
pub mod report;
pub mod submission;
pub mod wording;

use std::fmt::Debug;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use self::isolation::IsolationOptions;
use self::report::{CheckResult, Format, Report, Subject};
use self::submission::{Streams, Submission};
use crate::cli::parse_timeout;
use crate::net;

/// `--target HOST:PORT` or `--server CMD`, and `--timeout`, `--startup-timeout`,
/// `--format`: the options of every lab's `check`.
#[derive(clap::Args, Debug, Clone)]
#[command(group(
    clap::ArgGroup::new("subject").args(["target", "server"]).required(true).multiple(true)
))]
pub struct TargetOptions {
    /// The server to check, as HOST:PORT (with --server: where that command listens,
    /// for a server whose port is fixed)
    #[arg(long, value_name = "HOST:PORT", value_parser = net::target_argument)]
    pub target: Option<String>,
    /// Run this server command (through sh -c) and check it; {port} and {host} in it
    /// are replaced by a free port and 127.0.0.1. Example: 'python3 server.py {port}'
    #[arg(long, value_name = "CMD")]
    pub server: Option<String>,
    /// Seconds to wait for each connection and reply
    #[arg(long, value_parser = parse_timeout, default_value = "2")]
    pub timeout: Duration,
    /// Seconds a --server command has to start answering
    #[arg(long, value_parser = parse_timeout, default_value = "10")]
    pub startup_timeout: Duration,
    /// How to print the results
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// `--no-isolation` and the submission's limits.
    #[command(flatten)]
    pub isolation: IsolationOptions,
}

/// How `check --server` knows the server is up.
#[derive(Debug, Clone)]
pub enum Probe {
    /// A TCP connection is accepted.
    Tcp,
    /// This datagram gets a reply (any reply).
    Udp(Vec<u8>),
}

/// Where the checks of a broken run would go: never used, as they are not run.
const NOWHERE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl Probe {
    /// Is anything at `address` (a `--target`)? Only a refusal is an answer: a
    /// server that is slow, or does not answer this probe, is left to the checks.
    fn not_refused(&self, address: SocketAddr, wait: Duration) -> Result<SocketAddr> {
        let refused = match self {
            Probe::Tcp => std::net::TcpStream::connect_timeout(&address, wait)
                .is_err_and(|error| error.kind() == io::ErrorKind::ConnectionRefused),
            Probe::Udp(datagram) => {
                let socket = net::udp_connected(address)?;
                socket.set_read_timeout(Some(wait))?;
                let mut reply = [0; 2048];
                // An ICMP port unreachable comes back as a refused send or recv.
                socket
                    .send(datagram)
                    .and_then(|_| socket.recv(&mut reply))
                    .is_err_and(|error| error.kind() == io::ErrorKind::ConnectionRefused)
            }
        };
        if refused {
            bail!(
                "connection refused by {address}: is the server running? Start it, or check \
                 the host and port given to --target",
                address = net::shown(address)
            );
        }
        Ok(address)
    }

    /// Does the server at `address` answer within `wait`?
    fn answered(&self, address: SocketAddr, wait: Duration) -> bool {
        match self {
            Probe::Tcp => std::net::TcpStream::connect_timeout(&address, wait).is_ok(),
            Probe::Udp(datagram) => {
                let Ok(socket) = net::udp_connected(address) else {
                    return false;
                };
                let mut reply = [0; 2048];
                socket.set_read_timeout(Some(wait)).is_ok()
                    && socket.send(datagram).is_ok()
                    && socket.recv(&mut reply).is_ok()
            }
        }
    }
}

/// How many `--timeout`s one check may take in all (it may wait several times).
const BUDGET_IN_TIMEOUTS: u32 = 5;

/// How long, after a check failed, the runner waits to see whether the server is
/// dying: a crashing server's sockets close (failing the check) a moment before
/// its process ends.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// How long each startup probe waits for an answer.
const PROBE_WAIT: Duration = Duration::from_millis(200);

impl TargetOptions {
    /// Starts a run of `lab`'s checks: against `--target`, or against the `--server`
    /// command, started and up (`probe` tells). If the server cannot be reached at all
    /// (it never came up, the target refuses the probe), that is said once in an
    /// `error:` line and the run is [broken](Checks::broken): every check is then
    /// listed as failed, not run, so the report has the lab's full score.
    ///
    /// A `--server` command with no `{port}` and no `--target` is a usage error: one
    /// `error:` line and exit status 2, as clap's own, and no report (the grading
    /// command is wrong, not the submission: a score of 0 would hide it).
    pub fn start(&self, lab: &str, probe: Probe) -> (Checks, SocketAddr) {
        if let (Some(command), None) = (&self.server, &self.target) {
            if !command.contains("{port}") {
                crate::cli::usage_error(
                    "the --server command has no {port}: put {port} where the server takes \
                     its port, or give --target HOST:PORT where it listens",
                );
            }
        }
        let budget = self.timeout * BUDGET_IN_TIMEOUTS;
        let Some(command) = &self.server else {
            let target = self.target.clone().unwrap_or_default();
            let checks = Checks::new(lab, Subject::Target(target.clone()), self.format)
                .with_bounds(self.timeout, budget);
            let reached = net::resolve_target(&target)
                .and_then(|addresses| probe.not_refused(addresses[0], self.timeout));
            return match reached {
                Ok(address) => (checks.aimed_at(address), address),
                Err(error) => (checks.broken(error, Vec::new()), NOWHERE),
            };
        };
        let isolation = isolation::enter(&self.isolation);
        let checks = Checks::new(lab, Subject::Command(command.clone()), self.format)
            .with_bounds(self.timeout, budget);
        // The report's first line once the server is up: should it fail (a closed
        // stdout), the server is there to be stopped.
        match self.start_server(command, &probe) {
            Ok((server, address)) => {
                let mut checks = checks.aimed_at(address);
                checks.server = Some(server);
                (checks.isolated(isolation), address)
            }
            Err((error, stderr_tail)) => {
                let error = error.context("the server never came up");
                (
                    checks.isolated(isolation).broken(error, stderr_tail),
                    NOWHERE,
                )
            }
        }
    }

    /// Runs the command on a free port (or `--target`'s) and waits until it answers.
    fn start_server(
        &self,
        command: &str,
        probe: &Probe,
    ) -> Result<(Submission, SocketAddr), (anyhow::Error, Vec<String>)> {
        let address = match &self.target {
            Some(target) => net::resolve_target(target).map(|addresses| addresses[0]),
            None => submission::free_port()
                .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)),
        }
        .map_err(|error| (error, Vec::new()))?;
        let command = submission::fill_in(command, address);
        let server = Submission::spawn(&command, Streams::Server).map_err(|e| (e, Vec::new()))?;
        let deadline = Instant::now() + self.startup_timeout;
        loop {
            if let Some(exit) = server.exit() {
                // Status 0: it ended as if done. A server left in the background
                // (`... &`, a script that starts it and returns) is the usual cause.
                let hint = match exit.status {
                    0 => {
                        ": the command must keep running while it serves (no trailing \
                          '&'; a script should end with 'exec' of the server)"
                    }
                    _ => "",
                };
                let error = anyhow!(
                    "it exited with {} before it answered on {address}{hint}",
                    exit.describe(),
                    address = net::shown(address)
                );
                return Err((error, server.stop().0));
            }
            if probe.answered(address, PROBE_WAIT) {
                return Ok((server, address));
            }
            if Instant::now() >= deadline {
                let error = anyhow!(
                    "it did not answer on {address} within {:.1} s: is {{port}} where it \
                     takes its port? (a slow start: raise --startup-timeout)",
                    self.startup_timeout.as_secs_f64(),
                    address = net::shown(address)
                );
                return Err((error, server.stop().0));
            }
            // Refused at once: pause, unless the server ends meanwhile.
            server.wait_exit(Duration::from_millis(50));
        }
    }
}

/// A run of checks against one server (or client), and its report.
#[derive(Debug)]
pub struct Checks {
    timeout: Duration,
    budget: Duration,
    format: Format,
    report: Report,
    server: Option<Submission>,
    /// The server's address, to name it in details.
    target: Option<SocketAddr>,
    /// Why no check can run (the server never came up), if so.
    broken: Option<String>,
}

impl Checks {
    /// A run of `lab`'s checks on `subject`, printed in `format`. Each wait inside a
    /// check is bounded by 2 s, each check by five times that, unless set otherwise.
    pub fn new(lab: &str, subject: Subject, format: Format) -> Self {
        let timeout = Duration::from_secs(2);
        Checks {
            timeout,
            budget: timeout * BUDGET_IN_TIMEOUTS,
            format,
            report: Report::new(lab, subject),
            server: None,
            target: None,
            broken: None,
        }
    }

    /// Each wait inside a check bounded by `timeout`, each check by `budget`.
    pub fn with_bounds(mut self, timeout: Duration, budget: Duration) -> Self {
        self.timeout = timeout;
        self.budget = budget;
        self
    }

    /// The checks talk to the server at `target` (named in their details).
    pub fn aimed_at(mut self, target: SocketAddr) -> Self {
        self.target = Some(target);
        self
    }

    /// A run that cannot take place: says why in one `error:` line on stderr (with the
    /// tail of the server's stderr) now, and fails each check given to [`run`](Self::run)
    /// without running it ("not run: ..."), so that every format still lists all the
    /// lab's checks and its full `max_score`, and the text ends with its score line.
    pub fn broken(mut self, error: anyhow::Error, stderr_tail: Vec<String>) -> Self {
        let reason = format!("{error:#}");
        let mut line = reason.clone();
        if !stderr_tail.is_empty() {
            line.push_str(&format!(
                "; the last lines of its stderr: {}",
                stderr_tail.join(" | ")
            ));
        }
        quiet_if_ending();
        crate::cli::finish(Err(anyhow!(line)));
        self.report.error = Some(reason.clone());
        self.report.stderr_tail = stderr_tail;
        self.broken = Some(reason);
        self
    }

    /// Is this run [broken](Self::broken) (its checks not run)?
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The bound on each wait (a connect, a reply) inside a check.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one check and, in the text format, prints its line at once.
    pub fn run<F>(&mut self, name: &str, check: F)
    where
        F: FnOnce() -> Result<()> + Send + 'static,
    {
        let started = Instant::now();
        let outcome = match &self.broken {
            Some(reason) => Err(format!("not run: {reason}")),
            None => self
                .outcome(name, check)
                .map_err(|error| wording::detail(&error, self.target)),
        };
        let result = CheckResult::new(name, outcome, started.elapsed());
        if self.format == Format::Text {
            say(&format!("{}\n", result.text_line()));
        }
        self.report.add(result);
    }

    fn outcome<F>(&self, name: &str, check: F) -> Result<()>
    where
        F: FnOnce() -> Result<()> + Send + 'static,
    {
        if let Some(exit) = self.server.as_ref().and_then(Submission::exit) {
            let during = exit.during.as_deref().unwrap_or("the start");
            bail!(
                "not run: the server exited with {} during '{during}'",
                exit.describe()
            );
        }
        let (done, outcome) = mpsc::channel();
        if let Some(server) = &self.server {
            let ended = done.clone();
            server.during(name, Box::new(move || drop(ended.send(None))));
        }
        thread::spawn(move || {
            let _ = done.send(Some(check()));
        });
        // Err(None): the server ended while the check was still waiting.
        let verdict = match outcome.recv_timeout(self.budget) {
            Ok(Some(Ok(()))) => Ok(()),
            Ok(Some(Err(error))) => Err(Some(error)),
            Ok(None) => Err(None),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Some(anyhow!(
                "no result within {:.1} s: the server hangs or is too slow",
                self.budget.as_secs_f64()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(Some(anyhow!("the check itself crashed")))
            }
        };
        let exit = match (&self.server, &verdict) {
            (Some(server), Err(_)) => server.wait_exit(EXIT_GRACE),
            _ => None,
        };
        if let Some(server) = &self.server {
            server.between_checks();
        }
        match (verdict, exit) {
            (Ok(()), _) => Ok(()),
            (Err(error), Some(exit)) => {
                let seen = error
                    .map(|error| format!(" ({})", wording::detail(&error, self.target)))
                    .unwrap_or_default();
                bail!(
                    "the server exited with {} during this check{seen}",
                    exit.describe()
                )
            }
            (Err(Some(error)), None) => Err(error),
            (Err(None), None) => bail!("the server ended during this check"),
        }
    }

    /// Stops a `--server` command, prints the report (text: the footer and the score
    /// line); success only if some check passed and none failed.
    pub fn finish(mut self) -> ExitCode {
        if let Some(server) = self.server.take() {
            let exit = server.exit();
            let (stderr_tail, _) = server.stop();
            if let Some(exit) = exit {
                self.report.server_exit = Some(exit.status);
                self.report.server_exit_during = exit.during;
            }
            self.report.stderr_tail = stderr_tail;
        }
        if self.format == Format::Text {
            say(&self.report.text_footer());
        } else {
            say(&self.report.render(self.format));
        }
        if self.report.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout. If that fails (its reader went away: `check ... | head -1`),
/// stops any running submission first, then ends as [`crate::cli::stdout_failed`] says.
/// Prints nothing once the grader is ending (see [`quiet_if_ending`]).
fn say(text: &str) {
    quiet_if_ending();
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        drop(stdout);
        let _held = submission::stop_all();
        crate::cli::stdout_failed(&error);
    }
}

/// Once the grader is ending (Ctrl-C, SIGTERM, a closed stdout), what the checks now
/// see is our own kill of the submission, not its doing: report none of it, and wait
/// here for the ending thread to exit the process.
fn quiet_if_ending() {
    if submission::grader_ending() {
        loop {
            thread::park();
        }
    }
}

/// Fails with "expected ..., got ..." unless `got == expected`; bytes are shown as
/// escaped text so the detail fits on the check's line.
pub fn expect_bytes(what: &str, got: &[u8], expected: &[u8]) -> Result<()> {
    if got != expected {
        bail!(
            "{what}: expected \"{}\", got \"{}\"",
            shown(expected),
            shown(got)
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

/// Bytes as escaped text, cut after 80 bytes, to fit on a check's line.
pub fn shown(bytes: &[u8]) -> String {
    const SHOWN: usize = 80;
    let mut text: String = bytes[..bytes.len().min(SHOWN)].escape_ascii().to_string();
    if bytes.len() > SHOWN {
        text.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;

    #[test]
    fn a_server_that_ends_during_a_check_fails_it_at_once_and_the_rest_fast() {
        let server = Submission::spawn(
            "trap 'exit 3' USR1; echo ready >&2; while :; do sleep 0.05; done",
            Streams::Server,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.stderr_tail().is_empty() {
            assert!(Instant::now() < deadline, "the shell never started");
            thread::sleep(Duration::from_millis(5));
        }
        let group = Pid::from_raw(server.group());
        let mut checks = Checks::new("lab-x", Subject::Command("sh".into()), Format::Json)
            .with_bounds(Duration::from_secs(2), Duration::from_secs(10));
        checks.server = Some(server);
        let started = Instant::now();
        checks.run("it crashes here", move || {
            killpg(group, Signal::SIGUSR1)?;
            thread::sleep(Duration::from_secs(30)); // a check that would wait for ever
            Ok(())
        });
        checks.run("afterwards", || Ok(()));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let details: Vec<&str> = checks
            .report
            .checks
            .iter()
            .map(|check| check.detail.as_str())
            .collect();
        assert_eq!(
            details,
            [
                "the server exited with status 3 during this check",
                "not run: the server exited with status 3 during 'it crashes here'"
            ]
        );
    }
}
