//! Helpers for the labs' end-to-end tests (feature `testkit`): spawn a lab binary as a
//! user would, learn its port from the listening line, talk to it, stop it with a
//! signal. Every wait is bounded; nothing sleeps to wait for a server.
//!
//! A helper that cannot do its job fails the test that called it, hence the panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::float_cmp
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal;
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// How long any one wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server process started for a test; killed if the test ends without stopping it.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Every address from the server's listening lines, in order.
    pub addresses: Vec<SocketAddr>,
    lines: Receiver<String>,
    /// Every stdout line taken from `lines` so far, listening lines included.
    taken: Mutex<Vec<String>>,
    /// Every stderr line so far (none when stderr shares stdout's pipe).
    stderr: Arc<Mutex<Vec<String>>>,
    /// Disconnected once stderr is read to its end.
    stderr_done: Receiver<()>,
}

impl ServerProcess {
    /// Starts `binary args...` and waits for `listening_lines` listening lines.
    pub fn start(binary: &str, args: &[&str], listening_lines: usize) -> ServerProcess {
        Self::start_reading(binary, args, listening_lines, None)
    }

    /// `binary server --port 0 extra...`, a server with one listening line.
    pub fn start_server(binary: &str, extra: &[&str]) -> ServerProcess {
        let mut args = vec!["server", "--port", "0"];
        args.extend_from_slice(extra);
        Self::start(binary, &args, 1)
    }

    /// Starts a server as [`ServerProcess::start`] does, but with stdout and stderr
    /// on one pipe whose read end is closed once the listening lines are in
    /// (`server 2>&1 | head -1`): from then on every line the server writes, log or
    /// warning, fails with `EPIPE`.
    pub fn start_then_close_stdout(
        binary: &str,
        args: &[&str],
        listening_lines: usize,
    ) -> ServerProcess {
        let server = Self::start_reading(binary, args, listening_lines, Some(listening_lines));
        // The reader thread hangs up after those lines: wait until it has.
        assert!(
            matches!(
                server.lines.recv_timeout(WAIT),
                Err(mpsc::RecvTimeoutError::Disconnected)
            ),
            "the server's stdout was closed"
        );
        server
    }

    fn start_reading(
        binary: &str,
        args: &[&str],
        listening_lines: usize,
        lines_to_read: Option<usize>,
    ) -> ServerProcess {
        let mut command = Command::new(binary);
        command.args(args).stdin(Stdio::null());
        let stderr = Arc::new(Mutex::new(Vec::new()));
        // Replaced by the reader's when stderr has a pipe of its own.
        let (_, mut stderr_done) = mpsc::channel();
        let (stdout, child): (Box<dyn Read + Send>, Child) = if lines_to_read.is_some() {
            // `2>&1 |`: both streams into one pipe that only this process reads.
            let (read_end, write_end) = cloexec_pipe();
            let stderr_end = write_end.try_clone().expect("a second write end");
            command.stdout(write_end).stderr(stderr_end);
            let child = spawn(&mut command, binary);
            // The write ends in `command` are closed with it.
            drop(command);
            (Box::new(std::fs::File::from(read_end)), child)
        } else {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = spawn(&mut command, binary);
            let stdout = child.stdout.take().expect("piped stdout");
            let pipe = child.stderr.take().expect("piped stderr");
            stderr_done = keep_to_the_test(pipe, binary, Arc::clone(&stderr));
            (Box::new(stdout), child)
        };
        let lines = forward_lines(stdout, lines_to_read);
        let mut server = ServerProcess {
            child,
            addresses: Vec::new(),
            lines,
            taken: Mutex::new(Vec::new()),
            stderr,
            stderr_done,
        };
        for _ in 0..listening_lines {
            let line = server
                .next_line()
                .expect("the server printed its listening line");
            let address = parse_listening_line(&line)
                .unwrap_or_else(|| panic!("not a listening line: {line:?}"));
            server.addresses.push(address);
        }
        server
    }

    /// The first listening address.
    pub fn address(&self) -> SocketAddr {
        self.addresses[0]
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory in KiB (VmHWM), read from /proc: Linux only.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    /// The server's anonymous resident memory now, in KiB (RssAnon: heap, stacks,
    /// buffers), read from /proc: Linux only. Unlike [`peak_rss_kib`](Self::peak_rss_kib)
    /// it leaves out the pages of the program's own file, which grow with the binary.
    pub fn anon_rss_kib(&self) -> Option<u64> {
        self.status_kib("RssAnon:")
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|line| line.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The next line of the server's stdout, if one comes within [`WAIT`].
    pub fn next_line(&self) -> Option<String> {
        let line = self.lines.recv_timeout(WAIT).ok()?;
        self.take(&line);
        Some(line)
    }

    fn take(&self, line: &str) {
        self.taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.to_owned());
    }

    /// Waits until the server prints a line containing `text`; returns it.
    pub fn wait_for_line(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.take(&line);
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("the server never printed a line with {text:?}");
    }

    /// Sends `signal` and waits for the exit; returns the status, how long the exit
    /// took, and the rest of stdout.
    pub fn stop_with(mut self, signal: Signal) -> (ExitStatus, Duration, Vec<String>) {
        let sent = Instant::now();
        send_signal(self.child.id(), signal);
        let status =
            wait_with_timeout(&mut self.child, WAIT).expect("the server exited after the signal");
        let took = sent.elapsed();
        // The rest of stdout, up to EOF: the reader thread may still be passing on
        // the last lines the server wrote before it exited.
        let rest = rest_of(&self.lines);
        (status, took, rest)
    }

    /// Sends `signal` and asserts what every lab's server must do on Ctrl-C: exit status 0
    /// within a second, and a `shutting down:` summary line. Returns the last lines.
    pub fn assert_stops_cleanly(self, signal: Signal) -> Vec<String> {
        let rest = self.assert_stops_in_time(signal);
        assert!(
            rest.iter().any(|line| line.starts_with("shutting down:")),
            "{signal:?}: no summary line in {rest:?}"
        );
        rest
    }

    /// Stops the server as [`ServerProcess::assert_stops_cleanly`] does, and asserts
    /// that nothing it printed, from its listening line to its summary, on stdout or
    /// stderr, contains `text` (the lines a wait skipped over included).
    pub fn assert_stops_cleanly_never_printing(mut self, signal: Signal, text: &str) {
        let taken = std::mem::take(&mut *self.taken.lock().unwrap_or_else(PoisonError::into_inner));
        let stderr = Arc::clone(&self.stderr);
        let (_, done) = mpsc::channel();
        let stderr_done = std::mem::replace(&mut self.stderr_done, done);
        let rest = self.assert_stops_cleanly(signal);
        assert!(
            matches!(
                stderr_done.recv_timeout(WAIT),
                Err(mpsc::RecvTimeoutError::Disconnected)
            ),
            "the server's stderr was never closed"
        );
        let stderr = stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let printed: Vec<&String> = taken.iter().chain(&rest).chain(&stderr).collect();
        assert!(
            printed.iter().all(|line| !line.contains(text)),
            "{text:?} in {printed:#?}"
        );
    }

    /// Sends `signal` and asserts exit status 0 within a second (a server whose stdout
    /// was closed: its summary line is not there to see). Returns the last lines.
    pub fn assert_stops_in_time(self, signal: Signal) -> Vec<String> {
        let (status, took, rest) = self.stop_with(signal);
        assert!(status.success(), "{signal:?}: {status:?}");
        assert!(took < Duration::from_secs(1), "{signal:?}: took {took:?}");
        rest
    }

    /// Waits up to [`WAIT`] for the process to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_with_timeout(&mut self.child, WAIT).expect("the server exited by itself")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(command: &mut Command, binary: &str) -> Child {
    command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"))
}

/// Parses `listening on ADDRESS (tcp)`.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix("listening on ")?;
    let (address, _transport) = rest.split_once(' ')?;
    address.parse().ok()
}

/// Sends a signal to a process.
pub fn send_signal(pid: u32, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits in i32"));
    signal::kill(pid, signal).expect("signal sent");
}

/// Passes a server's stderr (its warnings: a worker killed, a request dropped) on to
/// the test's own captured output, where `cargo test` shows it only if the test
/// fails: on the terminal, a warning from a passing test reads as something wrong.
/// (The test harness captures what `eprintln!` prints on threads the test spawned.)
/// Each line is also kept in `lines`; the returned channel disconnects at the end.
fn keep_to_the_test(
    stderr: impl Read + Send + 'static,
    binary: &str,
    lines: Arc<Mutex<Vec<String>>>,
) -> Receiver<()> {
    let program = binary.rsplit('/').next().unwrap_or(binary).to_owned();
    let (done, finished) = mpsc::channel::<()>();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[{program} stderr] {line}");
            lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
        drop(done);
    });
    finished
}

/// The lines still to come on `lines` up to its end (the program's stdout closed),
/// within [`WAIT`] in all: a process left holding the pipe fails the test.
fn rest_of(lines: &Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut rest = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => rest.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return rest,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("stdout still open {WAIT:?} after the exit; so far: {rest:?}")
            }
        }
    }
}

/// Passes on `stdout`'s lines, all of them or the first `limit`; then closes the
/// pipe's read end, and only then the channel.
fn forward_lines(stdout: impl Read + Send + 'static, limit: Option<usize>) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for _ in 0..limit.unwrap_or(usize::MAX) {
            let Some(Ok(line)) = lines.next() else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
        drop(lines);
        drop(sender);
    });
    receiver
}

/// Waits up to [`WAIT`] for `child` to exit; panics if it does not.
pub fn wait_for_exit(child: &mut Child) -> ExitStatus {
    wait_with_timeout(child, WAIT).expect("the process exited in time")
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().ok()? {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // Polling a child's exit is the one bounded poll here: std has no wait with timeout.
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a client-like command to its end with `stdin` as input, bounded by [`WAIT`].
pub fn run(binary: &str, args: &[&str], stdin: &[u8]) -> Output {
    run_to_end(binary, args, stdin, Stdio::piped(), WAIT)
}

/// Runs a command to its end as [`run`] does, bounded by `limit` instead.
pub fn run_within(binary: &str, args: &[&str], stdin: &[u8], limit: Duration) -> Output {
    run_to_end(binary, args, stdin, Stdio::piped(), limit)
}

/// Runs a command to its end as [`run`] does, but with its stdout a pipe whose read
/// end is closed before it starts (`command | true`): its first write to stdout fails.
pub fn run_with_stdout_closed(binary: &str, args: &[&str], stdin: &[u8]) -> Output {
    let (read_end, write_end) = cloexec_pipe();
    drop(read_end);
    run_to_end(binary, args, stdin, Stdio::from(write_end), WAIT)
}

/// A pipe, (read end, write end), both ends close-on-exec: a child another test starts
/// meanwhile does not inherit (and hold open) either end ([`crate::platform::cloexec_pipe`]).
fn cloexec_pipe() -> (OwnedFd, OwnedFd) {
    crate::platform::cloexec_pipe().expect("a pipe")
}

fn run_to_end(binary: &str, args: &[&str], stdin: &[u8], stdout: Stdio, limit: Duration) -> Output {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out_reader = child.stdout.take().map(read_all);
    let err_reader = read_all(child.stderr.take().expect("piped stderr"));
    let status = wait_with_timeout(&mut child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("{binary} {args:?} did not finish within {limit:?}");
    });
    Output {
        status,
        // No stdout reader: stdout was not a pipe of ours (closed on purpose).
        stdout: out_reader.map(BoundedThread::join).unwrap_or_default(),
        stderr: err_reader.join(),
    }
}

/// Reads `pipe` to its end on a thread of its own (bounded: a child that left a
/// process of its own holding the pipe open fails the test instead of hanging it).
fn read_all(mut pipe: impl Read + Send + 'static) -> BoundedThread<Vec<u8>> {
    spawn_bounded(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes)
            .expect("the pipe read to its end");
        bytes
    })
}

/// A thread a test waits for, at most [`WAIT`]: see [`spawn_bounded`].
#[derive(Debug)]
pub struct BoundedThread<T> {
    result: Receiver<T>,
    handle: thread::JoinHandle<()>,
}

/// Runs `work` on a thread of its own, for a test to [`BoundedThread::join`]: unlike
/// `JoinHandle::join`, which waits for ever, a thread stuck (a wake-up that never
/// came, a reply that never arrived) fails the test after [`WAIT`].
pub fn spawn_bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> BoundedThread<T> {
    let (sender, result) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = sender.send(work());
    });
    BoundedThread { result, handle }
}

impl<T> BoundedThread<T> {
    /// The thread's result, if it finishes within [`WAIT`]; its panic, if it panicked.
    pub fn join(self) -> T {
        self.join_within(WAIT)
    }

    /// The thread's result, if it finishes within `limit`; its panic, if it panicked.
    pub fn join_within(self, limit: Duration) -> T {
        match self.result.recv_timeout(limit) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("a test thread did not finish within {limit:?}")
            }
            // The sender went without sending: the work panicked; pass that on.
            Err(mpsc::RecvTimeoutError::Disconnected) => match self.handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("a thread that returned sent its result"),
            },
        }
    }
}

/// Asserts what a client, `check`, `demo`, `bench` or `peer` whose stdout was closed
/// must do: end as a program killed by SIGPIPE does (status 141 in the shell), with
/// nothing on stderr: no message, no panic.
pub fn assert_ended_by_sigpipe(output: &Output, what: &str) {
    assert_eq!(
        output.status.signal(),
        Some(Signal::SIGPIPE as i32),
        "{what}: expected death by SIGPIPE, got {:?}; stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{what}: stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A program started for a test and watched while it runs (a client waiting for
/// something); killed if the test ends without it having exited.
#[derive(Debug)]
pub struct RunningProcess {
    child: Child,
    /// Its stdin, to type into; dropped (EOF) by [`RunningProcess::close_stdin`].
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<BoundedThread<Vec<u8>>>,
}

impl RunningProcess {
    /// Starts `binary args...` with piped stdin, stdout and stderr.
    pub fn start(binary: &str, args: &[&str]) -> RunningProcess {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
        let stdin = child.stdin.take();
        let lines = forward_lines(child.stdout.take().expect("piped stdout"), None);
        let stderr = read_all(child.stderr.take().expect("piped stderr"));
        RunningProcess {
            child,
            stdin,
            lines,
            stderr: Some(stderr),
        }
    }

    /// Starts `binary client --host H --port P extra...` against `server`.
    pub fn client(binary: &str, server: SocketAddr, extra: &[&str]) -> RunningProcess {
        let host = server.ip().to_string();
        let port = server.port().to_string();
        let mut args = vec!["client", "--host", &host, "--port", &port];
        args.extend_from_slice(extra);
        RunningProcess::start(binary, &args)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `bytes` to its stdin.
    pub fn type_in(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).expect("written to stdin");
        stdin.flush().expect("stdin flushed");
    }

    /// The next line of its stdout, if one comes within [`WAIT`].
    pub fn next_line(&self) -> Option<String> {
        self.lines.recv_timeout(WAIT).ok()
    }

    /// Closes its stdin: the end of its input.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal`, waits up to [`WAIT`] for the exit; returns the status, the rest
    /// of stdout (lines not yet taken) and all of stderr.
    pub fn signal_and_wait(self, signal: Signal) -> (ExitStatus, Vec<String>, String) {
        send_signal(self.child.id(), signal);
        self.wait()
    }

    /// Waits up to [`WAIT`] for it to exit by itself (its stdin stays open unless
    /// closed before); returns what [`RunningProcess::signal_and_wait`] does.
    pub fn wait(mut self) -> (ExitStatus, Vec<String>, String) {
        let status = wait_for_exit(&mut self.child);
        let rest = rest_of(&self.lines);
        drop(self.stdin.take());
        let stderr = self.stderr.take().expect("stderr read once");
        let stderr = String::from_utf8_lossy(&stderr.join()).into_owned();
        (status, rest, stderr)
    }

    /// Ctrl-C (SIGINT), and asserts what every client must do on Ctrl-C: it ends at once
    /// with exit status 130, printing nothing more.
    pub fn assert_ctrl_c_ends_it_quietly(self, what: &str) {
        let (status, rest, stderr) = self.signal_and_wait(Signal::SIGINT);
        assert_eq!(
            status.code(),
            Some(130),
            "{what}: expected exit status 130, got {status:?}; stderr: {stderr}"
        );
        assert!(rest.is_empty(), "{what}: printed {rest:?}");
        assert!(stderr.is_empty(), "{what}: stderr: {stderr}");
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded by [`WAIT`]) until a socket of this machine matching `wanted` is
/// listed in /proc/net/{tcp,tcp6,udp,udp6} (Linux: a test calling it checks
/// [`linux_only`] first): how a test learns, without sleeping, that a client is
/// blocked where it wants it (its request queued at a stopped server, its `connect`
/// waiting for an answer to its SYN).
pub fn wait_for_socket(wanted: impl Fn(&ProcNetSocket) -> bool, what: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            let Ok(text) = std::fs::read_to_string(format!("/proc/net/{table}")) else {
                continue;
            };
            if text
                .lines()
                .skip(1)
                .filter_map(ProcNetSocket::parse)
                .any(|s| wanted(&s))
            {
                return;
            }
        }
        // Polling /proc is the only way to watch another process's sockets; bounded.
        thread::sleep(Duration::from_millis(5));
    }
    panic!("never saw {what} in /proc/net");
}

/// One line of /proc/net/tcp (or tcp6, udp, udp6): the grader's own reading of it.
pub use crate::check::sockets::Row as ProcNetSocket;

/// Asserts a failed run printed exactly one line, starting `error: ` and containing
/// `text`, and no panic.
pub fn assert_error_line(output: &Output, text: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "expected failure, got {:?}; stderr: {stderr}",
        output.status
    );
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert!(stderr.contains(text), "expected {text:?} in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

/// Is `tool` on this machine? Tests that compare with another program (python3,
/// rdate, nc, chronyd) need it, and `.ci/run` installs it. If it is missing:
/// - in CI (`CI` set, as `.ci/run` and every CI service set it) the test fails, saying
///   which tool: a CI without the tool must not turn the test into a pass;
/// - elsewhere it returns `false`, for the caller to return at once, and says so on
///   the terminal: `skipped: TEST (TOOL not found; .ci/run installs it)`, written past
///   the test harness's capture, so `cargo test` shows the line next to the `ok`
///   (stable Rust cannot mark a test ignored once it runs).
pub fn tool_available(tool: &str) -> bool {
    if tool_on_path(tool) {
        return true;
    }
    let test = thread::current().name().unwrap_or("a test").to_owned();
    assert!(
        !in_ci(),
        "{test} needs {tool}, which is not on this machine (CI is set: .ci/run installs it)"
    );
    // Not `eprintln!`: the harness captures that, and shows it only for a failed test.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {test} ({tool} not found; .ci/run installs it)"
    );
    false
}

/// Whether `tool` is a command on `PATH`, as the tests run it.
fn tool_on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Whether these tests run in CI: `CI` set to anything but empty, `0` or `false`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false"))
}

/// A UDP socket on a free loopback port, its reads bounded by [`WAIT`]: a stand-in
/// server or peer that says only what the test makes it say (often nothing).
pub fn stand_in_udp_socket() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP socket");
    socket
        .set_read_timeout(Some(WAIT))
        .expect("read timeout set");
    let address = socket.local_addr().expect("its address");
    (socket, address)
}

/// A TCP connection to `address`, its reads bounded by [`WAIT`].
pub fn connect(address: SocketAddr) -> TcpStream {
    let connection = TcpStream::connect(address)
        .unwrap_or_else(|error| panic!("cannot connect to {address}: {error}"));
    connection
        .set_read_timeout(Some(WAIT))
        .expect("read timeout set");
    connection
}

/// One datagram to `address` from a fresh socket, and the reply, bounded by [`WAIT`].
pub fn ask_udp(address: SocketAddr, message: &[u8]) -> Vec<u8> {
    let socket = crate::net::udp_connected(address).expect("a UDP socket");
    socket
        .set_read_timeout(Some(WAIT))
        .expect("read timeout set");
    socket.send(message).expect("datagram sent");
    let mut reply = vec![0; 70_000];
    let length = socket.recv(&mut reply).expect("a reply");
    reply.truncate(length);
    reply
}

/// The multi-homed cases every UDP server is tested on, as (the server's `--host`,
/// the address a client writes to): 127.0.0.2 is a second address of the loopback
/// (every 127.x.y.z is, on Linux), `::` a dual-stack socket reached over IPv4 and IPv6.
/// Without 127.0.0.2 (macOS, FreeBSD: [`crate::platform::second_loopback_address`])
/// its cases are left out, and the test says so.
pub fn multi_homed() -> Vec<(&'static str, &'static str)> {
    let cases = [
        ("0.0.0.0", "127.0.0.2"),
        ("::", "127.0.0.2"),
        ("::", "127.0.0.1"),
        ("::", "::1"),
    ];
    if crate::platform::second_loopback_address().is_some() {
        return cases.to_vec();
    }
    eprintln!("SKIPPED: the cases at 127.0.0.2, not on this machine's loopback");
    cases
        .into_iter()
        .filter(|(_, client_ip)| *client_ip != "127.0.0.2")
        .collect()
}

/// Is this Linux, which the calling test needs (`/proc`, 127.0.0.2)? If not, says the
/// test is skipped and why (the caller returns).
pub fn linux_only(needs: &str) -> bool {
    let linux = cfg!(target_os = "linux");
    if !linux {
        eprintln!("SKIPPED: needs Linux ({needs})");
    }
    linux
}

/// The same server reached at another of its addresses: `address`'s port on `ip`.
pub fn at_ip(address: SocketAddr, ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("an IP literal"), address.port())
}

/// Runs `binary client --host H --port P extra...` against `server`, with `stdin`.
pub fn run_client(binary: &str, server: SocketAddr, extra: &[&str], stdin: &[u8]) -> Output {
    let host = server.ip().to_string();
    let port = server.port().to_string();
    let mut args = vec!["client", "--host", &host, "--port", &port];
    args.extend_from_slice(extra);
    run(binary, &args, stdin)
}

/// Runs `binary check --target TARGET extra...`; returns whether it passed, and its output.
pub fn run_check(binary: &str, target: SocketAddr, extra: &[&str]) -> (bool, String) {
    let target = target.to_string();
    let mut args = vec!["check", "--target", &target];
    args.extend_from_slice(extra);
    let output = run(binary, &args, b"");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// A stand-in TCP server on a free loopback port, for tests that need a server
/// behaving in one particular way (usually wrongly): `handle` serves each
/// connection, on a thread of its own.
pub fn spawn_tcp_server(handle: impl Fn(TcpStream) + Clone + Send + 'static) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let address = listener.local_addr().expect("its address");
    thread::spawn(move || {
        for connection in listener.incoming().flatten() {
            let handle = handle.clone();
            thread::spawn(move || handle(connection));
        }
    });
    address
}

/// A stand-in TCP server (see [`spawn_tcp_server`]) that answers every read, whatever
/// came, with `answer`: a wrong server for a client or a check to catch.
pub fn spawn_answering_server(answer: &'static [u8]) -> SocketAddr {
    spawn_tcp_server(move |mut connection: TcpStream| {
        let mut buffer = [0; 1024];
        while let Ok(1..) = connection.read(&mut buffer) {
            if connection.write_all(answer).is_err() {
                break;
            }
        }
    })
}

/// The path of `package`'s Cargo example `name` (the course's programs in Rust,
/// `LAB/examples/NAME.rs`), built first: `cargo test --test FILE` builds no examples,
/// and an example edited since the last build must not be tested stale. Cargo makes
/// this a no-op when the example is up to date.
pub fn example(package: &str, name: &str) -> String {
    // This test runs from target/PROFILE/deps/; examples land in target/PROFILE/examples/.
    let deps = std::env::current_exe().expect("the test's own path");
    let profile_dir = deps
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/PROFILE/deps");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", package, "--example", name]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build --example");
    assert!(
        status.success(),
        "cargo build -p {package} --example {name}: {status}"
    );
    profile_dir
        .join("examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// What the directories of [`temp_file`] are named after: `socket-labs-test-PID-N`.
const TEMP_PREFIX: &str = "socket-labs-test-";

/// A file named `name` holding `contents`, in a directory of this test process's own.
/// The first call in a process removes the directories that ended test processes
/// left (a test cannot remove its own while what it started may still read them), so
/// /tmp holds those of running tests only, not some 500 more per `cargo test`.
pub fn temp_file(name: &str, contents: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(remove_ended_tests_directories);
    let directory = std::env::temp_dir().join(format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let path = directory.join(name);
    std::fs::write(&path, contents).expect("a temporary file written");
    path
}

/// Removes the [`temp_file`] directories whose test process has ended (kill(PID, 0)
/// says there is no such process).
fn remove_ended_tests_directories() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(TEMP_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if signal::kill(Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// What `binary check --server` did: its output, how long it took, and the process
/// group it ran the server in.
#[derive(Debug)]
pub struct ServerCheck {
    /// The check's exit status and output.
    pub output: Output,
    /// How long the whole run took.
    pub took: Duration,
    /// The server's process group: the id of the `sh` that ran it, which `check`
    /// must have made the leader of a group of its own.
    pub group: i32,
    /// The process group that `sh` was in when it ran (read from its /proc/PID/stat).
    group_of_server: i32,
}

impl ServerCheck {
    /// The check's stdout.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Asserts that the server ran in a process group of its own, and that no process
    /// of that group is left (read in /proc). Without the first, an empty group proves
    /// nothing: a server left in `check`'s own group is never found in it.
    pub fn assert_group_gone(&self) {
        assert_eq!(
            self.group_of_server, self.group,
            "check ran the server (pid {}) in process group {}, not in one of its own",
            self.group, self.group_of_server
        );
        let left = group_members(self.group);
        assert!(
            left.is_empty(),
            "processes left in group {}: {left:?}",
            self.group
        );
    }
}

/// Runs `binary check --server 'CMD' extra...`, where CMD runs `server` after noting
/// its process id and group in a file.
pub fn run_check_server(binary: &str, server: &str, extra: &[&str]) -> ServerCheck {
    check_server_with(binary, server, extra, |binary, args| {
        run_within(binary, args, b"", WAIT * 3)
    })
}

/// [`run_check_server`] with check's stdout closed before it starts.
pub fn run_check_server_with_stdout_closed(
    binary: &str,
    server: &str,
    extra: &[&str],
) -> ServerCheck {
    check_server_with(binary, server, extra, |binary, args| {
        run_with_stdout_closed(binary, args, b"")
    })
}

fn check_server_with(
    binary: &str,
    server: &str,
    extra: &[&str],
    run: impl Fn(&str, &[&str]) -> Output,
) -> ServerCheck {
    let group_file = temp_file("group", "");
    // The shell's own /proc/PID/stat: its pid (field 1) and process group (field 5).
    let command = format!(
        "cat /proc/$$/stat > {}; exec {server}",
        group_file.display()
    );
    // The group file is written outside the submission's folder, and its process
    // group read from this machine's /proc: the runner's own tracking, not isolated.
    let mut args = vec!["check", "--server", &command, "--no-isolation"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let output = run(binary, &args);
    let took = started.elapsed();
    let stat = std::fs::read_to_string(&group_file).expect("the group file");
    let (pid, group_of_server) = pid_and_group(&stat)
        .unwrap_or_else(|| panic!("the server command ran and noted its group: {stat:?}"));
    ServerCheck {
        output,
        took,
        group: pid,
        group_of_server,
    }
}

/// The process id and process group in a /proc/PID/stat line (fields 1 and 5).
fn pid_and_group(stat: &str) -> Option<(i32, i32)> {
    let (pid, _) = stat.split_once(' ')?;
    // The command name (field 2) may hold spaces: count from its `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    Some((
        pid.parse().ok()?,
        rest.split_whitespace().nth(2)?.parse().ok()?,
    ))
}

/// The processes in process group `group`, from /proc (Linux): field 5 of
/// /proc/PID/stat; elsewhere from `ps -A -o pid= -o pgid=` (POSIX). Never an empty list
/// for want of a way to look.
pub fn group_members(group: i32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        let output = Command::new("ps")
            .args(["-A", "-o", "pid=", "-o", "pgid="])
            .output()
            .expect("ps, to list a process group where there is no /proc");
        return String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace().map(str::parse::<i64>);
                let (pid, pgid) = (fields.next()?.ok()?, fields.next()?.ok()?);
                (pgid == i64::from(group)).then_some(u32::try_from(pid).ok()?)
            })
            .collect();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // A process that ended meanwhile has no stat any more: not a member.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| pid_and_group(&stat).map(|(_, g)| g) == Some(group))
        })
        .collect()
}

/// Each check of a report: its name and whether it passed.
pub type Verdicts = Vec<(String, bool)>;

/// The verdicts of a text report (`PASS name`, `FAIL name: detail` lines).
pub fn text_verdicts(stdout: &str) -> Verdicts {
    stdout
        .lines()
        .filter_map(|line| {
            if let Some(name) = line.strip_prefix("PASS ") {
                Some((name.to_owned(), true))
            } else {
                let (name, _detail) = line.strip_prefix("FAIL ")?.split_once(": ")?;
                Some((name.to_owned(), false))
            }
        })
        .collect()
}

/// Asserts that a text report gives exactly `expected`: each check's name and whether
/// it passed, in order, then the score line those verdicts make, last. (See
/// [`assert_report`], which also holds each failure to a piece of its detail.)
pub fn assert_verdicts(stdout: &str, expected: &[(&str, bool)]) {
    let any_detail: Vec<(&str, Option<&str>)> = expected
        .iter()
        .map(|&(name, pass)| (name, (!pass).then_some("")))
        .collect();
    assert_report(stdout, &any_detail);
    let passed = expected.iter().filter(|(_, pass)| *pass).count();
    let score = format!("{passed} passed, {} failed\n", expected.len() - passed);
    assert!(stdout.ends_with(&score), "expected {score:?}: {stdout}");
}

/// Asserts that a text report says exactly `expected`, in order: each check's name,
/// and `None` where it passed or `Some(why)` where it failed (`why` a piece of the
/// failure's detail); then the score line that follows from them. This is how a test
/// holds a README to the report it states for a course program.
pub fn assert_report(stdout: &str, expected: &[(&str, Option<&str>)]) {
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("PASS ") || line.starts_with("FAIL "))
        .collect();
    assert_eq!(verdicts.len(), expected.len(), "{verdicts:#?}\nin {stdout}");
    for (line, (name, why)) in verdicts.iter().zip(expected) {
        match why {
            None => assert_eq!(*line, format!("PASS {name}"), "in {stdout}"),
            Some(why) => {
                let detail = line.strip_prefix(&format!("FAIL {name}: "));
                assert!(
                    detail.is_some_and(|detail| detail.contains(why)),
                    "expected FAIL {name}: ...{why}..., got {line}\nin {stdout}"
                );
            }
        }
    }
    let failed = expected.iter().filter(|(_, why)| why.is_some()).count();
    let score = format!("{} passed, {failed} failed", expected.len() - failed);
    assert!(
        stdout.lines().any(|line| line == score),
        "expected {score:?} in {stdout}"
    );
}

/// Runs `binary args...` once in each `--format` and asserts that the JSON, JUnit and
/// Gradescope reports parse and say what the text run said: the same checks, the
/// same verdicts, the same score and exit status. Returns the text run's verdicts.
pub fn assert_formats_agree(binary: &str, args: &[&str], limit: Duration) -> Verdicts {
    let run_format = |format: &str| {
        let mut all = args.to_vec();
        all.extend(["--format", format]);
        let output = run_within(binary, &all, b"", limit);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), stdout)
    };
    let (text_status, text) = run_format("text");
    let verdicts = text_verdicts(&text);
    assert!(!verdicts.is_empty(), "no checks in {text:?}");
    let passed = verdicts.iter().filter(|(_, pass)| *pass).count();
    assert!(
        text.ends_with(&format!(
            "{passed} passed, {} failed\n",
            verdicts.len() - passed
        )),
        "{text}"
    );

    let (status, json) = run_format("json");
    assert_eq!(status, text_status, "json exit status");
    let json: serde_json::Value = serde_json::from_str(&json).expect("--format json parses");
    let from_json: Verdicts = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|check| {
            (
                check["name"].as_str().expect("name").to_owned(),
                check["result"] == "pass",
            )
        })
        .collect();
    assert_eq!(from_json, verdicts, "json");
    assert_eq!(json["passed"], passed);
    assert_eq!(json["failed"], verdicts.len() - passed);
    assert_eq!(json["score"].as_f64(), Some(passed as f64));
    assert_eq!(json["max_score"].as_f64(), Some(verdicts.len() as f64));

    let (status, gradescope) = run_format("gradescope");
    assert_eq!(status, text_status, "gradescope exit status");
    let gradescope: serde_json::Value =
        serde_json::from_str(&gradescope).expect("--format gradescope parses");
    let tests = gradescope["tests"].as_array().expect("tests");
    let from_gradescope: Verdicts = tests
        .iter()
        .map(|test| {
            assert_eq!(test["max_score"].as_f64(), Some(1.0));
            (
                test["name"].as_str().expect("name").to_owned(),
                test["score"].as_f64() == Some(1.0),
            )
        })
        .collect();
    assert_eq!(from_gradescope, verdicts, "gradescope");
    assert_eq!(gradescope["score"].as_f64(), Some(passed as f64));

    let (status, junit) = run_format("junit");
    assert_eq!(status, text_status, "junit exit status");
    let document = roxmltree::Document::parse(&junit).expect("--format junit parses");
    // The suite says which grader ran: "lab-x check" or "lab-x check-client".
    let suite = document
        .descendants()
        .find(|node| node.has_tag_name("testsuite"))
        .and_then(|suite| suite.attribute("name"));
    assert!(
        suite.is_some_and(|name| name.ends_with(&format!(" {}", args[0]))),
        "junit suite {suite:?} does not name {}",
        args[0]
    );
    let from_junit: Verdicts = document
        .descendants()
        .filter(|node| node.has_tag_name("testcase"))
        .map(|case| {
            let failed = case.children().any(|child| child.has_tag_name("failure"));
            (case.attribute("name").expect("name").to_owned(), !failed)
        })
        .collect();
    assert_eq!(from_junit, verdicts, "junit");
    verdicts
}

/// Runs `binary check-client --client CLIENT extra...`; returns whether it passed,
/// and its output.
pub fn run_check_client(binary: &str, client: &str, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["check-client", "--client", client];
    args.extend_from_slice(extra);
    let output = run_within(binary, &args, b"", WAIT * 3);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), stdout)
}

/// Whether the check named `check` passed, in a text report.
pub fn passed(stdout: &str, check: &str) -> bool {
    text_verdicts(stdout)
        .into_iter()
        .find(|(name, _)| name == check)
        .unwrap_or_else(|| panic!("no check {check:?} in {stdout}"))
        .1
}

/// Server commands that never come up, as a class hands them in: one that exits at
/// once, one whose file is missing, one that never listens on {port} (given
/// `--startup-timeout 1`).
pub const SERVERS_THAT_NEVER_COME_UP: [&str; 3] = [
    "python3 -c 'import sys; sys.exit(3)' # {port}",
    "python3 /nonexistent/socket-labs/server.py {port}",
    "sleep 30 # {port}",
];

/// Asserts that `binary check --server CMD extra...`, for each server that never
/// comes up, reports as a server that fails every check does: each of the lab's
/// `checks` checks listed as failed ("not run: the server never came up: ..."), the
/// score line `0 passed, N failed`, one `error:` line on stderr, exit status 1, no
/// process left; and that every `--format` says the same (full `max_score`).
pub fn assert_unstartable_server_fails_every_check(binary: &str, extra: &[&str], checks: usize) {
    for server in SERVERS_THAT_NEVER_COME_UP {
        let mut args = vec!["--startup-timeout", "1"];
        args.extend_from_slice(extra);
        let run = run_check_server(binary, server, &args);
        let stdout = run.stdout();
        assert_eq!(run.output.status.code(), Some(1), "{server}: {stdout}");
        assert_error_line(&run.output, "the server never came up: ");
        assert_all_not_run(&stdout, checks, "not run: the server never came up: ");
        assert!(run.took < Duration::from_secs(8), "{:?}", run.took);
        run.assert_group_gone();
    }
    let command = format!("--server={}", SERVERS_THAT_NEVER_COME_UP[0]);
    let mut args = vec!["check", &command];
    args.extend_from_slice(extra);
    let verdicts = assert_formats_agree(binary, &args, WAIT * 3);
    assert_eq!(verdicts.len(), checks);
}

/// A loopback port that refuses TCP and UDP alike, held for as long as this guard
/// lives: a connect to [`Refusing::address`] is refused, a datagram sent to it is
/// answered with ICMP port unreachable (the sender's next call on a connected socket
/// fails with `ECONNREFUSED`), and no other socket can be given the port meanwhile.
///
/// A port found free and then let go (bind, read the port, close) is not: another
/// test's server or client, on a loaded machine, can be handed it before the test
/// uses it, and then answers.
#[derive(Debug)]
pub struct Refusing {
    /// Bound, never listening: the port is taken for TCP, yet with no listener the
    /// kernel answers every SYN with RST.
    _tcp: socket2::Socket,
    /// Bound, and connected to its own address: a connected UDP socket takes only
    /// datagrams from its peer, and no other socket can have this address, so
    /// every datagram to it finds no socket and is answered ICMP port unreachable.
    udp: UdpSocket,
}

impl Refusing {
    /// Takes a loopback port for both TCP and UDP (the two have separate port
    /// spaces; a port free for one may be in use for the other: then another).
    pub fn new() -> Refusing {
        Self::taking(|| 0)
    }

    /// As [`Refusing::new`], but on a port below the kernel's ephemeral range, for a
    /// program that must be told its port before it starts (see [`fixed_port`]):
    /// held until the guard is dropped, then free for that program to bind.
    pub fn below_ephemeral_range() -> Refusing {
        Self::taking(|| {
            crate::check::submission::random_port_below_ephemeral_range()
                .expect("room for fixed ports below the ephemeral range")
        })
    }

    /// Tries ports from `port` (0: the kernel picks) until one is free for both.
    fn taking(port: impl Fn() -> u16) -> Refusing {
        for _ in 0..100 {
            let tcp = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("a TCP socket");
            // No SO_REUSEADDR: nothing else may bind the port while we hold it.
            let wanted = SocketAddr::from(([127, 0, 0, 1], port()));
            if tcp.bind(&wanted.into()).is_err() {
                continue; // in use for TCP: try another port
            }
            let address = tcp
                .local_addr()
                .expect("its address")
                .as_socket()
                .expect("an IP address");
            let Ok(udp) = UdpSocket::bind(address) else {
                continue; // in use for UDP: try another port
            };
            udp.connect(address).expect("UDP connected to itself");
            return Refusing { _tcp: tcp, udp };
        }
        panic!("no loopback port free for both TCP and UDP in 100 tries");
    }

    /// The refusing address, `127.0.0.1:PORT`.
    pub fn address(&self) -> SocketAddr {
        self.udp.local_addr().expect("its address")
    }
}

impl Default for Refusing {
    fn default() -> Self {
        Self::new()
    }
}

/// A loopback port, free for TCP and UDP, for a program that must be told its port
/// before it starts (a submission with its port in its code, a peer the other must
/// know): a port found free and let go is the race [`Refusing`] avoids, so this one
/// comes from below the kernel's ephemeral range (`ip_local_port_range`), which
/// bind(0) and connect never hand out: once free, only a program that asks for this
/// very number can take it. Still, a caller that can tell (the program says the port
/// is already in use) retries with another: see [`with_fixed_port`].
pub fn fixed_port() -> u16 {
    // The picker `check --server` gives its submissions, for the same reason.
    crate::check::submission::free_port().expect("a port free for TCP and UDP")
}

/// Runs `attempt` with a [`fixed_port`], then with another while it returns `None`
/// (the port turned out to be in use, taken by number by some other program), at
/// most 10 times.
pub fn with_fixed_port<T>(mut attempt: impl FnMut(u16) -> Option<T>) -> T {
    for _ in 0..10 {
        if let Some(result) = attempt(fixed_port()) {
            return result;
        }
    }
    panic!("every fixed port tried was in use");
}

/// Asserts that `binary check --target` at a port where nothing listens runs every
/// check (a `--target` is never probed: the checks' own connections are all a server
/// sees), each failing in plain words: the connection refused ("is the server
/// running on HOST:PORT?"), or, for a datagram whose refusal the system does not
/// report, no reply; the same in every `--format`; and no raw OS error text anywhere.
pub fn assert_refusing_target_fails_every_check(binary: &str, extra: &[&str], checks: usize) {
    let refusing = Refusing::new();
    let target = refusing.address().to_string();
    let mut args = vec!["check", "--target", &target];
    args.extend_from_slice(extra);
    let output = run_within(binary, &args, b"", WAIT * 3);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let refused = format!("connection refused: is the server running on {target}?");
    let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(fails.len(), checks, "{stdout}");
    for fail in &fails {
        assert!(
            fail.ends_with(&refused) || fail.contains("no reply within"),
            "{fail}\n{stdout}"
        );
    }
    assert!(
        fails.iter().any(|fail| fail.ends_with(&refused)),
        "{stdout}"
    );
    assert!(!stdout.contains("os error"), "{stdout}");
    let verdicts = assert_formats_agree(binary, &args, WAIT * 3);
    assert_eq!(verdicts.len(), checks);
}

/// Asserts that `binary check-client` with a client command that has no `{port}`
/// (and no `--port`) is a usage error, in every format: one `error:` line saying so,
/// exit status 2, no report (the grading command is wrong, not the submission).
pub fn assert_client_without_port_is_a_usage_error(binary: &str, extra: &[&str]) {
    for format in ["text", "json", "junit", "gradescope"] {
        let mut args = vec!["check-client", "--client", "python3 client.py"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--format", format]);
        assert_usage_error(binary, &args, "the --client command has no {port}");
    }
}

/// Asserts that the instructor's mistakes in a `binary check` command are usage
/// errors (exit status 2, one `error:` line, no report), not a score of 0: a
/// `--server` command with no `{port}` and no `--target`, a `--target` that is not
/// `HOST:PORT`.
pub fn assert_check_mistakes_are_usage_errors(binary: &str) {
    for format in ["text", "gradescope"] {
        let args = ["check", "--server", "python3 server.py", "--format", format];
        assert_usage_error(binary, &args, "the --server command has no {port}");
        let args = ["check", "--target", "localhost", "--format", format];
        assert_usage_error(binary, &args, "'localhost' is not HOST:PORT");
        let args = ["check", "--target", "localhost:http", "--format", format];
        assert_usage_error(
            binary,
            &args,
            "the port in 'localhost:http' is not a number",
        );
    }
}

/// Runs `binary args` and asserts a usage error as clap reports one: exit status 2,
/// nothing on stdout, stderr starting with an `error:` line containing `text` (clap
/// may add its hint, `For more information, try '--help'.`).
pub fn assert_usage_error(binary: &str, args: &[&str], text: &str) {
    let output = run_within(binary, args, b"", WAIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{args:?}: {stderr}");
    assert!(first.contains(text), "expected {text:?} in {stderr:?}");
}

/// Asserts that a text report lists `checks` checks, every one failed with a detail
/// starting `detail`, and ends with the score line `0 passed, N failed` (what the
/// README's grading loop takes with `tail -n 1`).
pub fn assert_all_not_run(stdout: &str, checks: usize, detail: &str) {
    let lines: Vec<&str> = stdout.lines().collect();
    let fails = lines
        .iter()
        .filter(|line| line.starts_with("FAIL ") && line.contains(&format!(": {detail}")))
        .count();
    assert_eq!(fails, checks, "{stdout}");
    assert_eq!(text_verdicts(stdout).len(), checks, "{stdout}");
    assert_eq!(
        lines.last().copied(),
        Some(format!("0 passed, {checks} failed").as_str()),
        "{stdout}"
    );
}

/// The course's TCPServer.py (Kurose & Ross 2.7) as a student hands it in, the port
/// from its command line: one `recv`, one reply, close; `decode()` raises on bytes
/// that are not UTF-8, and the server dies. For lab-tcp's and lab-concurrent's tests.
pub const COURSE_TCP_SERVER: &str = r#"
import sys
from socket import *
serverSocket = socket(AF_INET, SOCK_STREAM)
serverSocket.bind(('127.0.0.1', int(sys.argv[1])))
serverSocket.listen(1)
while True:
    connectionSocket, addr = serverSocket.accept()
    sentence = connectionSocket.recv(1024).decode()
    capitalizedSentence = sentence.upper()
    connectionSocket.send(capitalizedSentence.encode())
    connectionSocket.close()
"#;

/// Runs `binary check --server SERVER` and asserts its report (see
/// [`assert_verdicts`]), that it shows each of `shown` (a crash's stderr, a check's
/// detail), and that no process of the server is left.
pub fn assert_check_server_report(
    binary: &str,
    server: &str,
    expected: &[(&str, bool)],
    shown: &[&str],
) {
    let run = run_check_server(binary, server, &[]);
    let stdout = run.stdout();
    assert_verdicts(&stdout, expected);
    for text in shown {
        assert!(stdout.contains(text), "expected {text:?} in {stdout}");
    }
    run.assert_group_gone();
}

/// Starts the course's server `example` (arguments `[HOST] [PORT]`) on a free
/// loopback port, has `send` send it bytes that are not UTF-8, and asserts that it
/// stops as the course's Python server does: exit status 1, the decoding error on
/// stderr.
pub fn assert_invalid_utf8_stops(example: &str, send: impl FnOnce(SocketAddr)) {
    let server = RunningProcess::start(example, &["127.0.0.1", "0"]);
    let line = server.next_line().expect("the listening line");
    send(parse_listening_line(&line).expect("a listening line"));
    let (status, _, stderr) = server.wait();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Utf8Error"), "{stderr}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn refusing_refuses_tcp_connections() {
        let refusing = Refusing::new();
        for _ in 0..3 {
            let error = TcpStream::connect_timeout(&refusing.address(), WAIT).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
        }
    }

    #[test]
    fn refusing_refuses_datagrams() {
        let refusing = Refusing::new();
        let client = crate::net::udp_connected(refusing.address()).unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        for _ in 0..3 {
            // The ICMP port unreachable comes back as the next call's error.
            client.send(b"hi").unwrap();
            let error = client.recv(&mut [0; 16]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
        }
    }

    #[test]
    fn fixed_ports_refuse_while_held_and_are_below_the_ephemeral_range() {
        let first_ephemeral = *crate::platform::ephemeral_port_range().start();
        let refusing = Refusing::below_ephemeral_range();
        assert!(refusing.address().port() < first_ephemeral, "{refusing:?}");
        let error = TcpStream::connect_timeout(&refusing.address(), WAIT).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
        let port = fixed_port();
        assert!(port < first_ephemeral, "{port}");
    }

    #[test]
    fn refusing_keeps_its_port_taken() {
        let refusing = Refusing::new();
        let address = refusing.address();
        let tcp = std::net::TcpListener::bind(address).unwrap_err();
        assert_eq!(tcp.kind(), ErrorKind::AddrInUse, "{tcp}");
        let udp = UdpSocket::bind(address).unwrap_err();
        assert_eq!(udp.kind(), ErrorKind::AddrInUse, "{udp}");
    }
}
