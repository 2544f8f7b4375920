//! `check-client --client 'CMD'`: grading a client, in any language.
//!
//! Each check starts a scripted server of ours on a free loopback port (one that
//! answers right, or drops the first datagram, or cuts its reply into segments, or
//! closes mid-session...), runs the client command against it with `{host}` and
//! `{port}` filled in and the check's input on its stdin, lets it run until it ends
//! (or stops it at `--timeout`), then grades what the server received and what the
//! client printed and how it exited. A lab adds a suite by writing its scripted
//! servers as functions given to [`ClientUnderTest::scripted_udp`] or
//! [`ClientUnderTest::scripted_tcp`], and its checks with [`ClientUnderTest::run`] and
//! [`ClientRun`]'s `expect_*`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use super::report::{Format, Subject};
use super::sockets;
use super::submission::{self, STOP_GRACE, Streams, Submission};
use super::wording::in_words;
use super::{Checks, shown};
use crate::cli::parse_timeout;

/// `--client CMD`, `--timeout`, `--format`: the options of every lab's `check-client`.
#[derive(clap::Args, Debug, Clone)]
pub struct ClientOptions {
    /// The client to grade, run through sh -c; {host} and {port} in it are replaced by
    /// the address of our scripted server. Example: 'python3 client.py {host} {port}'
    #[arg(long, value_name = "CMD")]
    pub client: String,
    /// Seconds the client may run in each check before it is stopped
    #[arg(long, value_parser = parse_timeout, default_value = "10")]
    pub timeout: Duration,
    /// Our scripted servers listen on this port instead of a free one: for a client
    /// whose server port is written in its code ({port} is then not needed)
    #[arg(long)]
    pub port: Option<u16>,
    /// How to print the results
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// `--no-isolation` and the submission's limits.
    #[command(flatten)]
    pub isolation: super::isolation::IsolationOptions,
}

impl ClientOptions {
    /// Starts a run of `lab`'s client checks. A command that cannot be graded (no
    /// `{port}` and no `--port`) is a usage error: one `error:` line and exit status
    /// 2, as clap's own, and no report (the grading command is wrong, not the
    /// submission: a score of 0 would hide it).
    pub fn start(&self, lab: &str) -> (Checks, ClientUnderTest) {
        if self.port.is_none() && !self.client.contains("{port}") {
            crate::cli::usage_error(
                "the --client command has no {port}: put {host} and {port} where the client \
                 takes the server's address, or give --port PORT where it expects its server",
            );
        }
        // The client's time, its stopping, and the grading after it.
        let budget = self.timeout + STOP_GRACE + Duration::from_secs(3);
        let isolation = super::isolation::enter(&self.isolation);
        let checks = Checks::new(lab, Subject::Client(self.client.clone()), self.format)
            .with_bounds(self.timeout, budget)
            .isolated(isolation);
        let client = ClientUnderTest {
            command: self.client.as_str().into(),
            time_limit: self.timeout,
            port: self.port.unwrap_or(0),
        };
        (checks, client)
    }
}

/// The client command being graded.
#[derive(Debug, Clone)]
pub struct ClientUnderTest {
    command: Arc<str>,
    time_limit: Duration,
    /// The port our scripted servers listen on; 0 for a free one each time.
    port: u16,
}

impl ClientUnderTest {
    /// A scripted UDP server for one check: `script` serves the socket on a thread of
    /// its own, keeping what it receives with [`recv_datagram`].
    pub fn scripted_udp<F>(&self, script: F) -> Result<ScriptedServer>
    where
        F: FnOnce(&UdpSocket, &Received) + Send + 'static,
    {
        // socket() + bind(): our stand-in server, on the port asked for or a free one.
        let socket = UdpSocket::bind(("127.0.0.1", self.port))
            .with_context(|| format!("cannot bind a scripted server on port {}", self.port))?;
        socket.set_read_timeout(Some(self.time_limit))?;
        let address = socket.local_addr()?;
        let received = Received::default();
        let log = received.clone();
        let thread = thread::spawn(move || script(&socket, &log));
        Ok(ScriptedServer {
            address,
            received,
            thread,
            time_limit: self.time_limit,
        })
    }

    /// A scripted TCP server for one check: it accepts one client and hands its
    /// [`Session`] to `script`, on a thread of its own.
    pub fn scripted_tcp<F>(&self, script: F) -> Result<ScriptedServer>
    where
        F: FnOnce(Session) + Send + 'static,
    {
        // socket() + bind() + listen(): our stand-in server.
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .with_context(|| format!("cannot bind a scripted server on port {}", self.port))?;
        let address = listener.local_addr()?;
        let received = Received::default();
        let log = received.clone();
        let limit = self.time_limit;
        let thread = thread::spawn(move || {
            // accept(): the client's connection (one is all a check needs).
            if let Ok(session) = Session::accept(&listener, &log, limit) {
                if !log.is_stopped() {
                    script(session);
                }
            }
        });
        Ok(ScriptedServer {
            address,
            received,
            thread,
            time_limit: self.time_limit,
        })
    }

    /// Runs the client against `server` with `input` on its stdin, until it ends or
    /// its time is up (then it is stopped); then stops `server`.
    pub fn run(&self, server: ScriptedServer, input: &[u8]) -> Result<ClientRun> {
        let command = submission::fill_in(&self.command, server.address);
        let client = Submission::spawn(&command, Streams::Client(input.to_vec()))?;
        let exit = client.wait_exit(self.time_limit);
        let (stderr_tail, stdout) = client.stop();
        let received = server.received.clone();
        server.stop();
        Ok(ClientRun {
            stdout,
            stderr_tail,
            exit: exit.map(|exit| exit.status),
            received,
            time_limit: self.time_limit,
        })
    }
}

/// A scripted server running for one check.
#[derive(Debug)]
pub struct ScriptedServer {
    address: SocketAddr,
    received: Received,
    thread: thread::JoinHandle<()>,
    /// The bound on each of the script's waits (its socket's read timeout).
    time_limit: Duration,
}

impl ScriptedServer {
    /// Ends the script and frees the port (bounded): a script blocked in `accept` or
    /// `recv_from` is woken by a connection or a datagram that it then ignores. The
    /// next check may bind the same port (`--port`), so this waits as long as one of
    /// the script's reads can block, not less: a slow machine may take its time.
    fn stop(self) {
        self.received.stop();
        if self.thread.is_finished() {
            return;
        }
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_millis(200));
        if let Ok(socket) = UdpSocket::bind("127.0.0.1:0") {
            let _ = socket.send_to(b"", self.address);
        }
        let deadline = std::time::Instant::now() + self.time_limit;
        while !self.thread.is_finished() && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// What a client did in one check.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// Everything it printed on stdout (up to 1 MiB).
    pub stdout: Vec<u8>,
    /// The last lines of its stderr.
    pub stderr_tail: Vec<String>,
    /// Its exit status; `None` if it was still running at the time limit.
    pub exit: Option<i32>,
    /// What our scripted server received from it.
    pub received: Received,
    time_limit: Duration,
}

impl ClientRun {
    /// Fails if the client had to be stopped at the time limit.
    pub fn expect_ended(&self) -> Result<()> {
        match self.exit {
            Some(_) => Ok(()),
            None => bail!("{}", self.still_running()),
        }
    }

    /// Fails unless the client said something on stderr (an error message).
    pub fn expect_complaint(&self) -> Result<()> {
        if self.stderr_tail.is_empty() {
            bail!("the client said nothing on stderr: an error must say what went wrong");
        }
        Ok(())
    }

    /// Fails unless the client ended on its own with status 0.
    pub fn expect_success(&self) -> Result<()> {
        match self.exit {
            Some(0) => Ok(()),
            Some(status) => bail!(
                "the client exited with status {status}{}",
                self.last_words()
            ),
            None => bail!("{}", self.still_running()),
        }
    }

    /// Fails unless the client ended on its own with a non-zero status.
    pub fn expect_failure(&self, why: &str) -> Result<()> {
        match self.exit {
            Some(0) => bail!("the client exited with status 0: {why}"),
            Some(_) => Ok(()),
            None => bail!("{}", self.still_running()),
        }
    }

    /// Fails unless `text` is somewhere in what the client printed.
    pub fn expect_printed(&self, text: &[u8]) -> Result<()> {
        if contains(&self.stdout, text) {
            return Ok(());
        }
        bail!(
            "expected \"{}\" in its output, got \"{}\"{}",
            shown(text),
            shown(&self.stdout),
            self.last_words()
        )
    }

    /// Fails unless one of `texts` is somewhere in what the client printed, saying
    /// it expected `what` (`the server's time (2001-02-03 04:05:06 UTC)`).
    pub fn expect_printed_one_of(&self, texts: &[&[u8]], what: &str) -> Result<()> {
        if texts.iter().any(|text| contains(&self.stdout, text)) {
            return Ok(());
        }
        bail!(
            "expected {what} in its output, got \"{}\"{}",
            shown(&self.stdout),
            self.last_words()
        )
    }

    /// Fails if `text` is anywhere in what the client printed.
    pub fn expect_not_printed(&self, text: &[u8], why: &str) -> Result<()> {
        if contains(&self.stdout, text) {
            bail!("it printed \"{}\": {why}", shown(text));
        }
        Ok(())
    }

    /// Fails unless our server received `message` (with or without a line ending) at
    /// least `times` times.
    pub fn expect_sent(&self, message: &[u8], times: usize) -> Result<()> {
        let count = self.received.count(message);
        if count >= times {
            return Ok(());
        }
        bail!(
            "our server received \"{}\" {count} time(s), not {times}{}{}",
            shown(message),
            self.what_came(),
            self.ending()
        )
    }

    /// Fails unless our server received at least `times` requests, whatever they were.
    pub fn expect_requests(&self, times: usize) -> Result<()> {
        let count = self.received.all().len();
        if count >= times {
            return Ok(());
        }
        bail!(
            "our server received {count} request(s), not {times}{}",
            self.ending()
        )
    }

    /// "; all it received: ..." when it received something.
    fn what_came(&self) -> String {
        let all: Vec<String> = self
            .received
            .all()
            .iter()
            .map(|got| format!("\"{}\"", shown(got)))
            .collect();
        if all.is_empty() {
            String::new()
        } else {
            format!(" (all it received: {})", all.join(", "))
        }
    }

    /// How the client ended, for a detail: its status and last words on stderr.
    fn ending(&self) -> String {
        match self.exit {
            Some(status) => format!(
                "; the client exited with status {status}{}",
                self.last_words()
            ),
            None => format!("; {}", self.still_running()),
        }
    }

    fn still_running(&self) -> String {
        format!(
            "the client was still running after {:.1} s and was stopped{}",
            self.time_limit.as_secs_f64(),
            self.last_words()
        )
    }

    /// "; its stderr: <last line>", if it wrote any.
    fn last_words(&self) -> String {
        self.stderr_tail
            .last()
            .map(|line| format!(" (its stderr: {line})"))
            .unwrap_or_default()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// What a scripted server received, in order: each datagram, or each TCP message;
/// and whether the check is over (the script should end).
#[derive(Debug, Clone, Default)]
pub struct Received {
    log: Arc<Mutex<Vec<Vec<u8>>>>,
    stopped: Arc<AtomicBool>,
}

impl Received {
    /// Is the check over? Then what comes now is our own wake-up, not the client.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Records one datagram or message.
    pub fn push(&self, bytes: &[u8]) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(bytes.to_vec());
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Vec<u8>> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times `message` was received, with or without a line ending.
    pub fn count(&self, message: &[u8]) -> usize {
        self.all()
            .iter()
            .filter(|got| crate::input::strip_line_ending(got.to_vec()) == message)
            .count()
    }
}

/// Receives one datagram (recorded in `received`); `None` once the client is silent
/// past the socket's read timeout, or the check is over.
pub fn recv_datagram(socket: &UdpSocket, received: &Received) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buffer = vec![0; 65_536];
    loop {
        let datagram = socket.recv_from(&mut buffer);
        if received.is_stopped() {
            return None;
        }
        match datagram {
            Ok((length, from)) => {
                received.push(&buffer[..length]);
                return Some((buffer[..length].to_vec(), from));
            }
            // An ICMP error from an earlier reply to a closed port: not the client's doing.
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => continue,
            Err(_) => return None,
        }
    }
}

/// How long a scripted TCP server waits for more bytes before it takes what came as
/// a bare message (the course's clients send no newline).
const BARE_PAUSE: Duration = Duration::from_millis(300);

/// One client's connection to a scripted TCP server, read a message at a time.
#[derive(Debug)]
pub struct Session {
    stream: TcpStream,
    pending: Vec<u8>,
    received: Received,
    limit: Duration,
}

impl Session {
    /// Accepts one client (recording its messages in `received`); reads give up after `limit`.
    fn accept(listener: &TcpListener, received: &Received, limit: Duration) -> Result<Self> {
        let (stream, _) = listener.accept()?;
        // Each write its own segment: what the scripts cut must arrive cut.
        stream.set_nodelay(true)?;
        Ok(Session {
            stream,
            pending: Vec::new(),
            received: received.clone(),
            limit,
        })
    }

    /// The next message: a line with its newline, or bytes with no newline followed
    /// by a pause (a bare message). `None` once the client closed or fell silent.
    pub fn next_message(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let message: Vec<u8> = self.pending.drain(..=end).collect();
                self.received.push(&message);
                return Some(message);
            }
            let wait = if self.pending.is_empty() {
                self.limit
            } else {
                BARE_PAUSE
            };
            self.stream.set_read_timeout(Some(wait)).ok()?;
            let mut buffer = [0; 4096];
            match self.stream.read(&mut buffer) {
                Ok(read) if read > 0 => self.pending.extend_from_slice(&buffer[..read]),
                _ if !self.pending.is_empty() => {
                    let message = std::mem::take(&mut self.pending);
                    self.received.push(&message);
                    return Some(message);
                }
                _ => return None,
            }
        }
    }

    /// Sends `reply` cut after each of `cuts` bytes. Before each next piece it waits
    /// until the client has read the last one (see `Session::wait_until_read`),
    /// then pauses `pause`: a client that reads once gets the first piece only, and
    /// one that reads on waits through the pause for the rest, however the client
    /// is scheduled (with a pause alone, a client that was slow to call `recv`
    /// found every piece there and passed by luck).
    pub fn send_in_pieces(&mut self, reply: &[u8], cuts: &[usize], pause: Duration) -> Result<()> {
        let mut start = 0;
        for &cut in cuts.iter().chain(&[reply.len()]) {
            let cut = cut.clamp(start, reply.len());
            self.send(&reply[start..cut])?;
            start = cut;
            if cut < reply.len() {
                self.wait_until_read();
                thread::sleep(pause);
            }
        }
        Ok(())
    }

    /// Waits (at most the check's time limit) until the client has read all we sent:
    /// our socket has nothing left unacknowledged (it reached the client's socket)
    /// and the client's socket has nothing left unread. Our scripted servers are on
    /// loopback, so the client's socket is on this machine, and the kernel shows
    /// both queues in /proc/net/tcp (tcp6 for an IPv6 client). Where it cannot be
    /// seen (no /proc: not Linux; the client gone), returns at once.
    fn wait_until_read(&self) {
        let (Ok(ours), Ok(theirs)) = (self.stream.local_addr(), self.stream.peer_addr()) else {
            return;
        };
        let deadline = std::time::Instant::now() + self.limit;
        while std::time::Instant::now() < deadline && !self.received.is_stopped() {
            match sockets::peer_has_read(ours, theirs) {
                Some(true) | None => return,
                // Polling is the only way to watch another process's socket; bounded.
                Some(false) => thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    /// send(): the whole of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream
            .write_all(bytes)
            .map_err(|error| match error.kind() {
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => {
                    anyhow!("the client went away: it closed the connection before our reply")
                }
                _ => anyhow!("cannot send to the client: {}", in_words(&error, None)),
            })
    }
}
