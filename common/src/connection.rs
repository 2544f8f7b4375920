//! One client's uppercase session over a blocking TCP socket: `recv`, hand the bytes
//! to the protocol ([`Session`]), `send` the reply, until the client says `quit`,
//! closes, goes idle, or the server shuts down.
//!
//! This is the loop inside the course's TCP server (`while True: recv, upper, send`),
//! made robust. lab-tcp's iterative server runs it for one client at a time;
//! lab-concurrent's thread, pool, prefork and fork models run it for many at once.
//! [`on_received`] is the step every model shares, the event loop and `async` included.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::net;
use crate::report::{Log, Stats, printable};
use crate::session::{Next, Session};
use crate::shutdown::Shutdown;

/// How many bytes one `recv` may return; replies are at most three times as long.
/// Memory per connection stays bounded whatever the client sends.
pub const READ_BUFFER: usize = 16 * 1024;

/// What a server needs to run a session: its idle timeout, log, counters, shutdown.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Close a connection that neither sends nor reads for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// The server's log.
    pub log: Log,
    /// The server's counters.
    pub stats: Arc<Stats>,
    /// The server's shutdown request: it ends a blocked `recv` too.
    pub shutdown: Arc<Shutdown>,
}

impl Settings {
    /// Settings from the command line: an idle timeout of zero means none.
    pub fn new(idle_timeout: Duration, quiet: bool, shutdown: Arc<Shutdown>) -> Self {
        Settings {
            idle_timeout: (!idle_timeout.is_zero()).then_some(idle_timeout),
            log: Log::new(quiet),
            stats: Arc::new(Stats::default()),
            shutdown,
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client sent `quit`.
    Quit,
    /// The client closed its side (or the server is shutting down).
    Closed,
    /// Nothing moved in either direction for the idle timeout.
    Idle,
}

/// The memory a session works in: what `recv` fills, and the reply being built.
/// A server can make one set and lend it to session after session: the iterative
/// servers do, and the fork model's children inherit the parent's set (a child then
/// copies only the pages it writes, instead of allocating and zeroing its own).
#[derive(Debug)]
pub struct Buffers {
    received: Vec<u8>,
    reply: Vec<u8>,
}

impl Buffers {
    /// Buffers for one session at a time.
    pub fn new() -> Self {
        Buffers {
            received: vec![0; READ_BUFFER],
            reply: Vec::with_capacity(READ_BUFFER),
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers::new()
    }
}

/// The threads of a thread-per-client server, so that at shutdown it can wait for
/// its sessions to end (the shutdown wakes them all) before it prints its summary:
/// then every `Client disconnected` comes before the summary, the server's last line.
#[derive(Debug, Default)]
pub struct SessionThreads(Vec<JoinHandle<()>>);

impl SessionThreads {
    /// Keeps a session's thread. Threads that have ended are dropped whenever the
    /// list would grow, so it holds about as many as there are live sessions.
    pub fn push(&mut self, thread: JoinHandle<()>) {
        if self.0.len() == self.0.capacity() {
            self.0.retain(|thread| !thread.is_finished());
        }
        self.0.push(thread);
    }

    /// Waits until every session has ended.
    pub fn join_all(self) {
        for thread in self.0 {
            // A session that panicked has ended too; there is nothing more to do.
            let _ = thread.join();
        }
    }
}

/// Serves one client until its session ends, logging `New client connected` and
/// `Client disconnected` around it. Never fails: whatever the client does, the
/// caller goes on with the next one.
pub fn serve_client(
    stream: TcpStream,
    peer: SocketAddr,
    settings: &Settings,
    buffers: &mut Buffers,
) {
    let log = settings.log;
    log.line(format_args!(
        "New client connected from {peer}",
        peer = net::shown(peer)
    ));
    settings.stats.client();
    log_ending(peer, serve(stream, peer, settings, buffers), log);
}

/// The session loop. close(): `stream` is dropped on return, which closes the
/// connection socket (the client's `recv` then returns 0).
fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    settings: &Settings,
    buffers: &mut Buffers,
) -> io::Result<Ending> {
    let _registered = settings.shutdown.guard_stream(&stream);
    // The idle timeout counts both ways: a `recv` that waits too long, and a `send`
    // stuck because the client never reads, both end the session. (A new socket
    // has no timeouts: with none asked for, there is nothing to set.)
    if let Some(timeout) = settings.idle_timeout {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
    }
    let mut session = Session::new();
    let Buffers {
        received: buffer,
        reply,
    } = buffers;
    loop {
        // recv(): whatever has arrived, from one byte to a buffer-full; a line may
        // come in pieces, or many lines at once. 0 bytes means the client closed.
        let received = match stream.read(buffer) {
            Ok(0) => {
                // EOF (or a half-close): send what is still owed, then close.
                reply.clear();
                session.on_eof(reply);
                stream.write_all(reply)?;
                return Ok(Ending::Closed);
            }
            Ok(received) => received,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if is_timeout(&error) => return Ok(Ending::Idle),
            Err(error) => return Err(error),
        };
        reply.clear();
        let next = on_received(&buffer[..received], peer, settings, &mut session, reply);
        // send(): `write_all` repeats `send` until the kernel has taken every byte.
        match stream.write_all(reply) {
            Ok(()) => {}
            Err(error) if is_timeout(&error) => return Ok(Ending::Idle),
            Err(error) => return Err(error),
        }
        if next == Next::Close {
            return Ok(Ending::Quit);
        }
    }
}

/// What every server model does with the bytes of one read, however it read them
/// (a blocking `recv`, an event loop's, an `async` task's): log them, hand them to the
/// protocol, which appends the reply to `reply`, and count them as a message answered
/// if they got a reply (a `quit` gets none, and is not counted).
pub fn on_received(
    data: &[u8],
    peer: SocketAddr,
    settings: &Settings,
    session: &mut Session,
    reply: &mut Vec<u8>,
) -> Next {
    if !settings.log.is_quiet() {
        settings.log.line(format_args!(
            "{peer}: {}",
            printable(data),
            peer = net::shown(peer)
        ));
    }
    let before = reply.len();
    let next = session.on_read(data, reply);
    if reply.len() > before {
        settings.stats.message();
    }
    next
}

/// Logs how a session ended: `Client disconnected`, idle, or lost.
pub fn log_ending(peer: SocketAddr, ending: io::Result<Ending>, log: Log) {
    match ending {
        Ok(Ending::Idle) => log.line(format_args!(
            "Client {peer} idle too long: disconnected",
            peer = net::shown(peer)
        )),
        Ok(_) => log.line(format_args!(
            "Client disconnected ({peer})",
            peer = net::shown(peer)
        )),
        // A reset, a broken pipe: the client's problem, not the server's.
        Err(error) => log.line(format_args!(
            "Client {peer} lost: {error}",
            peer = net::shown(peer)
        )),
    }
}

/// A socket timeout shows as `WouldBlock` on Unix and `TimedOut` elsewhere.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// What a server does when `accept` fails: never stop. A connection reset while it
/// waited in the backlog (ECONNABORTED) is skipped; anything else, such as running out
/// of file descriptors (EMFILE), is logged and followed by a short pause, so the
/// server does not spin on an `accept` that keeps failing.
pub fn survive_accept_error(error: &io::Error, log: Log) {
    if error.kind() == ErrorKind::ConnectionAborted {
        return;
    }
    log.warn(format_args!("accept failed: {error}; retrying in 100 ms"));
    std::thread::sleep(Duration::from_millis(100));
}
