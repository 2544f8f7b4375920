//! Prefork: `--workers` processes forked at start, before any client (Stevens'
//! serv02; Apache's prefork). Read it beside `fork.rs`.
//!
//! Every worker inherits the listening socket and calls `accept` on it itself: the
//! kernel gives each new connection to one of them. A worker serves one client at a
//! time, to the end, then accepts the next; the parent only watches its workers. No
//! client pays for a `fork`; the trade-off is the pool's: `--workers` clients at
//! once, the rest wait in the listen backlog.
//!
//! As in `fork.rs`, the parent starts no thread (every fork happens in a
//! single-threaded process) and catches signals through signal-hook's self-pipe. A
//! worker that dies by a signal (a crash, `kill -9`) is logged and replaced, as
//! Apache does; one that exits on its own is logged only (a failure at start would
//! repeat forever). On SIGINT/SIGTERM the parent stops every worker and reaps it;
//! should the parent die without doing so (`kill -9`), each idle worker sees its
//! "pipe of death" (Apache's term) close and exits: no orphan keeps the port.
#![allow(unsafe_code)]

use std::collections::HashSet;
use std::io::{ErrorKind, Write};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use common::connection::{self, Buffers, Settings, survive_accept_error};
use common::net;
use common::shutdown::Shutdown;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::WaitStatus;
use nix::unistd::{ForkResult, Pid};

use super::Config;
use super::fork::{Served, Signals, drain, end_children, fork_child, reap, report_tally};

/// Forks the workers, then watches them until SIGINT/SIGTERM.
pub fn serve(listener: TcpListener, config: &Config, signals: Signals) -> Result<()> {
    let settings = &config.settings;
    let Signals {
        stop,
        pipe: signal_pipe,
    } = signals;
    // Each worker reports how many clients and messages it served, as it exits.
    let (tally, tally_writer) = UnixDatagram::pair()?;
    tally.set_nonblocking(true)?;
    // Every idle worker is woken by a new client and only one gets it: the others'
    // `accept` must return WouldBlock instead of waiting for the next client.
    listener.set_nonblocking(true)?;

    // The pipe of death: the parent holds one end, each worker polls the other,
    // which reports end-of-file once no parent holds its end any more.
    let (lifeline, pipe_of_death) = UnixStream::pair()?;
    let mut lifeline = Some(lifeline);
    let worker_ends = WorkerEnds {
        listener: &listener,
        tally: &tally_writer,
        pipe_of_death: &pipe_of_death,
    };
    let mut workers = HashSet::new();
    let mut served = Served::default();
    for _ in 0..config.workers.max(1) {
        workers.insert(start_worker(&worker_ends, &mut lifeline, settings)?);
    }
    while !stop.load(Ordering::SeqCst) {
        // poll(): sleep until a signal: SIGCHLD (a worker ended), SIGINT or SIGTERM.
        let mut watched = [PollFd::new(signal_pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut watched, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(error) => return Err(error).context("poll failed"),
        }
        drain(&signal_pipe);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        for ended in reap(&mut workers, &tally, &mut served) {
            match ended {
                WaitStatus::Signaled(pid, signal, _) => {
                    settings.log.warn(format_args!(
                        "worker {pid} killed by {signal}; starting another"
                    ));
                    match start_worker(&worker_ends, &mut lifeline, settings) {
                        Ok(worker) => {
                            workers.insert(worker);
                        }
                        Err(error) => settings.log.warn(format_args!("{error:#}")),
                    }
                }
                WaitStatus::Exited(pid, status) => settings.log.warn(format_args!(
                    "worker {pid} exited with status {status}; {} left",
                    workers.len()
                )),
                _ => {}
            }
        }
    }
    // close(): the parent's copy of the listener, then every worker, reaped.
    drop(listener);
    end_children(&mut workers, &tally, &mut served);
    served.add_to(&settings.stats);
    settings.stats.print_summary();
    Ok(())
}

/// The sockets a worker inherits and uses.
struct WorkerEnds<'a> {
    /// The shared listening socket.
    listener: &'a TcpListener,
    /// Where the worker reports what it served.
    tally: &'a UnixDatagram,
    /// Readable (end-of-file) once the parent is gone.
    pipe_of_death: &'a UnixStream,
}

/// fork(): one more worker; the parent gets its pid, the child never returns.
/// `lifeline` is the parent's end of the pipe of death: the child closes its copy.
fn start_worker(
    ends: &WorkerEnds,
    lifeline: &mut Option<UnixStream>,
    settings: &Settings,
) -> Result<Pid> {
    // SAFETY: this process has one thread (this model starts none, and the ctrlc
    // handler is never installed in the parent), so the child's memory is consistent.
    // The child starts on the default signal actions: see `fork_child`.
    match unsafe { fork_child() }.context("cannot fork a worker")? {
        ForkResult::Child => {
            // close(): only the parent may hold this end, or the pipe never closes.
            drop(lifeline.take());
            worker(ends, settings)
        }
        ForkResult::Parent { child } => Ok(child),
    }
}

/// A worker's whole life: serve clients until told to stop, report, exit.
fn worker(ends: &WorkerEnds, settings: &Settings) -> ! {
    // The counters are the parent's, copied by fork: report only what this worker adds.
    let (clients, messages) = (settings.stats.clients(), settings.stats.messages());
    if let Err(error) = serve_clients(ends, settings) {
        settings.log.warn(format_args!("worker: {error:#}"));
    }
    report_tally(
        ends.tally,
        settings.stats.clients() - clients,
        settings.stats.messages() - messages,
        settings,
    );
    // _exit, not exit: the child must not run the parent's exit-time cleanup.
    // SAFETY: _exit ends the process at once; nothing runs after it.
    unsafe { libc::_exit(0) }
}

/// In a worker: accept a client, serve it to the end, repeat, until SIGINT/SIGTERM
/// or the parent's death.
fn serve_clients(ends: &WorkerEnds, settings: &Settings) -> Result<()> {
    let listener = ends.listener;
    // The fork is done: this process may start ctrlc's thread. A signal then ends a
    // session blocked in `recv` as in the threaded models, and wakes `poll` below.
    let shutdown = Shutdown::on_signals()?;
    let (wake, woken) = UnixStream::pair()?;
    shutdown.on_request(Box::new(move || {
        let _ = (&wake).write(&[1]);
    }));
    let settings = Settings {
        shutdown: Arc::clone(&shutdown),
        ..settings.clone()
    };
    // One client at a time: every session can use the same buffers.
    let mut buffers = Buffers::new();
    while !shutdown.is_requested() {
        // poll(): wait for a client on the shared listener, for the shutdown, or
        // for the parent's death.
        let mut watched = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(woken.as_fd(), PollFlags::POLLIN),
            PollFd::new(ends.pipe_of_death.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut watched, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(error) => return Err(error).context("poll failed"),
        }
        let orphaned = watched[2]
            .revents()
            .is_some_and(|events| !events.is_empty());
        if shutdown.is_requested() || orphaned {
            break;
        }
        // accept(): non-blocking, since another worker may have taken this client.
        let (conn, peer) = match net::accept(listener) {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == ErrorKind::WouldBlock => continue,
            Err(error) => {
                survive_accept_error(&error, settings.log);
                continue;
            }
        };
        // The accepted socket may inherit O_NONBLOCK (BSD): the session blocks.
        conn.set_nonblocking(false)?;
        // Serve it to the end before accepting anyone else.
        connection::serve_client(conn, peer, &settings, &mut buffers);
    }
    Ok(())
}
