//! The seven server models. Each serves the same protocol (`common::session`) on the
//! same listening socket until shutdown; they differ only in how connections are
//! dispatched. Diff two files to see exactly what changes (pool.rs against
//! thread.rs, prefork.rs against fork.rs, async.rs against thread.rs and event.rs).
//!
//! | model | who runs a client's session | cost per client |
//! |---|---|---|
//! | `iterative` | the one main thread, one client at a time | none; but others wait |
//! | `thread` | a new thread per client | a thread (stack, creation) |
//! | `pool` | one of `--workers` threads made at start, fed by a queue | none; but only N at once |
//! | `prefork` | one of `--workers` processes forked at start, each in `accept` | none; but only N at once |
//! | `fork` | a new process per client | a process (`fork`, memory, `waitpid`) |
//! | `event` | one thread (or `--threads N`), non-blocking sockets, readiness events | a small state struct |
//! | `async` | a tokio task on a runtime of `--threads N` | a task (a small state machine) |

pub mod r#async;
pub mod event;
pub mod fork;
pub mod iterative;
pub mod pool;
pub mod prefork;
pub mod thread;

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

use common::admission::Admission;
use common::connection::Settings;
use common::line_client::SERVER_BUSY;
use common::net;
use common::report::Log;
use nix::sys::socket::{self, MsgFlags};

/// Which model serves.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// One client at a time; the others wait in the backlog
    Iterative,
    /// A thread per client
    Thread,
    /// A fixed set of --workers threads, fed connections through a queue
    Pool,
    /// A fixed set of --workers processes, forked at start, each in accept
    Prefork,
    /// A process per client
    Fork,
    /// --threads event loops (default 1): non-blocking sockets, epoll/kqueue
    Event,
    /// A tokio task per client, on a runtime of --threads threads (default 1)
    Async,
}

impl Model {
    /// Every model, in the order the lab presents them.
    pub const ALL: [Model; 7] = [
        Model::Iterative,
        Model::Thread,
        Model::Pool,
        Model::Prefork,
        Model::Fork,
        Model::Event,
        Model::Async,
    ];

    /// The model's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Model::Iterative => "iterative",
            Model::Thread => "thread",
            Model::Pool => "pool",
            Model::Prefork => "prefork",
            Model::Fork => "fork",
            Model::Event => "event",
            Model::Async => "async",
        }
    }

    /// How many sessions the model holds by default: an event loop's or a task's are
    /// cheap, a thread's or a process's are not.
    pub fn default_max_clients(self) -> usize {
        match self {
            Model::Event | Model::Async => 10_000,
            _ => 1_024,
        }
    }

    /// Does the model fork? Then it must stay single-threaded until it has: it
    /// catches signals itself instead of starting ctrlc's thread.
    pub fn forks(self) -> bool {
        matches!(self, Model::Fork | Model::Prefork)
    }
}

/// What every model needs to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// Idle timeout, log, counters, shutdown.
    pub settings: Settings,
    /// The bound on sessions held at once.
    pub admission: Arc<Admission>,
    /// Threads of the pool model, processes of the prefork model.
    pub workers: usize,
    /// Event loops of the event model, runtime threads of the async model.
    pub threads: usize,
}

/// A client's thread needs little stack: its buffers are on the heap. 64 KiB instead
/// of Rust's default 2 MiB keeps 10,000 idle clients affordable (only touched pages
/// count, but guard pages and address space are per thread).
pub const THREAD_STACK: usize = 64 * 1024;

/// The reply to a client over the bound: `server busy`, then close. No call waits
/// (`MSG_DONTWAIT`), so any model may call it from its accepting thread or loop: a
/// client too slow to take these 12 bytes at once just misses them.
///
/// Closing a socket whose receive buffer still holds unread bytes (a client that sent
/// its line before reading, as `echo x | nc` does) makes the kernel send RST instead
/// of FIN (RFC 1122 4.2.2.13), and a client that gets the RST first may lose the reply.
/// So: the reply, then FIN (`shutdown(SHUT_WR)`), then the client's bytes are read
/// and discarded before `close`.
pub fn turn_away(connection: impl AsFd, peer: SocketAddr, log: Log) {
    let fd = connection.as_fd().as_raw_fd();
    // send(): the reply. A client already gone is an EPIPE error here, not a SIGPIPE:
    // Rust programs ignore SIGPIPE from the start (no MSG_NOSIGNAL, which macOS lacks).
    let _ = socket::send(fd, SERVER_BUSY, MsgFlags::MSG_DONTWAIT);
    // shutdown(SHUT_WR): FIN right after the reply.
    let _ = socket::shutdown(fd, socket::Shutdown::Write);
    // recv(): discard what the client has sent so far (bounded: 64 KiB at most).
    let mut discard = [0; 4096];
    for _ in 0..16 {
        match socket::recv(fd, &mut discard, MsgFlags::MSG_DONTWAIT) {
            Ok(length) if length > 0 => {}
            _ => break,
        }
    }
    log.line(format_args!(
        "Server busy: turned {peer} away",
        peer = net::shown(peer)
    ));
    // close(): `connection` is dropped here.
}
