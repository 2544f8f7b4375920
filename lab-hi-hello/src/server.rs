//! The hi-hello server, over TCP (a thread per client) or UDP (one socket for all).
//!
//! The two `listen`/`bind` functions below are the lab's first written question in
//! code: a *server* socket is bound to a known port and waits (TCP: `listen` and
//! `accept`; UDP: `recvfrom`), while a *client* socket just `connect`s or sends from
//! whatever port the system gives it (see `client.rs`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::Result;
use common::admission::Admission;
use common::cli::parse_seconds;
use common::connection::{SessionThreads, survive_accept_error};
use common::report::{Log, Stats, printable};
use common::shutdown::Shutdown;
use common::{datagram, net};

use crate::greeting::{Framer, Message};
use crate::{Endpoint, Transport};

/// Command-line options of `lab-hi-hello server`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// tcp (a session per client) or udp (a datagram per message)
    #[arg(long, value_enum, default_value = "tcp")]
    transport: Transport,
    /// Close a TCP connection that sends nothing for this many seconds (0: never)
    #[arg(long, value_parser = parse_seconds, default_value = "300")]
    idle_timeout: Duration,
    /// Print only the listening line, errors and the shutdown summary
    #[arg(short, long)]
    quiet: bool,
}

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

/// `lab-hi-hello server`: serve greetings until Ctrl-C.
pub fn run(options: &Options) -> Result<ExitCode> {
    let shutdown = Shutdown::on_signals()?;
    let log = Log::new(options.quiet);
    match options.transport {
        Transport::Tcp => {
            let listener = listen(&options.endpoint)?;
            let idle = (!options.idle_timeout.is_zero()).then_some(options.idle_timeout);
            serve_tcp(&listener, log, idle, shutdown)?;
        }
        Transport::Udp => {
            let socket = bind_udp(&options.endpoint)?;
            serve_udp(&socket, log, &shutdown)?;
        }
    }
    Ok(ExitCode::SUCCESS)
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

/// The UDP server socket: socket, bind. No listen, no accept.
pub fn bind_udp(endpoint: &Endpoint) -> Result<UdpSocket> {
    let address = endpoint.bind_address()?;
    // socket(AF_INET/AF_INET6, SOCK_DGRAM): a UDP socket.
    let socket = net::udp_socket(address)?;
    // bind(): the server's well-known port; every client's datagrams arrive here.
    net::bind(&socket, address)?;
    let socket = UdpSocket::from(socket);
    // setsockopt(IP_PKTINFO): learn each datagram's destination, to reply from it.
    datagram::receive_destination(&socket)?;
    net::announce(socket.local_addr()?, "udp");
    Ok(socket)
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
                "{MAX_CLIENTS} clients already: closing {peer}"
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
            Err(error) => log.warn(format_args!("cannot start a thread for {peer}: {error}")),
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
    log.line(format_args!("New client connected from {peer}"));
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
                        log.line(format_args!("Client {peer} idle too long"));
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
    log.line(format_args!("Client disconnected ({peer})"));
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
            shared
                .log
                .line(format_args!("{peer}: {}", printable(&message.text)));
        }
        shared.stats.message();
        // send(): write_all repeats send() until every byte is taken.
        if connection.write_all(&reply).is_err() || ends {
            return true;
        }
    }
    false
}

/// Answers each datagram, until shutdown. One socket serves every client.
pub fn serve_udp(socket: &UdpSocket, log: Log, shutdown: &Shutdown) -> Result<()> {
    shutdown.wake_datagram_socket(socket)?;
    let stats = Stats::default();
    let mut buffer = vec![0; 65_536];
    while !shutdown.is_requested() {
        // recvmsg(): the next datagram, who sent it, and to which of our addresses.
        let received = datagram::recv_request(socket, &mut buffer);
        if shutdown.is_requested() {
            break;
        }
        let Ok(request) = received else {
            continue;
        };
        let client = request.client;
        let length = request.length.min(crate::greeting::MAX_MESSAGE);
        let message = Message::from_datagram(&buffer[..length]);
        if !log.is_quiet() {
            log.line(format_args!("{client}: {}", printable(&message.text)));
        }
        let (reply, _) = message.reply();
        // sendmsg(): back to the sender's address, from the address it wrote to.
        if let Err(error) = datagram::send_reply(socket, &reply, &request) {
            log.warn(format_args!("cannot reply to {client}: {error}"));
        }
        stats.datagram_from(client);
    }
    stats.print_summary();
    Ok(())
}
