//! A process per client (CPE 314's forked server; Stevens' tcpserv04). The slides'
//! version is `examples/forked_server.rs`; what it lacks (reaping, signals, a clean
//! Ctrl-C) is what most of this file is about.
//!
//! After `fork` the parent and the child each hold the connection and the listening
//! socket. The child closes the listener and serves the client; the parent closes
//! its copy of the connection (else the client never sees EOF when the child is done,
//! and the parent runs out of descriptors) and goes back to `accept`. A child that
//! exits stays a zombie until its parent `waitpid`s for it, so the parent reaps on
//! every SIGCHLD, in a loop with WNOHANG (several children may have died per signal).
//!
//! `fork` copies only the calling thread: forking a process that has other threads
//! (ctrlc's signal thread, say) leaves the child with locks nobody will release. So
//! this model starts no thread at all. Signals set a flag and write a byte to a pipe
//! (signal-hook's safe self-pipe); the parent `poll`s the listener and that pipe
//! together, so a signal is never missed between a check and a blocking call.
//!
//! A child is born with those handlers, and with one more that acts only in a child
//! ([`end_session_in_child`]): on SIGINT or SIGTERM it shuts the child's connection
//! down, so the child ends as after a client's close, with its tally reported: the
//! shutdown summary counts the messages of the sessions still running at Ctrl-C. The
//! handler tells a child from the parent by its process ID, so a signal is never
//! lost however soon after `fork` it comes, and a child needs no signal set-up of
//! its own: no system call per connection for signals. (Prefork's workers, forked
//! once, put back the default actions instead: [`fork_child`].)
//!
//! A child shares its parent's memory copy-on-write (APUE 8.3): a page that either
//! writes while the other still maps it is first copied, a page fault and 4 KiB each
//! time, and with many clients some child always maps every page. So what the parent
//! writes per client stays on its stack and in its table of children: it counts in
//! [`Served`], a local, and adds that to the server's counters once, at shutdown.
#![allow(unsafe_code)]

use std::collections::HashSet;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::connection::{self, Buffers, Settings, survive_accept_error};
use common::net;
use common::report::Stats;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::socket::{self as socket, Shutdown};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid};
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};

use super::{Config, turn_away};

/// How long the children get to exit after SIGTERM before SIGKILL. It costs nothing
/// when they exit at once, as they do: a fork child or a prefork worker as soon as
/// its session is shut down. It is there for a child the machine is slow to
/// schedule, which must still report its counts (SIGKILL would lose them from the
/// summary), and as a last resort against one that hangs.
const CHILDREN_GRACE: Duration = Duration::from_secs(2);

/// SIGINT, SIGTERM and SIGCHLD, caught without a thread: each sets a flag (the
/// first two) and writes a byte to a pipe that the parent polls.
#[derive(Debug)]
pub struct Signals {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) pipe: UnixStream,
}

impl Signals {
    /// Installs the handlers. Do it before the listening line goes out, so that a
    /// signal sent as soon as the server is up is never missed.
    pub fn install() -> Result<Signals> {
        let (pipe, writer) = UnixStream::pair()?;
        pipe.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
        }
        for sig in [SIGINT, SIGTERM, SIGCHLD] {
            signal_hook::low_level::pipe::register(sig, writer.try_clone()?)?;
        }
        Ok(Signals { stop, pipe })
    }
}

/// Accepts clients and forks a child for each, until SIGINT/SIGTERM.
pub fn serve(listener: std::net::TcpListener, config: &Config, signals: Signals) -> Result<()> {
    let settings = &config.settings;
    let Signals {
        stop,
        pipe: signal_pipe,
    } = signals;
    // Each child reports how many messages it answered, one datagram as it exits.
    let (tally, tally_writer) = UnixDatagram::pair()?;
    tally.set_nonblocking(true)?;
    listener.set_nonblocking(true)?;
    // Made once, here, and inherited by every child: fork shares the parent's pages
    // copy-on-write, so a child copies only the few it writes to.
    let mut buffers = Buffers::new();
    let parent = getpid();
    for sig in [SIGINT, SIGTERM] {
        // SAFETY: the action calls only getpid() and shutdown(), both
        // async-signal-safe (signal-safety(7)), and reads an atomic.
        unsafe { signal_hook::low_level::register(sig, move || end_session_in_child(parent)) }?;
    }

    let mut children = HashSet::new();
    let mut served = Served::default();
    while !stop.load(Ordering::SeqCst) {
        // poll(): wait for a client to connect, for a signal (a byte on the pipe), or
        // for a child's tally: read at once, a child never waits in send() for room
        // in the tally's queue (only 10 datagrams on Linux: net.unix.max_dgram_qlen).
        let mut watched = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(signal_pipe.as_fd(), PollFlags::POLLIN),
            PollFd::new(tally.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut watched, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(error) => return Err(error).context("poll failed"),
        }
        let signalled = watched[1]
            .revents()
            .is_some_and(|events| events.contains(PollFlags::POLLIN));
        if signalled {
            drain(&signal_pipe);
            reap(&mut children, &tally, &mut served);
        } else if watched[2]
            .revents()
            .is_some_and(|e| e.contains(PollFlags::POLLIN))
        {
            served.collect(&tally);
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // accept(): non-blocking; the client may have gone already. One per wake-up:
        // forking a burst of children before any can run only delays them all.
        let (conn, peer) = match net::accept(&listener) {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == ErrorKind::WouldBlock => continue,
            Err(error) => {
                survive_accept_error(&error, settings.log);
                continue;
            }
        };
        if children.len() >= config.admission.limit() {
            turn_away(conn, peer, settings.log);
            continue;
        }
        // The accepted socket may inherit O_NONBLOCK (BSD; on Linux it never does, so
        // no ioctl there): the child's loop blocks.
        #[cfg(not(target_os = "linux"))]
        conn.set_nonblocking(false)?;
        // For the child's SIGINT/SIGTERM action: set before fork, so the child has it
        // from its first instruction. accept() returns the lowest free descriptor and
        // the parent closes its copy after each fork, so the number seldom changes:
        // store only a change (a store would copy the page, shared with the children).
        let descriptor = conn.as_raw_fd();
        if SERVED_CONNECTION.load(Ordering::Relaxed) != descriptor {
            SERVED_CONNECTION.store(descriptor, Ordering::Relaxed);
        }
        // SAFETY: this process has one thread (this model starts none, and the
        // ctrlc handler is never installed), so the child's memory is consistent.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                serve_in_child(listener, conn, peer, settings, &mut buffers, &tally_writer)
            }
            Ok(ForkResult::Parent { child }) => {
                children.insert(child);
                served.clients += 1;
                // close(): the parent's copy of the connection; the child has its own.
                drop(conn);
            }
            Err(error) => {
                // EAGAIN: too many processes. That client is closed; the server goes on.
                settings.log.warn(format_args!(
                    "fork failed: {error}; closing {peer}",
                    peer = net::shown(peer)
                ));
                drop(conn);
            }
        }
    }
    // close(): stop accepting, then end the children and reap every one.
    drop(listener);
    end_children(&mut children, &tally, &mut served);
    served.add_to(&settings.stats);
    settings.stats.print_summary();
    Ok(())
}

/// The child's whole life: serve one client, report, exit.
fn serve_in_child(
    listener: std::net::TcpListener,
    conn: std::net::TcpStream,
    peer: std::net::SocketAddr,
    settings: &Settings,
    buffers: &mut Buffers,
    tally: &UnixDatagram,
) -> ! {
    // The child never accepts: close its copy of the listening socket.
    drop(listener);
    // The counters are the parent's, copied by fork: report only what this child adds
    // (not the client: the parent counted it as it forked).
    let answered_before = settings.stats.messages();
    connection::serve_client(conn, peer, settings, buffers);
    report_tally(
        tally,
        0,
        settings.stats.messages() - answered_before,
        settings,
    );
    // _exit, not exit: the child must not run the parent's exit-time cleanup. (The
    // log writes whole lines to a line-buffered stdout: nothing is left to flush.)
    // SAFETY: _exit ends the process at once; nothing runs after it.
    unsafe { libc::_exit(0) }
}

/// Reads the bytes the signal handlers wrote (one per signal). A single `read` is
/// enough: should more than 64 be waiting, `poll` reports the pipe readable again.
pub(super) fn drain(mut pipe: &UnixStream) {
    let mut bytes = [0; 64];
    let _ = pipe.read(&mut bytes);
}

/// waitpid(-1, WNOHANG) until no child is left to reap: no zombie stays; then the
/// tallies they sent. Returns how each child reaped ended.
pub(super) fn reap(
    children: &mut HashSet<Pid>,
    tally: &UnixDatagram,
    served: &mut Served,
) -> Vec<WaitStatus> {
    let mut ended = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(status) => {
                if let Some(pid) = status.pid() {
                    children.remove(&pid);
                }
                ended.push(status);
            }
        }
    }
    served.collect(tally);
    ended
}

/// In a child: tells the parent what it served (the counters a child changes are its
/// own copies), one datagram of two big-endian u64s. If that fails the summary will
/// undercount: the child says so on stderr, with what is missing.
pub(super) fn report_tally(tally: &UnixDatagram, clients: u64, messages: u64, settings: &Settings) {
    if let Err(error) = send_tally(tally, clients, messages) {
        settings.log.warn(format_args!(
            "process {}: {clients} clients and {messages} messages it served are missing \
             from the summary: cannot report them to the server: {error}",
            std::process::id()
        ));
    }
}

/// send(): the tally datagram, again if a signal interrupted the call.
fn send_tally(tally: &UnixDatagram, clients: u64, messages: u64) -> std::io::Result<()> {
    let mut count = [0; 16];
    count[..8].copy_from_slice(&clients.to_be_bytes());
    count[8..].copy_from_slice(&messages.to_be_bytes());
    loop {
        match tally.send(&count) {
            Ok(_) => return Ok(()),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
}

/// In a parent: the clients and messages its children served, summed as their
/// tallies come, and added to the server's counters for the summary.
#[derive(Debug, Default)]
pub(super) struct Served {
    clients: u64,
    messages: u64,
}

impl Served {
    /// recv(): every tally waiting, each one datagram of two big-endian u64s.
    fn collect(&mut self, tally: &UnixDatagram) {
        let mut count = [0; 16];
        while let Ok(16) = tally.recv(&mut count) {
            let mut clients = [0; 8];
            let mut messages = [0; 8];
            clients.copy_from_slice(&count[..8]);
            messages.copy_from_slice(&count[8..]);
            self.clients += u64::from_be_bytes(clients);
            self.messages += u64::from_be_bytes(messages);
        }
    }

    /// Adds these counts to the server's, once, before its summary.
    pub(super) fn add_to(&self, stats: &Stats) {
        stats.add(self.clients, self.messages);
    }
}

/// SIGTERM to every child, a short grace, SIGKILL to the rest; all reaped, their
/// tallies collected.
pub(super) fn end_children(children: &mut HashSet<Pid>, tally: &UnixDatagram, served: &mut Served) {
    for &child in children.iter() {
        let _ = signal::kill(child, Signal::SIGTERM);
    }
    let deadline = Instant::now() + CHILDREN_GRACE;
    while !children.is_empty() && Instant::now() < deadline {
        reap(children, tally, served);
        std::thread::sleep(Duration::from_millis(5));
    }
    for &child in children.iter() {
        let _ = signal::kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
    }
    children.clear();
}

/// In a fork child: the descriptor of the connection it serves.
static SERVED_CONNECTION: AtomicI32 = AtomicI32::new(-1);

/// The fork model's SIGINT and SIGTERM action, run beside the parent's (which set
/// its flag and write to its pipe; run in a child, they wake the parent for nothing,
/// and only at shutdown). In a child, not in `parent`, it shuts the connection down
/// both ways, so the child's blocked `recv` returns 0 as if the client had closed (a
/// blocked `send` fails). The child then ends as it always does: `Client
/// disconnected`, its tally to the parent, `_exit`. Only that runs in the handler:
/// sending the tally from here could race the child's own report and count it twice.
fn end_session_in_child(parent: Pid) {
    if getpid() != parent {
        // shutdown(SHUT_RDWR). Should the session be over already, the descriptor is
        // closed (EBADF, ignored): the child is about to exit.
        let _ = socket::shutdown(SERVED_CONNECTION.load(Ordering::Relaxed), Shutdown::Both);
    }
}

/// The signals [`Signals::install`] catches.
const CAUGHT: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD];

/// fork(), with the child starting on the default signal actions.
///
/// A child is born with its parent's handlers, which only set the parent's flag and
/// write to the parent's pipe. A SIGTERM that reached a child before it put back the
/// defaults would be swallowed, and the child would live on until the parent gave
/// up and sent SIGKILL: that happens when Ctrl-C comes while the parent is forking
/// (it then SIGTERMs children that have not yet run a line of their own). So the
/// caught signals are blocked around fork(), and one sent meanwhile stays pending
/// (APUE 10.12, sigprocmask). The child starts with no signal pending (APUE 8.3) and
/// the parent's mask; it puts back the defaults, then unblocks: a SIGTERM or SIGINT
/// sent to it meanwhile is delivered then, and ends it at once. The parent unblocks
/// right after fork(), and its handlers run for whatever came in between.
///
/// # Safety
///
/// As for fork(): the calling process must have a single thread.
pub(super) unsafe fn fork_child() -> Result<ForkResult> {
    let caught: SigSet = CAUGHT.into_iter().collect();
    // sigprocmask(SIG_BLOCK): hold the caught signals; keep the mask as it was.
    let mask_before = caught.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
    // SAFETY: the caller's promise: this process has one thread.
    let forked = unsafe { fork() };
    if let Ok(ForkResult::Child) = forked {
        restore_default_signals();
    }
    // sigprocmask(SIG_SETMASK): the mask as it was, in the parent and in the child;
    // a signal pending meanwhile is delivered now. (It cannot fail: the set is valid.)
    let _ = mask_before.thread_set_mask();
    Ok(forked?)
}

/// In a child: the parent's signal handlers write to the parent's pipe; the child
/// must die on SIGINT/SIGTERM like any program (Ctrl-C reaches the whole group).
fn restore_default_signals() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in CAUGHT {
        // SAFETY: installing the default action runs no code of ours in a handler.
        let _ = unsafe { signal::sigaction(sig, &default) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_that_cannot_be_sent_is_an_error_and_one_that_can_is_counted() {
        let (parent, child) = UnixDatagram::pair().unwrap();
        parent.set_nonblocking(true).unwrap();
        send_tally(&child, 2, 5).unwrap();
        let mut served = Served::default();
        served.collect(&parent);
        assert_eq!((served.clients, served.messages), (2, 5));
        // The server's end gone: the child's report fails, and must say so.
        drop(parent);
        let error = send_tally(&child, 1, 1).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
    }
}
