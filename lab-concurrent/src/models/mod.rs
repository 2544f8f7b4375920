//! The five server models. Each serves the same protocol (`common::session`) on the
//! same listening socket until shutdown; they differ only in how connections are
//! dispatched. Diff two files to see exactly what changes.
//!
//! | model | who runs a client's session | cost per client |
//! |---|---|---|
//! | `iterative` | the one main thread, one client at a time | none; but others wait |
//! | `thread` | a new thread per client | a thread (stack, creation) |
//! | `pool` | a fixed set of threads made at start, each an event loop | nothing new per client |
//! | `fork` | a new process per client | a process (`fork`, memory, `waitpid`) |
//! | `event` | one thread, non-blocking sockets, readiness events | a small state struct |

pub mod event;
pub mod fork;
pub mod iterative;
pub mod pool;
pub mod thread;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use common::admission::Admission;
use common::connection::Settings;
use common::report::Log;

/// Which model serves.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// One client at a time; the others wait in the backlog
    Iterative,
    /// A thread per client
    Thread,
    /// A fixed set of --workers threads, each running an event loop
    Pool,
    /// A process per client
    Fork,
    /// One thread, non-blocking sockets, readiness notification (epoll/kqueue)
    Event,
}

impl Model {
    /// Every model, in the order the lab presents them.
    pub const ALL: [Model; 5] = [
        Model::Iterative,
        Model::Thread,
        Model::Pool,
        Model::Fork,
        Model::Event,
    ];

    /// The model's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Model::Iterative => "iterative",
            Model::Thread => "thread",
            Model::Pool => "pool",
            Model::Fork => "fork",
            Model::Event => "event",
        }
    }

    /// How many sessions the model holds by default: an event loop's are cheap, a
    /// thread's or a process's are not.
    pub fn default_max_clients(self) -> usize {
        match self {
            Model::Event | Model::Pool => 10_000,
            _ => 1_024,
        }
    }
}

/// What every model needs to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// Idle timeout, log, counters, shutdown.
    pub settings: Settings,
    /// The bound on sessions held at once.
    pub admission: Arc<Admission>,
    /// Threads of the pool model.
    pub workers: usize,
}

/// The reply to a client over the bound: `server busy`, then close. `connection`
/// must be non-blocking: the write never waits, and a client too slow to take these
/// 12 bytes at once just misses them.
pub fn turn_away(mut connection: impl Write, peer: SocketAddr, log: Log) {
    let _ = connection.write_all(b"server busy\n");
    log.line(format_args!("Server busy: turned {peer} away"));
    // close(): `connection` is dropped here.
}

/// [`turn_away`] for a blocking model's socket.
pub fn turn_away_blocking(connection: TcpStream, peer: SocketAddr, log: Log) {
    let _ = connection.set_nonblocking(true);
    turn_away(connection, peer, log);
}
