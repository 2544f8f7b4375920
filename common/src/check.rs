//! The runner behind every lab's `check` (grade a server) and `check-client` (grade a
//! client): named checks, each bounded in time, and a report with a score.
//!
//! - `check --target HOST:PORT` checks a server that is already running.
//! - `check --server 'CMD'` runs the submission itself ([`submission`]): `CMD` with
//!   `{port}` and `{host}` filled in, waits until it is ready (its port listened on or
//!   bound, as the system's socket table shows: [`sockets`]), runs the checks, then
//!   stops it and every process it started. A server that dies during a check fails
//!   that check, with its exit status and the last lines of its stderr, and is started
//!   again for the next one: each check counts on its own.
//! - The grader never disturbs what it grades: no probe of any kind, and each check's
//!   connection ends gracefully ([`crate::tcp_checks::Connection`]), leaving no reset
//!   to kill a server without error handling, and no TIME_WAIT on its port.
//! - `check-client --client 'CMD'` ([`client`]) runs a client against a scripted
//!   server of ours, once per check, and grades what it sent and printed.
//!
//! - A run that cannot take place (a server that never came up, a fixed port held by
//!   another program) is said once in an `error:` line, and every check is listed as
//!   failed, not run: the report, in every format, has the lab's full list of checks
//!   and `max_score`, and the text its score line. (A `--client` without `{port}` is
//!   a usage error, with no report.)
//! - Grading that is interrupted (Ctrl-C, SIGTERM, a closed stdout) stops the
//!   submission and reports nothing more: its death is our doing, not its failure.
//!
//! Each check runs on a thread of its own and is abandoned if it outlives its budget,
//! so a server that hangs or spins fails that check instead of hanging the grader.
//! Each check counts on its own: a `--server` that died in a check, or failed one and
//! lives on (perhaps hung), is started again for the next; one found spinning after a
//! failed check (a loop on a connection an earlier check closed) is started again and
//! the check runs once more. Checks about surviving the one before get the server as
//! that check left it.
//! [`report`] prints the outcome as text, JSON, JUnit XML or Gradescope's format.

pub mod client;
pub mod grade;
pub mod isolation;
pub mod limits;
pub mod report;
pub mod sockets;
pub mod startup;
pub mod submission;
pub mod wording;

use std::fmt::Debug;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use self::isolation::IsolationOptions;
use self::report::{CheckResult, Format, Report, Subject};
use self::submission::{Exit, Streams, Submission};
use crate::cli::parse_timeout;
use crate::{net, tcp_checks};

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

pub use self::sockets::Transport;

/// Where the checks of a broken run would go: never used, as they are not run.
const NOWHERE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// How many `--timeout`s one check may take in all (it may wait several times).
const BUDGET_IN_TIMEOUTS: u32 = 5;

/// How long, after a check failed, the runner waits to see whether the server is
/// dying: a crashing server's sockets close (failing the check) a moment before
/// its process ends.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// How often the socket table is read while a server starts.
const READY_POLL: Duration = Duration::from_millis(20);

/// How long a `--server` may serve its port over the other transport only (a TCP
/// server checked by UDP checks) before it is said to be on the wrong one: a server
/// that opens both does so within milliseconds.
const OTHER_TRANSPORT_GRACE: Duration = Duration::from_secs(1);

/// The longest wait for the checks' connections to end (see [`tcp_checks::Connection`]).
const ENDS_LIMIT: Duration = Duration::from_secs(2);

/// How many lines of a crashed server's stderr its check's detail shows.
const CRASH_LINES: usize = 3;

impl TargetOptions {
    /// Starts a run of `lab`'s checks: against `--target` (not probed: the checks'
    /// own connections are all the server sees), or against the `--server` command,
    /// started and ready (its `transport` port listened on or bound). If the server
    /// cannot be started (it never came up, its fixed port is held by another
    /// program), that is said once in an `error:` line and the run is
    /// [broken](Checks::broken): every check is then listed as failed, not run, so
    /// the report has the lab's full score.
    ///
    /// A `--server` command with no `{port}` and no `--target` is a usage error: one
    /// `error:` line and exit status 2, as clap's own, and no report (the grading
    /// command is wrong, not the submission: a score of 0 would hide it).
    pub fn start(&self, lab: &str, transport: Transport) -> (Checks, SocketAddr) {
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
            return match net::resolve_target(&target) {
                Ok(addresses) => (checks.aimed_at(addresses[0]), addresses[0]),
                Err(error) => (checks.broken(error, Vec::new()), NOWHERE),
            };
        };
        let isolation = isolation::enter(&self.isolation);
        let checks = Checks::new(lab, Subject::Command(command.clone()), self.format)
            .with_bounds(self.timeout, budget);
        let launch = match self.launch(command, transport) {
            Ok(launch) => launch,
            Err(error) => {
                return (
                    checks.isolated(isolation).broken(error, Vec::new()),
                    NOWHERE,
                );
            }
        };
        let address = launch.address;
        match launch.start() {
            Ok(running) => {
                let mut checks = checks.aimed_at(address);
                let left_foreground = running.left_foreground;
                checks.server = Some(running);
                checks.launch = Some(launch);
                if left_foreground {
                    checks.leave_foreground();
                }
                (checks.isolated(isolation), address)
            }
            Err(failed) => {
                let error = failed.error.context("the server never came up");
                let mut checks = checks.isolated(isolation);
                checks.report.server_exit = failed.exit.map(|exit| exit.status);
                (checks.broken(error, failed.stderr_tail), NOWHERE)
            }
        }
    }

    /// What starting the command takes: its port (a free one, or `--target`'s, which
    /// must not be held by another program: that program would be graded in the
    /// student's name), and its command line filled in.
    fn launch(&self, command: &str, transport: Transport) -> Result<Launch> {
        let address = match &self.target {
            Some(target) => {
                let address = net::resolve_target(target)?[0];
                port_not_held(address, transport)?;
                address
            }
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), submission::free_port()?),
        };
        Ok(Launch {
            command: submission::fill_in(command, address),
            port_given: command.contains("{port}"),
            address,
            transport,
            startup_timeout: self.startup_timeout,
        })
    }
}

/// Fails if a program holds `address`'s port already (before the submission starts:
/// looking cannot disturb it). Read in the socket table; where there is none, by
/// binding the port for a moment (with `SO_REUSEADDR`, as std's listeners do, so a
/// TIME_WAIT is no reason to fail).
fn port_not_held(address: SocketAddr, transport: Transport) -> Result<()> {
    let held = match sockets::serving(transport, address.port()) {
        Some(held) => held,
        None => match transport {
            Transport::Tcp => std::net::TcpListener::bind(address).is_err(),
            Transport::Udp => std::net::UdpSocket::bind(address).is_err(),
        },
    };
    if held {
        let what = match transport {
            Transport::Tcp => "listens on",
            Transport::Udp => "is bound to",
        };
        bail!(
            "port {} is already in use: another program {what} it, and it would be graded \
             instead of the submission. Stop that program (`ss -lptun` names it), then grade \
             again",
            address.port()
        );
    }
    Ok(())
}

/// " (N connections on port P are in TIME_WAIT: ...)" if there are any (left by another
/// program: the grader's own connections leave none on the server's port), a reason a
/// server without `SO_REUSEADDR` cannot bind it.
fn time_wait_hint(port: u16) -> String {
    match sockets::time_waits(port).filter(|&n| n > 0) {
        Some(waiting) => format!(
            " ({waiting} connection(s) on port {port} are in TIME_WAIT: a server without \
             SO_REUSEADDR cannot bind it for a minute)"
        ),
        None => String::new(),
    }
}

/// How to start (and start again) a `--server` command.
#[derive(Debug)]
struct Launch {
    /// The command line, `{host}` and `{port}` filled in.
    command: String,
    /// Does the command line give the server its port (`{port}`), or is the port
    /// written in its code (`--target`'s)?
    port_given: bool,
    address: SocketAddr,
    transport: Transport,
    startup_timeout: Duration,
}

/// A started `--server` command.
#[derive(Debug)]
struct Running {
    submission: Submission,
    /// Its command exited with status 0 and a process it started serves in the
    /// background (a daemon: double fork, `setsid`).
    left_foreground: bool,
}

/// Why a `--server` command did not come up: the error, the last lines of its stderr,
/// and how its command ended, if it did (for the report's `server_exit`).
#[derive(Debug)]
struct NotStarted {
    error: anyhow::Error,
    stderr_tail: Vec<String>,
    exit: Option<Exit>,
}

impl NotStarted {
    /// A failure of ours or a command that is still running (it was stopped).
    fn stopped(error: anyhow::Error, stderr_tail: Vec<String>) -> Self {
        NotStarted {
            error,
            stderr_tail,
            exit: None,
        }
    }
}

impl Launch {
    /// Runs the command and waits, bounded by `--startup-timeout`, until it is ready:
    /// its port is listened on (TCP) or bound (UDP), as the socket table shows. No
    /// probe is sent: a probe is a connection the server did not ask for, and a server
    /// with no error handling can die of it. Where there is no socket table, the first
    /// check's first connection is retried until it is accepted (see
    /// [`crate::tcp_checks::connect`]).
    fn start(&self) -> Result<Running, NotStarted> {
        // Another program on the other transport's same port number is not this one.
        let watch_other_transport =
            sockets::serving(self.other_transport(), self.address.port()) == Some(false);
        let server = Submission::spawn(&self.command, Streams::Server)
            .map_err(|error| NotStarted::stopped(error, Vec::new()))?;
        let address = self.address;
        let deadline = Instant::now() + self.startup_timeout;
        let mut other_transport_since = None;
        loop {
            let serving = sockets::serving(self.transport, address.port());
            let exit = server.exit();
            match (serving, &exit) {
                // Ready. (A daemon's first parent may end a moment later, or we may
                // hear of it late: see `Checks::left_late`.)
                (Some(true), None) => {
                    return Ok(Running {
                        submission: server,
                        left_foreground: false,
                    });
                }
                // Its command ended well, and something it started serves: a daemon.
                (Some(true), Some(exit)) if exit.status == 0 => {
                    return Ok(Running {
                        submission: server,
                        left_foreground: true,
                    });
                }
                (None, None) => {
                    startup::starting(deadline);
                    return Ok(Running {
                        submission: server,
                        left_foreground: false,
                    });
                }
                _ => {}
            }
            // Status 0 while what it started is still coming up: wait on (a daemon
            // binds after its parents exit; a server left in the background, `&`, is
            // still in the group), unless nothing of it is left.
            let left = |server: &Submission| server.has_strays() || server.group_alive();
            if let Some(exit) = exit
                .clone()
                .filter(|exit| exit.status != 0 || !left(&server))
            {
                // Status 0: it ended as if done, and nothing it started is left.
                let hint = match exit.status {
                    0 => {
                        ": the command must keep running while it serves (no trailing \
                          '&'; a script should end with 'exec' of the server)"
                    }
                    _ => "",
                };
                let error = anyhow!(
                    "it exited with {} before it was ready on {address}{hint}{}",
                    exit.describe(),
                    time_wait_hint(address.port()),
                    address = net::shown(address)
                );
                return Err(NotStarted {
                    error,
                    stderr_tail: server.stop().0,
                    exit: Some(exit),
                });
            }
            if let Some(error) = watch_other_transport
                .then(|| self.on_other_transport(&mut other_transport_since))
                .flatten()
            {
                return Err(NotStarted::stopped(error, server.stop().0));
            }
            if Instant::now() >= deadline {
                let what = match self.transport {
                    Transport::Tcp => "listening on",
                    Transport::Udp => "bound to",
                };
                let port = address.port();
                let question = match self.port_given {
                    true => "is {port} where it takes its port?".to_owned(),
                    false => format!("does its code use port {port}, as --target says?"),
                };
                let error = anyhow!(
                    "it was not {what} {address} within {:.1} s{}: {question} (a slow start: \
                     raise --startup-timeout)",
                    self.startup_timeout.as_secs_f64(),
                    time_wait_hint(port),
                    address = net::shown(address)
                );
                return Err(NotStarted::stopped(error, server.stop().0));
            }
            match exit {
                Some(_) => thread::sleep(READY_POLL),
                None => drop(server.wait_exit(READY_POLL)),
            }
        }
    }

    /// The error for a server that serves its port over the other transport only, and
    /// has for [`OTHER_TRANSPORT_GRACE`] (`since`: when it was first seen so): "is
    /// {port} where it takes its port?" after the whole start-up wait would send its
    /// grader looking in the wrong place.
    fn on_other_transport(&self, since: &mut Option<Instant>) -> Option<anyhow::Error> {
        let other = self.other_transport();
        if sockets::serving(other, self.address.port()) != Some(true) {
            *since = None;
            return None;
        }
        let first_seen = *since.get_or_insert_with(Instant::now);
        if first_seen.elapsed() < OTHER_TRANSPORT_GRACE {
            return None;
        }
        let address = net::shown(self.address);
        let (found, needed) = match other {
            Transport::Tcp => (format!("listens on {address} over TCP"), "UDP"),
            Transport::Udp => (format!("is bound to {address} over UDP"), "TCP"),
        };
        Some(anyhow!(
            "it {found}, but these checks need a {needed} server there: is it the right \
             lab's program? (where the lab takes --transport, give the one it uses)"
        ))
    }

    /// The transport these checks do not use.
    fn other_transport(&self) -> Transport {
        match self.transport {
            Transport::Tcp => Transport::Udp,
            Transport::Udp => Transport::Tcp,
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
    /// The `--server` command now running, if any.
    server: Option<Running>,
    /// How to start it again after it died.
    launch: Option<Launch>,
    /// The first death of the server: its exit, and its stderr's last lines then.
    first_crash: Option<(Exit, Vec<String>)>,
    /// The last check failed with the `--server` still running: the failure may have
    /// left it hung, spinning or stuck in a session, so the next check starts it again
    /// (unless that check is about surviving this one).
    failed_alive: bool,
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
            launch: None,
            first_crash: None,
            failed_alive: false,
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
        self.break_off(&error, stderr_tail);
        self
    }

    fn break_off(&mut self, error: &anyhow::Error, stderr_tail: Vec<String>) {
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
    }

    /// Is this run [broken](Self::broken) (its checks not run)?
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The bound on each wait (a connect, a reply) inside a check.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one check and, in the text format, prints its line at once. A `--server`
    /// that died in an earlier check is started again first: each check counts on its
    /// own.
    pub fn run<F>(&mut self, name: &str, check: F)
    where
        F: Fn() -> Result<()> + Send + Sync + 'static,
    {
        self.run_checking_survival(name, false, check);
    }

    /// Runs a check that the server survived the check before (it "still answers
    /// after bad input"): fails, without running, if that check killed it (it is
    /// started again for the checks after).
    pub fn run_after_previous<F>(&mut self, name: &str, check: F)
    where
        F: Fn() -> Result<()> + Send + Sync + 'static,
    {
        self.run_checking_survival(name, true, check);
    }

    fn run_checking_survival<F>(&mut self, name: &str, survival: bool, check: F)
    where
        F: Fn() -> Result<()> + Send + Sync + 'static,
    {
        let started = Instant::now();
        let died = self.restart_if_dead();
        if !survival && died.is_none() {
            self.restart_if_failed();
        }
        let outcome = match (&self.broken, died) {
            (Some(reason), _) => Err(format!("not run: {reason}")),
            (None, Some(exit)) if survival => Err(format!(
                "the server did not survive the check before: it exited with {} during \
                 '{}' (it was started again for the checks after this one)",
                exit.describe(),
                exit.during.as_deref().unwrap_or("the start")
            )),
            (None, _) => {
                let check = Arc::new(check);
                let mut outcome = self.outcome(name, Arc::clone(&check));
                if outcome.is_err() && !survival && self.restart_if_spinning() {
                    outcome = self.outcome(name, check);
                }
                outcome.map_err(|error| wording::detail(&error, self.target))
            }
        };
        let result = CheckResult::new(name, outcome, started.elapsed());
        if self.format == Format::Text {
            say(&format!("{}\n", result.text_line()));
        }
        self.report.add(result);
    }

    /// If the `--server` command died (in the last check, or between checks), starts
    /// it again and says how it had ended; if it cannot be started, the rest of the
    /// run is broken.
    fn restart_if_dead(&mut self) -> Option<Exit> {
        let exit = self.died()?;
        let during = exit.during.as_deref().unwrap_or("the start");
        let why = format!(
            "the server exited with {} during '{during}'",
            exit.describe()
        );
        let tail = self.start_again(&why);
        self.first_crash.get_or_insert((exit.clone(), tail));
        Some(exit)
    }

    /// If the last check failed with the server still running, starts it again: a
    /// server left hung (a `sleep`, a wait that never ends) costs the check it hung
    /// in, as a crash does, not every check after it.
    fn restart_if_failed(&mut self) {
        if !std::mem::take(&mut self.failed_alive) || self.broken.is_some() {
            return;
        }
        let last = self.report.checks.last().map(|check| check.name.clone());
        let why = format!(
            "the server was stopped after it failed '{}'",
            last.unwrap_or_default()
        );
        self.start_again(&why);
    }

    /// After a check failed: if the server is spinning (a loop around a `recv` that
    /// returns 0 for ever, since a client of an earlier check closed), the failure was
    /// its state from before, not its answer to this check. Starts it again and says
    /// so (true): the check then runs once more, on a server as fresh as a crash
    /// leaves the next check.
    fn restart_if_spinning(&mut self) -> bool {
        let spinning = self.server.as_ref().is_some_and(|running| {
            running.submission.exit().is_none() && running.submission.spinning()
        });
        if !spinning || self.launch.is_none() {
            return false;
        }
        self.failed_alive = false;
        self.start_again("the server was stopped spinning");
        self.broken.is_none()
    }

    /// Stops the server and starts its command again, once its connections have ended
    /// and its port is free (the kernel lets go of it a moment after); if it cannot be
    /// started, the rest of the run is broken, `why` saying what came before. Returns
    /// the last lines of the stopped server's stderr.
    fn start_again(&mut self, why: &str) -> Vec<String> {
        let Some(running) = self.server.take() else {
            return Vec::new();
        };
        let (tail, _) = running.submission.stop();
        tcp_checks::wait_for_ends(true, ENDS_LIMIT);
        let Some(launch) = &self.launch else {
            return tail;
        };
        let deadline = Instant::now() + ENDS_LIMIT;
        while sockets::port_taken(launch.address.port()) == Some(true) && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(5));
        }
        match launch.start() {
            Ok(running) => self.server = Some(running),
            Err(failed) => {
                let error = failed
                    .error
                    .context(format!("{why} and could not be started again"));
                if let Some(exit) = failed.exit {
                    self.first_crash
                        .get_or_insert((exit, failed.stderr_tail.clone()));
                }
                self.break_off(&error, failed.stderr_tail);
            }
        }
        tail
    }

    /// How the server died, if it did: its command ended on its own (unless it
    /// [left the foreground](Self::left_late)); or, for a server that left the
    /// foreground, its port is no longer served.
    fn died(&mut self) -> Option<Exit> {
        let running = self.server.as_ref()?;
        if !running.left_foreground {
            let exit = running.submission.exit()?;
            if !self.left_late(&exit) {
                return Some(exit);
            }
            self.leave_foreground();
            return None;
        }
        let running = self.server.as_ref()?;
        let launch = self.launch.as_ref()?;
        match sockets::serving(launch.transport, launch.address.port()) {
            Some(false) => Some(Exit {
                status: 0,
                during: running.submission.current_check(),
            }),
            _ => None,
        }
    }

    /// Did the command that ended with `exit` leave the foreground, rather than die?
    /// Status 0, its port still served, and a process it started running outside its
    /// process group: a daemon (fork, `setsid`, fork: APUE 13.3) whose first parent
    /// ended after the daemon was ready, or was heard of late (a loaded machine, the
    /// isolation's watcher). A forking server whose parent ended with status 0 leaves
    /// its children in the group: that is a death, and it is started again.
    fn left_late(&self, exit: &Exit) -> bool {
        let (Some(running), Some(launch)) = (&self.server, &self.launch) else {
            return false;
        };
        exit.status == 0
            && sockets::serving(launch.transport, launch.address.port()) == Some(true)
            && running.submission.has_strays()
    }

    /// Grades the server in the background from now on, and says so in the report.
    fn leave_foreground(&mut self) {
        let (Some(running), Some(launch)) = (self.server.as_mut(), &self.launch) else {
            return;
        };
        running.left_foreground = true;
        self.report.server_exit = Some(0);
        self.report.note = Some(format!(
            "the server left the foreground: its command exited with status 0 and a \
             process it started went on serving {address} in the background (graded \
             there, stopped at the end; a grader runs a server in the foreground: no \
             trailing '&', no daemon)",
            address = net::shown(launch.address)
        ));
    }

    fn outcome<F>(&mut self, name: &str, check: Arc<F>) -> Result<()>
    where
        F: Fn() -> Result<()> + Send + Sync + 'static,
    {
        let (done, outcome) = mpsc::channel();
        // The server's end, told by its watcher (a channel of its own: a check that
        // crashes drops its sender, and the runner must see that at once).
        let (ended, server_ended) = mpsc::channel();
        if let Some(running) = &self.server {
            running.submission.during(
                name,
                Box::new(move || {
                    let _ = ended.send(());
                }),
            );
        }
        let worker = thread::spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check()));
            let _ = done.send(result);
        });
        // None: the server ended while the check was still waiting.
        let deadline = Instant::now() + self.budget;
        let verdict = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match outcome.recv_timeout(left.min(READY_POLL)) {
                Ok(Ok(Ok(()))) => break Ok(()),
                Ok(Ok(Err(error))) => break Err(Some(error)),
                Ok(Err(panic)) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    break Err(Some(anyhow!(
                        "the check itself crashed (a grader fault): {what}"
                    )));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(Some(anyhow!("the check itself crashed (a grader fault)")));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if server_ended.try_recv().is_ok() && self.died().is_some() {
                break Err(None);
            }
            if Instant::now() >= deadline {
                break Err(Some(anyhow!(
                    "no result within {:.1} s: the server hangs or is too slow",
                    self.budget.as_secs_f64()
                )));
            }
        };
        let exit = match (&self.server, &verdict) {
            (Some(running), Err(_)) => {
                if !running.left_foreground {
                    running.submission.wait_exit(EXIT_GRACE);
                }
                let exit = self.died();
                if exit.is_some() {
                    // Its connections end before it is started again on the same
                    // port (bounded: the check's own waits are).
                    let until = Instant::now() + self.timeout;
                    while !worker.is_finished() && Instant::now() < until {
                        thread::sleep(Duration::from_millis(5));
                    }
                }
                exit
            }
            _ => None,
        };
        if let Some(running) = &self.server {
            running.submission.between_checks();
        }
        // A server that left the foreground (a daemon) is graded where it runs, and
        // not started again after a failure it lived through: starting it again means
        // finding a new daemon, which is found for sure only when no other grader runs
        // alongside (one that empties its environment, see `Submission::has_strays`).
        let in_background = self.server.as_ref().is_some_and(|r| r.left_foreground);
        self.failed_alive =
            verdict.is_err() && exit.is_none() && self.launch.is_some() && !in_background;
        match (verdict, exit) {
            (Ok(()), _) => Ok(()),
            (Err(error), Some(exit)) => {
                let seen = error
                    .map(|error| format!(" ({})", wording::detail(&error, self.target)))
                    .unwrap_or_default();
                let tail = self
                    .server
                    .as_ref()
                    .map(|running| running.submission.stderr_tail())
                    .unwrap_or_default();
                let last = &tail[tail.len().saturating_sub(CRASH_LINES)..];
                let stderr = match last {
                    [] => String::new(),
                    lines => {
                        let lines: Vec<&str> = lines.iter().map(|line| line.trim()).collect();
                        format!("; its stderr: {}", lines.join(" | "))
                    }
                };
                let how = match self.server.as_ref().is_some_and(|r| r.left_foreground) {
                    true => "the server (in the background) stopped serving".to_owned(),
                    false => format!("the server exited with {}", exit.describe()),
                };
                bail!("{how} during this check{seen}{stderr}; the next check starts it again")
            }
            (Err(Some(error)), None) => Err(error),
            (Err(None), None) => bail!("the server ended during this check"),
        }
    }

    /// Stops a `--server` command, prints the report (text: the footer and the score
    /// line); success only if some check passed and none failed.
    pub fn finish(mut self) -> ExitCode {
        // Every check's connection ends as it should before the server is stopped
        // and the grader exits (which would close them with a FIN where a reset is
        // due, leaving TIME_WAIT on the server's port).
        tcp_checks::wait_for_ends(false, ENDS_LIMIT);
        // A server graded in the background has no command left to end.
        let exit = match self.server.as_ref().is_some_and(|r| r.left_foreground) {
            true => None,
            false => self.died(),
        };
        if let Some(running) = self.server.take() {
            let (stderr_tail, _) = running.submission.stop();
            self.report.stderr_tail = stderr_tail;
            if let Some(exit) = exit {
                self.first_crash.get_or_insert((exit, Vec::new()));
            }
            tcp_checks::wait_for_ends(true, ENDS_LIMIT);
        }
        if let Some((exit, tail)) = self.first_crash.take() {
            self.report.server_exit = Some(exit.status);
            self.report.server_exit_during = exit.during;
            if !tail.is_empty() {
                self.report.stderr_tail = tail;
            }
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

/// A grader's UDP socket for requests to one server. It takes the reply from
/// whatever address it comes: a server that answers from another socket (a new one
/// per reply, say) fails the check about where replies come from, not every check
/// (a connected socket drops such replies, UNP 8.11). And it hears an ICMP port
/// unreachable as a refusal, to say "is the server running?" at once: on Linux,
/// unconnected with `IP_RECVERR`; elsewhere connected, the only way to hear it, so
/// there a reply from another address is not heard.
#[derive(Debug)]
pub struct RequestSocket {
    socket: UdpSocket,
    target: SocketAddr,
    connected: bool,
}

impl RequestSocket {
    /// socket() + bind() to any local address and port, for requests to `target`,
    /// each read bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `socket`, `bind`, `setsockopt` and `connect`.
    pub fn new(target: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let socket = UdpSocket::bind(net::any_address(target))?;
        crate::platform::hold_largest_datagram(&socket)?;
        socket.set_read_timeout(Some(timeout))?;
        let connected = !crate::platform::hear_refusals_unconnected(&socket, target)?;
        if connected {
            // connect(): replies from `target` only, and its ICMP errors reported.
            socket.connect(target)?;
        }
        Ok(RequestSocket {
            socket,
            target,
            connected,
        })
    }

    /// sendto() the target (send(), where connected).
    ///
    /// # Errors
    ///
    /// Those of `sendto`; a refusal of an earlier datagram as `ConnectionRefused`.
    pub fn send(&self, request: &[u8]) -> io::Result<usize> {
        match self.connected {
            true => self.socket.send(request),
            false => self.socket.send_to(request, self.target),
        }
    }

    /// recv(): the next datagram, from whatever address (the target only, where
    /// connected).
    ///
    /// # Errors
    ///
    /// `WouldBlock`/`TimedOut` after the timeout; `ConnectionRefused` for an ICMP port
    /// unreachable.
    pub fn recv(&self, reply: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(reply)
    }
}

/// One request datagram to `target` from a fresh [`RequestSocket`], and its reply (up
/// to the largest datagram, never cut), the wait bounded by `timeout`; the errors as
/// the socket calls return them. While a `--server` may still be starting (see
/// [`startup`]), a refusal sends the request again.
pub fn exchange_datagram(
    target: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let socket = RequestSocket::new(target, timeout)?;
    let mut reply = vec![0; 65_536];
    loop {
        // sendto() + recv(): an ICMP port unreachable comes back as a refusal of either.
        match socket.send(request).and_then(|_| socket.recv(&mut reply)) {
            Ok(length) => {
                startup::ready();
                reply.truncate(length);
                return Ok(reply);
            }
            Err(error)
                if error.kind() == io::ErrorKind::ConnectionRefused
                    && startup::still_starting() =>
            {
                thread::sleep(startup::RETRY);
            }
            Err(error) => return Err(error),
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

/// How many bytes of a reply a check's detail shows.
pub const SHOWN: usize = 80;

/// Bytes as [`crate::report::escaped`] shows them (text as text; controls, invisible
/// characters and bytes that are not UTF-8 escaped), cut after [`SHOWN`] bytes, to
/// fit on a check's line.
pub fn shown(bytes: &[u8]) -> String {
    let mut text = crate::report::escaped(&bytes[..bytes.len().min(SHOWN)]);
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

    /// A `--server` run of `checks` on a shell that exits 3 on SIGUSR1, and its group.
    fn checks_on_a_shell(budget: Duration) -> (Checks, Pid) {
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
            .with_bounds(Duration::from_secs(2), budget);
        checks.server = Some(Running {
            submission: server,
            left_foreground: false,
        });
        (checks, group)
    }

    fn details(checks: &Checks) -> Vec<&str> {
        checks
            .report
            .checks
            .iter()
            .map(|check| check.detail.as_str())
            .collect()
    }

    #[test]
    fn a_server_that_ends_during_a_check_fails_it_at_once_with_its_stderr() {
        let (mut checks, group) = checks_on_a_shell(Duration::from_secs(10));
        let started = Instant::now();
        checks.run("it crashes here", move || {
            killpg(group, Signal::SIGUSR1)?;
            thread::sleep(Duration::from_secs(30)); // a check that would wait for ever
            Ok(())
        });
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let detail = details(&checks)[0];
        assert!(
            detail.starts_with(
                "the server exited with status 3 during this check; its stderr: ready"
            ),
            "{detail}"
        );
        assert!(
            detail.ends_with("; the next check starts it again"),
            "{detail}"
        );
    }

    #[test]
    fn a_check_that_panics_is_said_at_once_not_after_the_budget() {
        // Under --server the watcher holds a way to end the wait: a crashed check
        // must still be seen as soon as it crashes.
        let (mut checks, _group) = checks_on_a_shell(Duration::from_secs(20));
        let started = Instant::now();
        checks.run("the grader's own bug", || panic!("index out of bounds"));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let detail = details(&checks)[0];
        assert!(detail.starts_with("the check itself crashed"), "{detail}");
        assert!(detail.contains("index out of bounds"), "{detail}");
    }

    #[test]
    fn while_a_server_starts_unseen_its_first_datagram_and_connection_are_retried() {
        // Where no socket table shows the server's bind, a refusal before the startup
        // deadline is the server still starting: the first exchange is the probe.
        for transport in [Transport::Udp, Transport::Tcp] {
            let port = submission::free_port().unwrap();
            let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
            startup::starting(Instant::now() + Duration::from_secs(10));
            let late_server = thread::spawn(move || {
                thread::sleep(Duration::from_millis(300)); // a slow interpreter's start
                match transport {
                    Transport::Udp => {
                        let socket = std::net::UdpSocket::bind(target).unwrap();
                        let mut request = [0; 16];
                        let (length, client) = socket.recv_from(&mut request).unwrap();
                        socket.send_to(&request[..length], client).unwrap();
                    }
                    Transport::Tcp => drop(std::net::TcpListener::bind(target).unwrap().accept()),
                }
            });
            match transport {
                Transport::Udp => {
                    let reply = exchange_datagram(target, b"first", Duration::from_secs(5));
                    assert_eq!(reply.unwrap(), b"first");
                }
                Transport::Tcp => {
                    drop(crate::tcp_checks::connect(target, Duration::from_secs(5)).unwrap())
                }
            }
            assert!(
                !startup::still_starting(),
                "the first answer ends the startup"
            );
            late_server.join().unwrap();
        }
    }

    #[test]
    fn shown_bytes_read_as_text_with_what_cannot_be_seen_escaped() {
        assert_eq!(shown("STRAßE ﬁx\n".as_bytes()), "STRAßE ﬁx\\n");
        assert_eq!(shown(b"ab\xff\xfecd\r\n"), r"ab\xff\xfecd\r\n");
        assert_eq!(shown(b"say \"hi\" \\ \x00"), r#"say \"hi\" \\ \x00"#);
        assert_eq!(shown("\u{85}é".as_bytes()), r"\u{85}é");
        // NFD's é (e and a combining acute) is not NFC's: the mark is shown escaped.
        assert_eq!(
            shown("cafe\u{301} a\u{200b}b".as_bytes()),
            r"cafe\u{301} a\u{200b}b"
        );
        // Half a character at the end: the byte that came, escaped.
        assert_eq!(shown(b"stra\xc3"), r"stra\xc3");
        let long = shown(&[b'x'; 100]);
        assert_eq!(long, format!("{}... (100 bytes)", "x".repeat(SHOWN)));
    }
}
