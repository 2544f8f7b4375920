//! Running a submission's command (a student's server or client, in any language) the
//! way a grader must: through `sh -c`, with `{host}` and `{port}` filled in, in a
//! process group of its own, watched, and stopped for certain.
//!
//! - Its own process group (`setpgid`, as a shell does for a job) so that stopping it
//!   reaches every process it started (`sh` -> `python3`, a forking server's
//!   children): SIGTERM to the group, SIGKILL 2 s later if any member is left.
//! - A watcher thread waits for the command to end and says when it did, and which
//!   check was running then, so a crash is reported where it happened.
//! - The last lines of its stderr are kept (bounded) for the report.
//! - Ctrl-C or SIGTERM to the grader itself stops every running submission first:
//!   a group of its own no longer gets the terminal's Ctrl-C, so nothing else would.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How long a stopped command has between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long a server that may be spinning is watched, and the share of that time its
/// threads must be runnable (on a CPU, or waiting for one on a busy machine) to be
/// found spinning (see [`Submission::spinning`]).
const SPIN_WINDOW: Duration = Duration::from_millis(100);
const SPIN_SHARE: f64 = 0.9;

/// How many lines of stderr the report keeps, and how long each may be.
const TAIL_LINES: usize = 10;
const TAIL_LINE_CHARS: usize = 300;

/// The most of a client's stdout that is kept for grading.
const STDOUT_LIMIT: u64 = 1 << 20;

/// What the command's standard streams are.
#[derive(Debug)]
pub enum Streams {
    /// A server: no input, stdout discarded, stderr's tail kept.
    Server,
    /// A client: `input` on stdin (then end of file), stdout kept, stderr's tail kept.
    Client(Vec<u8>),
}

/// A running submission.
#[derive(Debug)]
pub struct Submission {
    /// Its process group, whose id is the `sh` process's id.
    group: Pid,
    /// The mark in the environment of every process it starts (see [`MARK`]).
    mark: String,
    watch: Arc<Watch>,
    stderr: Arc<Mutex<Tail>>,
    stderr_reader: Option<JoinHandle<()>>,
    stdout_reader: Option<JoinHandle<Vec<u8>>>,
}

/// How a command ended on its own: its status as a shell gives it, and the check
/// that was running then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit code, or 128 + N for a death by signal N.
    pub status: i32,
    /// The check running when the end was seen, if any.
    pub during: Option<String>,
}

impl Exit {
    /// "status 1", or "status 139 (killed by SIGSEGV)".
    pub fn describe(&self) -> String {
        match self.status.checked_sub(128).and_then(signal_name) {
            Some(name) => format!("status {} (killed by {name})", self.status),
            None => format!("status {}", self.status),
        }
    }
}

fn signal_name(number: i32) -> Option<&'static str> {
    Signal::try_from(number).ok().map(Signal::as_str)
}

/// Shared between the watcher thread and the runner.
#[derive(Default)]
struct Watch {
    state: Mutex<WatchState>,
    changed: Condvar,
}

#[derive(Default)]
struct WatchState {
    exit: Option<Exit>,
    /// Set before the grader stops the command: its end is then not "on its own".
    stopping: bool,
    /// The check now running, and where to tell it that the command ended.
    current: Option<(String, Box<dyn Fn() + Send>)>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Watch")
            .field("exit", &state.exit)
            .field("stopping", &state.stopping)
            .field("current", &state.current.as_ref().map(|(check, _)| check))
            .finish()
    }
}

impl Watch {
    fn lock(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `command` with `{host}` and `{port}` replaced by `address`'s parts.
pub fn fill_in(command: &str, address: SocketAddr) -> String {
    command
        .replace("{host}", &crate::net::shown_ip(address))
        .replace("{port}", &address.port().to_string())
}

impl Submission {
    /// Starts `sh -c command` in a new process group.
    pub fn spawn(command: &str, streams: Streams) -> Result<Submission> {
        prepare_grader();
        let mark = new_mark();
        let mut shell = super::limits::shell(command, &streams);
        shell.process_group(0).env(MARK, &mark);
        shell.stderr(Stdio::piped());
        let input = match streams {
            Streams::Server => {
                shell.stdin(Stdio::null()).stdout(Stdio::null());
                None
            }
            Streams::Client(input) => {
                shell.stdin(Stdio::piped()).stdout(Stdio::piped());
                Some(input)
            }
        };
        let mut child = shell
            .spawn()
            .with_context(|| format!("cannot run `sh -c {command}`"))?;
        let group = Pid::from_raw(i32::try_from(child.id()).context("process id out of range")?);
        register(group, &mark);
        let stderr = Arc::new(Mutex::new(Tail::default()));
        let stderr_reader = child.stderr.take().map(|pipe| {
            let tail = Arc::clone(&stderr);
            thread::spawn(move || keep_tail(pipe, &tail))
        });
        let stdout_reader = child.stdout.take().map(|pipe| {
            thread::spawn(move || {
                let mut kept = Vec::new();
                let mut pipe = pipe.take(STDOUT_LIMIT);
                let _ = pipe.read_to_end(&mut kept);
                // Past the limit, go on draining so the client never blocks on a full pipe.
                let _ = std::io::copy(&mut pipe.into_inner(), &mut std::io::sink());
                kept
            })
        });
        if let (Some(mut pipe), Some(input)) = (child.stdin.take(), input) {
            // A client that never reads its input must not block the grader.
            thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let watch = Arc::new(Watch::default());
        let watcher = Arc::clone(&watch);
        thread::spawn(move || wait_for(child, &watcher));
        Ok(Submission {
            group,
            mark,
            watch,
            stderr,
            stderr_reader,
            stdout_reader,
        })
    }

    /// The process group id (the `sh` process's id).
    pub fn group(&self) -> i32 {
        self.group.as_raw()
    }

    /// How the command ended on its own, if it has.
    pub fn exit(&self) -> Option<Exit> {
        self.watch.lock().exit.clone()
    }

    /// Waits up to `timeout` for the command to end on its own.
    pub fn wait_exit(&self, timeout: Duration) -> Option<Exit> {
        let state = self.watch.lock();
        let (state, _) = self
            .watch
            .changed
            .wait_timeout_while(state, timeout, |state| state.exit.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        state.exit.clone()
    }

    /// Marks `check` as running: an end of the command from now on is said to be
    /// during it, and `ended` is called.
    pub fn during(&self, check: &str, ended: Box<dyn Fn() + Send>) {
        self.watch.lock().current = Some((check.to_owned(), ended));
    }

    /// No check is running any more.
    pub fn between_checks(&self) {
        self.watch.lock().current = None;
    }

    /// The check now running, if any.
    pub fn current_check(&self) -> Option<String> {
        self.watch
            .lock()
            .current
            .as_ref()
            .map(|(check, _)| check.clone())
    }

    /// Are processes it started still running outside its process group (a daemon
    /// that called `setsid`)? Always false where they cannot be seen (no /proc).
    pub fn has_strays(&self) -> bool {
        !strays(&self.mark, self.group, running_alone(self.group)).is_empty()
    }

    /// Is it spinning: its threads runnable (on a CPU, or waiting for one) for 90 % of
    /// 100 ms (`SPIN_WINDOW`), as with `while True` around a `recv` that returns b'' for ever
    /// on a connection its client closed? Runnable, not running: on a loaded machine
    /// a spinning thread waits its turn. Watched only if a thread is runnable now
    /// (state R), so an idle server costs one read of /proc. Always false where /proc
    /// cannot tell (not Linux).
    pub fn spinning(&self) -> bool {
        let threads = threads_of(self.group);

        if !threads
            .iter()
            .any(|thread| thread_state(thread) == Some('R'))
        {
            return false;
        }
        let before = runnable_time(&threads);
        let started = Instant::now();
        thread::sleep(SPIN_WINDOW);
        let runnable = runnable_time(&threads).saturating_sub(before);
        runnable as f64 >= SPIN_SHARE * started.elapsed().as_nanos() as f64
    }

    /// Is any process left in its process group (a child not yet gone, or on its
    /// way out of the group: between its fork and its `setsid`)?
    pub fn group_alive(&self) -> bool {
        signal::killpg(self.group, None) != Err(Errno::ESRCH)
    }

    /// Stops the command: SIGTERM to its group, SIGKILL [`STOP_GRACE`] later if any
    /// process of it is left; waits until the group is gone (bounded). Returns the
    /// last lines of its stderr, and its stdout (clients).
    pub fn stop(mut self) -> (Vec<String>, Vec<u8>) {
        self.watch.lock().stopping = true;
        self.terminate();
        // The pipes end with the group, unless a process escaped it (setsid): then
        // take what came so far rather than wait for ever.
        let stdout = self
            .stdout_reader
            .take()
            .and_then(join_within)
            .unwrap_or_default();
        if let Some(reader) = self.stderr_reader.take() {
            join_within(reader);
        }
        let tail = self
            .stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines();
        (tail, stdout)
    }

    /// The last lines of stderr so far.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lines()
    }
}

impl Drop for Submission {
    fn drop(&mut self) {
        // Stopped already (then this finds no one), or the grader is failing: never
        // leave a student's server running.
        let _ = signal::killpg(self.group, Signal::SIGKILL);
        kill_strays(&self.mark, self.group, running_alone(self.group));
        unregister(self.group);
    }
}

/// The watcher: reaps the command and records how it ended.
fn wait_for(mut child: Child, watch: &Watch) {
    let status = child.wait();
    let mut state = watch.lock();
    // Ending the grader kills the command: that end is ours, not "on its own".
    if !state.stopping && !grader_ending() {
        let status = status.map(shell_status).unwrap_or(-1);
        let during = state.current.as_ref().map(|(check, _)| check.clone());
        state.exit = Some(Exit { status, during });
        if let Some((_, ended)) = &state.current {
            ended();
        }
    }
    // Even when stopping: wake anyone waiting, and the stop sees the end.
    state.exit.get_or_insert(Exit {
        status: -1,
        during: None,
    });
    watch.changed.notify_all();
}

/// The status as `$?` gives it: the exit code, or 128 + the signal number.
fn shell_status(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(-1)
}

impl Submission {
    /// SIGTERM to the group; SIGKILL after [`STOP_GRACE`] if any member is left;
    /// then wait (bounded) until none is.
    fn terminate(&self) {
        let _ = signal::killpg(self.group, Signal::SIGTERM);
        if !self.wait_group_gone(STOP_GRACE) {
            let _ = signal::killpg(self.group, Signal::SIGKILL);
            self.wait_group_gone(STOP_GRACE);
        }
        kill_strays(&self.mark, self.group, running_alone(self.group));
        unregister(self.group);
    }

    /// Polls until no process is left in the group. There is no way to wait for a
    /// group whose members are not all our children, so this is a bounded poll. The
    /// members orphaned by the `sh` (a `python3` it started) are our children too:
    /// we are their subreaper, and reap them here once the watcher has reaped `sh`.
    fn wait_group_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.watch.lock().exit.is_some() {
                let members = Pid::from_raw(-self.group.as_raw());
                while let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
                    waitpid(members, Some(WaitPidFlag::WNOHANG))
                {}
            }
            if signal::killpg(self.group, None) == Err(Errno::ESRCH) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The name of the environment variable that marks every process of a submission:
/// children inherit it, through forks, `setsid` and double forks, so the processes
/// a daemon leaves outside the submission's process group are still found and
/// stopped (a daemon that empties its environment escapes it; the isolation of a
/// PID namespace does not have that gap).
pub const MARK: &str = "SOCKET_LABS_SUBMISSION";

/// A mark no other submission of any grader has: our process id and a count.
fn new_mark() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The processes of the submission `mark` outside its `group`, where /proc shows them:
/// those that carry the mark; and, when it is the only submission running, those
/// that left our session (`setsid`) and were adopted by us (we are the subreaper):
/// a daemon that emptied its environment.
fn strays(mark: &str, group: Pid, alone: bool) -> Vec<Pid> {
    let wanted = format!("{MARK}={mark}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|&pid| {
            // environ: NUL-separated NAME=VALUE, readable for our own user's processes.
            let marked = std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                environ
                    .split(|&b| b == 0)
                    .any(|entry| entry == wanted.as_bytes())
            });
            (marked || (alone && adopted_from_another_session(pid)))
                && nix::unistd::getpgid(Some(pid)).is_ok_and(|their| their != group)
        })
        .collect()
}

/// The threads of every process of `group`, as their /proc/PID/task/TID folders.
fn threads_of(group: Pid) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            // proc(5): "pid (comm) state ppid pgrp ...", comm possibly with spaces.
            std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, fields)| fields.split_whitespace().nth(2))
                    .is_some_and(|pgrp| pgrp == group.to_string())
            })
        })
        .filter_map(|entry| std::fs::read_dir(entry.path().join("task")).ok())
        .flat_map(|tasks| tasks.filter_map(|task| Some(task.ok()?.path())))
        .collect()
}

/// A thread's state letter (R running, S sleeping, ...), from its stat.
fn thread_state(thread: &std::path::Path) -> Option<char> {
    let stat = std::fs::read_to_string(thread.join("stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The time `threads` have been runnable, in nanoseconds: on a CPU and waiting for
/// one (the first two fields of /proc/PID/task/TID/schedstat).
fn runnable_time(threads: &[std::path::PathBuf]) -> u64 {
    threads
        .iter()
        .filter_map(|thread| {
            let schedstat = std::fs::read_to_string(thread.join("schedstat")).ok()?;
            let mut fields = schedstat.split_whitespace().map(str::parse::<u64>);
            Some(fields.next()?.ok()? + fields.next()?.ok()?)
        })
        .sum()
}

/// Is `pid` our child (adopted: we never start one in another session) in a session
/// other than ours? From /proc/PID/stat: "pid (comm) state ppid pgrp session ...".
fn adopted_from_another_session(pid: Pid) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some((_, fields)) = stat.rsplit_once(')') else {
        return false;
    };
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let (Some(parent), Some(session)) = (fields.get(1), fields.get(3)) else {
        return false;
    };
    parent.parse() == Ok(nix::unistd::getpid().as_raw())
        && nix::unistd::getsid(None).is_ok_and(|ours| session.parse() != Ok(ours.as_raw()))
}

/// Is the submission of `group` the only one running (in `running`, the list)?
fn alone(group: Pid, running: &[(i32, String)]) -> bool {
    running.iter().all(|(other, _)| *other == group.as_raw())
}

/// Is the submission of `group` the only one running now?
fn running_alone(group: Pid) -> bool {
    alone(
        group,
        &RUNNING.lock().unwrap_or_else(PoisonError::into_inner),
    )
}

/// SIGKILL to every process of the submission outside its group, until none is left
/// (bounded); each is reaped where it became our child (we are the subreaper).
/// `alone`: it is the only submission running (see [`strays`]).
fn kill_strays(mark: &str, group: Pid, alone: bool) {
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        let left = strays(mark, group, alone);
        for &pid in &left {
            let _ = signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        }
        if left.is_empty() || Instant::now() >= deadline {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Joins `reader` if it finishes within a second.
fn join_within<T>(reader: JoinHandle<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !reader.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    if reader.is_finished() {
        reader.join().ok()
    } else {
        None
    }
}

/// A free loopback port for a submission to listen on, free for TCP and UDP both.
///
/// It is free when we look, and the submission binds it a moment later (it must be
/// told its port first): in between, another program could take it. So it is not one
/// the kernel hands out by itself (to a bind to port 0, or as a connect's local
/// port, from its ephemeral range) but one from below that range: meanwhile only a
/// program that asks for this very number can take it.
pub fn free_port() -> Result<u16> {
    for _ in 0..100 {
        // Port 0 (the kernel picks) only if there is no room below its range.
        let wanted = random_port_below_ephemeral_range().unwrap_or(0);
        // bind(): free for TCP now? Let go at once: the submission binds it.
        let Ok(listener) = TcpListener::bind(("127.0.0.1", wanted)) else {
            continue;
        };
        let port = listener.local_addr()?.port();
        // And for UDP?
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("cannot find a port free for both TCP and UDP on 127.0.0.1")
}

/// A random port from the upper half of those below the kernel's ephemeral range
/// (16384-32767 with Linux's default range, 32768-60999); `None` if the range
/// starts too low to leave room.
pub(crate) fn random_port_below_ephemeral_range() -> Option<u16> {
    let first_ephemeral = first_ephemeral_port();
    if first_ephemeral < 2048 {
        return None;
    }
    let lowest = first_ephemeral / 2;
    Some(ChaCha8Rng::from_os_rng().random_range(lowest..first_ephemeral))
}

/// The first port of the kernel's ephemeral range (Linux, macOS and FreeBSD each
/// show it their own way: [`crate::platform::ephemeral_port_range`]).
fn first_ephemeral_port() -> u16 {
    *crate::platform::ephemeral_port_range().start()
}

/// The last lines of a stream, each cut to a bounded length.
#[derive(Debug, Default)]
pub struct Tail {
    lines: VecDeque<String>,
    partial: Vec<u8>,
}

impl Tail {
    /// Takes more bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let room = (TAIL_LINE_CHARS * 4).saturating_sub(self.partial.len());
            let body = piece.strip_suffix(b"\n").unwrap_or(piece);
            self.partial
                .extend_from_slice(&body[..body.len().min(room)]);
            if piece.ends_with(b"\n") {
                let line = std::mem::take(&mut self.partial);
                self.keep(line);
            }
        }
    }

    fn keep(&mut self, line: Vec<u8>) {
        let text = super::limits::in_original_folder(&String::from_utf8_lossy(&line));
        let mut text: String = text.trim_end().chars().take(TAIL_LINE_CHARS).collect();
        if text.len() < line.len() && text.chars().count() == TAIL_LINE_CHARS {
            text.push_str("...");
        }
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(text);
    }

    /// The lines kept, the unfinished last one included.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.lines.iter().cloned().collect();
        if !self.partial.is_empty() {
            lines.push(String::from_utf8_lossy(&self.partial).trim_end().to_owned());
            if lines.len() > TAIL_LINES {
                lines.remove(0);
            }
        }
        lines
    }
}

fn keep_tail(mut pipe: impl Read, tail: &Mutex<Tail>) {
    let mut buffer = [0; 4096];
    while let Ok(read) = pipe.read(&mut buffer) {
        if read == 0 {
            break;
        }
        tail.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(&buffer[..read]);
    }
}

/// The process groups of the submissions running now, stopped on Ctrl-C.
static RUNNING: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

/// Set (before any kill) once the grader is ending: see [`grader_ending`].
static ENDING: AtomicBool = AtomicBool::new(false);

/// Is the grader ending (Ctrl-C, SIGTERM, a closed stdout)? Then the submissions die
/// by our hand, and nothing that follows may be reported as their failure. Set before
/// [`stop_all`] kills anything, so no watcher can see such a death before it is set.
pub fn grader_ending() -> bool {
    ENDING.load(Ordering::SeqCst)
}

/// Before the first submission starts: what makes the grader able to stop it.
fn prepare_grader() {
    static HANDLER: Once = Once::new();
    HANDLER.call_once(|| {
        // Processes the submission's `sh` leaves orphaned become our children, not
        // init's, so that stopping the group can reap them and know it is gone, and a
        // daemon is found among them. Before its spawn: its `sh` may end at once.
        #[cfg(target_os = "linux")]
        let _ = nix::sys::prctl::set_child_subreaper(true);
        // If a handler cannot be installed, Ctrl-C kills the grader alone: the group's
        // Drop cannot run then, hence the handler.
        let _ = ctrlc::set_handler(|| {
            let _held = stop_all();
            std::process::exit(130)
        });
    });
}

fn register(group: Pid, mark: &str) {
    RUNNING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((group.as_raw(), mark.to_owned()));
}

/// Kills (and reaps) every running submission's group, for a grader about to end
/// (Ctrl-C, SIGTERM, a closed stdout). Returns the lock on the list: held by the
/// caller until it exits, so that the runner, which stops its own submissions
/// through the list, waits instead of finishing (and exiting) on its own meanwhile.
pub fn stop_all() -> MutexGuard<'static, Vec<(i32, String)>> {
    ENDING.store(true, Ordering::SeqCst);
    let groups = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
    for (group, mark) in groups.iter() {
        let group = Pid::from_raw(*group);
        let _ = signal::killpg(group, Signal::SIGKILL);
        // The list is ours now (held): asking it again would wait for ever.
        kill_strays(mark, group, alone(group, &groups));
    }
    // Reap them (bounded), rather than leave their zombies to init.
    let deadline = Instant::now() + STOP_GRACE;
    for &(group, _) in groups.iter() {
        while signal::killpg(Pid::from_raw(group), None) != Err(Errno::ESRCH)
            && Instant::now() < deadline
        {
            let _ = waitpid(Pid::from_raw(-group), Some(WaitPidFlag::WNOHANG));
            thread::sleep(Duration::from_millis(5));
        }
    }
    groups
}

fn unregister(group: Pid) {
    RUNNING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(running, _)| *running != group.as_raw());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_is_below_the_ephemeral_range() {
        // (That it is free is seen by binding it, inside free_port; binding it again
        // here would race any other program that asks for the same number.)
        for _ in 0..20 {
            let port = free_port().unwrap();
            assert!((first_ephemeral_port() / 2..first_ephemeral_port()).contains(&port));
        }
    }

    #[test]
    fn tail_keeps_the_last_lines_bounded() {
        let mut tail = Tail::default();
        for line in 0..25 {
            tail.push(format!("line {line}\n").as_bytes());
        }
        tail.push(b"unfin");
        tail.push(b"ished");
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.last().unwrap(), "unfinished");
        assert_eq!(lines[0], "line 16");
        let mut long = Tail::default();
        long.push(&vec![b'x'; 100_000]);
        long.push(b"\n");
        assert!(long.lines()[0].len() <= TAIL_LINE_CHARS + 3);
    }

    #[test]
    fn a_stopped_group_leaves_no_process() {
        // sh starts a background sleeper that ignores SIGTERM: only SIGKILL ends it.
        let submission = Submission::spawn(
            "trap '' TERM; sleep 30 & echo started >&2; wait",
            Streams::Server,
        )
        .unwrap();
        let group = Pid::from_raw(submission.group());
        let deadline = Instant::now() + Duration::from_secs(10);
        while submission.stderr_tail().is_empty() {
            assert!(Instant::now() < deadline, "the shell never started");
            thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        let _ = submission.stop();
        assert!(
            started.elapsed() >= STOP_GRACE,
            "SIGKILL came after the grace"
        );
        assert!(
            started.elapsed() < STOP_GRACE * 2,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(signal::killpg(group, None), Err(Errno::ESRCH));
    }

    #[test]
    fn an_exit_on_its_own_is_recorded_with_its_status_and_stderr() {
        let submission =
            Submission::spawn("echo oops >&2; exit 3", Streams::Client(Vec::new())).unwrap();
        let exit = submission.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(exit.status, 3);
        let (tail, _) = submission.stop();
        assert_eq!(tail, ["oops"]);
    }

    #[test]
    fn a_client_gets_its_input_and_its_stdout_is_kept() {
        let submission =
            Submission::spawn("tr a-z A-Z", Streams::Client(b"hello\n".to_vec())).unwrap();
        assert_eq!(
            submission
                .wait_exit(Duration::from_secs(10))
                .unwrap()
                .status,
            0
        );
        let (_, stdout) = submission.stop();
        assert_eq!(stdout, b"HELLO\n");
    }

    #[test]
    fn a_death_by_signal_reads_as_a_shell_says_it() {
        let exit = Exit {
            status: 139,
            during: None,
        };
        assert_eq!(exit.describe(), "status 139 (killed by SIGSEGV)");
    }
}
