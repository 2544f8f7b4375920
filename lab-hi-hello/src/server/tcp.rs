//! The hi-hello server over TCP: a welcoming socket, and a thread per client whose
//! session goes on until `bye`, EOF or the idle timeout. TCP is a byte stream, so
//! greetings are cut from it by the `Framer` (`greeting.rs`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::Result;
use common::admission::Admission;
use common::connection::{SessionThreads, survive_accept_error};
use common::net;
use common::report::{Log, Stats, printable};
use common::shutdown::Shutdown;

use crate::Endpoint;
use crate::greeting::{Framer, Message};

/// How long bytes without a newline wait for the rest of their line before they are
/// answered as a bare message (the course clients never send a newline).
const BARE_MESSAGE_WAIT: Duration = Duration::from_millis(150);

/// At most this many TCP clients are served at once; more are closed at once, so a
/// flood of connections cannot exhaust threads or memory.
const MAX_CLIENTS: usize = 1024;

/// Each client thread needs little stack: its buffers are on the heap.
const CLIENT_THREAD_STACK: usize = 128 * 1024;

/// What every client thread shares.
struct Shared {
    log: Log,
    stats: Stats,
    shutdown: Arc<Shutdown>,
    idle_timeout: Option<Duration>,
    admission: Arc<Admission>,
}

/// The TCP server socket: socket, bind, listen.
pub fn listen(endpoint: &Endpoint) -> Result<TcpListener> {
    let address = endpoint.bind_address()?;
    // socket(AF_INET/AF_INET6, SOCK_STREAM): a TCP socket.
    let socket = net::tcp_socket(address)?;
    // bind(): the server's well-known port, so clients know where to knock.
    net::bind(&socket, address)?;
    // listen(): this is now a welcoming socket; it never carries a conversation itself.
    let listener = net::listen(socket)?;
    net::announce(listener.local_addr()?, "tcp");
    Ok(listener)
}

/// Accepts clients and serves each on a thread of its own, until shutdown.
pub fn serve_tcp(
    listener: &TcpListener,
    log: Log,
    idle_timeout: Option<Duration>,
    shutdown: Arc<Shutdown>,
) -> Result<()> {
    shutdown.wake_listener(listener)?;
    let shared = Arc::new(Shared {
        log,
        stats: Stats::default(),
        shutdown,
        idle_timeout,
        admission: Admission::new(MAX_CLIENTS),
    });
    let mut sessions = SessionThreads::default();
    while !shared.shutdown.is_requested() {
        // accept(): a new connection socket for the next client.
        let accepted = net::accept(listener);
        if shared.shutdown.is_requested() {
            break;
        }
        let (connection, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                survive_accept_error(&error, log);
                continue;
            }
        };
        let Some(ticket) = shared.admission.try_admit() else {
            log.warn(format_args!(
                "{MAX_CLIENTS} clients already: closing {peer}",
                peer = net::shown(peer)
            ));
            continue; // dropping `connection` closes it
        };
        let for_thread = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .stack_size(CLIENT_THREAD_STACK)
            .spawn(move || {
                serve_client(connection, peer, &for_thread);
                drop(ticket);
            });
        match spawned {
            Ok(session) => sessions.push(session),
            // The closure, with the connection and the ticket, is dropped: both freed.
            Err(error) => log.warn(format_args!(
                "cannot start a thread for {peer}: {error}",
                peer = net::shown(peer)
            )),
        }
    }
    // The shutdown has woken every session: let them end (and say so) first.
    sessions.join_all();
    shared.stats.print_summary();
    Ok(())
}

/// One client's session: greetings until `bye`, EOF, the idle timeout, or shutdown.
fn serve_client(mut connection: TcpStream, peer: SocketAddr, shared: &Shared) {
    let log = shared.log;
    log.line(format_args!(
        "New client connected from {peer}",
        peer = net::shown(peer)
    ));
    shared.stats.client();
    let _registered = shared.shutdown.guard_stream(&connection);
    let mut framer = Framer::default();
    let mut buffer = [0; 4096];
    loop {
        // While a partial message waits, wait only a moment for the rest of its line.
        let wait = if framer.has_partial() {
            Some(BARE_MESSAGE_WAIT)
        } else {
            shared.idle_timeout
        };
        if connection.set_read_timeout(wait).is_err() {
            break;
        }
        // recv(): some bytes, 0 at EOF, or a timeout.
        let messages = match connection.read(&mut buffer) {
            Ok(0) => break,
            Ok(received) => framer.push(&buffer[..received]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                match framer.take_bare() {
                    Some(bare) => vec![bare],
                    None => {
                        log.line(format_args!(
                            "Client {peer} idle too long",
                            peer = net::shown(peer)
                        ));
                        break;
                    }
                }
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if answer_all(&mut connection, peer, &messages, shared) {
            break;
        }
    }
    log.line(format_args!(
        "Client disconnected ({peer})",
        peer = net::shown(peer)
    ));
    // close(): `connection` is dropped here.
}

/// Sends the reply to each message; true if the session ends (`bye`, or a failed send).
fn answer_all(
    connection: &mut TcpStream,
    peer: SocketAddr,
    messages: &[Message],
    shared: &Shared,
) -> bool {
    for message in messages {
        let (reply, ends) = message.reply();
        if !shared.log.is_quiet() {
            shared.log.line(format_args!(
                "{peer}: {}",
                printable(&message.text),
                peer = net::shown(peer)
            ));
        }
        shared.stats.message();
        // send(): write_all repeats send() until every byte is taken.
        if connection.write_all(&reply).is_err() || ends {
            return true;
        }
    }
    false
}
