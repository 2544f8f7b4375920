//! The UDP uppercase server: one socket answers every client, datagram by datagram.
//!
//! Compare with the course's UDPServer.py: `socket(AF_INET, SOCK_DGRAM)`, `bind`,
//! then `recvfrom` / `sendto` forever. There is no `listen` and no `accept`: UDP has
//! no connections, so every datagram carries its sender's address and the reply is
//! sent back to that address. Where the Python server calls `recvfrom`/`sendto`, this
//! one calls their general forms `recvmsg`/`sendmsg`, to also learn which of the host's
//! addresses the datagram was sent to and answer from it (see `common::datagram`).
//!
//! With `--loss` and `--delay` (see `netem.rs` and `delay_line.rs`) the server also plays a bad network,
//! as the Kurose & Ross UDPPingerServer does: some replies are dropped, others sent late.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;

use anyhow::Result;
use common::datagram::{self, Request};
use common::net;
use common::report::{Log, Stats, printable};
use common::shutdown::Shutdown;
use common::upper;

use crate::Endpoint;
use crate::delay_line::{self, DelayLine};
use crate::netem::{self, Fate, Netem};

/// Command-line options of `lab-udp server`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Stop the server when a client sends `quit` (the CPE 314 variant)
    #[arg(long)]
    exit_on_quit: bool,
    /// Print only the listening line, errors and the shutdown summary
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    netem: netem::NetemOptions,
}

/// Larger than any UDP payload (65,507 bytes over IPv4), so `recvmsg` never
/// truncates a datagram. (Python's `recvfrom(2048)` silently drops the rest.)
const DATAGRAM_BUFFER: usize = 65_536;

/// `lab-udp server`: bind, then serve until Ctrl-C / SIGTERM (or `quit`).
pub fn run(options: &Options) -> Result<ExitCode> {
    let shutdown = Shutdown::on_signals()?;
    let netem = Netem::from_options(&options.netem)?;
    let socket = bind(&options.endpoint)?;
    let log = Log::new(options.quiet);
    if netem.is_active() {
        log.line(&netem);
    }
    serve(&socket, options.exit_on_quit, netem, log, &shutdown)?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the server's socket and binds it, then prints the listening line.
pub fn bind(endpoint: &Endpoint) -> Result<UdpSocket> {
    let address = endpoint.bind_address()?;
    // socket(): a datagram socket (SOCK_DGRAM) for IPv4 or IPv6, as the address is.
    let socket = net::udp_socket(address)?;
    // bind(): claim the port, so datagrams sent to it arrive at this socket.
    net::bind(&socket, address)?;
    let socket = UdpSocket::from(socket);
    // setsockopt(IP_PKTINFO): have recvmsg say which of our addresses each datagram
    // was sent to, so the reply can come from that address (UNP 22.2).
    datagram::receive_destination(&socket)?;
    net::announce(socket.local_addr()?, "udp");
    Ok(socket)
}

/// Answers datagrams until a shutdown is requested (or `quit`, with `exit_on_quit`),
/// each reply dropped or delayed as `netem` decides.
pub fn serve(
    socket: &UdpSocket,
    exit_on_quit: bool,
    netem: Netem,
    log: Log,
    shutdown: &Shutdown,
) -> Result<()> {
    shutdown.wake_datagram_socket(socket)?;
    let stats = Stats::default();
    let mut replies = Replies {
        socket,
        netem,
        delay_line: None,
        log,
        stats: &stats,
    };
    if replies.netem.delays_replies() {
        let send_late = |reply: Reply| reply.send(socket, log, &stats);
        delay_line::with_delay_line(send_late, |delay_line| {
            let mut replies = Replies {
                delay_line: Some(delay_line),
                ..replies
            };
            answer(socket, exit_on_quit, &mut replies, shutdown)
        })??;
    } else {
        answer(socket, exit_on_quit, &mut replies, shutdown)?;
    }
    // close(): the socket is closed when the caller drops it.
    stats.print_summary();
    Ok(())
}

/// The receive loop: each datagram gets its reply, unless `netem` drops it.
fn answer(
    socket: &UdpSocket,
    exit_on_quit: bool,
    replies: &mut Replies<'_>,
    shutdown: &Shutdown,
) -> Result<()> {
    let log = replies.log;
    let largest_reply = net::max_udp_payload(socket.local_addr()?);
    let mut buffer = vec![0; DATAGRAM_BUFFER];
    // Checked before each wait too: a request may come before the socket was registered.
    while !shutdown.is_requested() {
        // recvmsg(): wait for the next datagram from anyone; learn who sent it, and to
        // which of our addresses (a host may have several).
        let received = datagram::recv_request(socket, &mut buffer);
        if shutdown.is_requested() {
            break;
        }
        let request = match received {
            Ok(request) => request,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => {
                // E.g. an ICMP error about an earlier reply: nothing to answer, go on.
                log.warn(format_args!("recvfrom failed: {error}"));
                continue;
            }
        };
        let client = request.client;
        let message = &buffer[..request.length];
        if !log.is_quiet() {
            log.line(format_args!(
                "{client}: {}",
                printable(message),
                client = net::shown(client)
            ));
        }
        if exit_on_quit && is_quit(message) {
            log.line("Terminate server ...");
            break;
        }
        replies.dispatch(Reply {
            datagram: uppercase_reply(message, largest_reply, log),
            request,
        });
    }
    Ok(())
}

/// A reply on its way back to the client that sent the datagram.
#[derive(Debug)]
struct Reply {
    datagram: Vec<u8>,
    /// The request it answers: who sent it (the reply goes there), and to which of our
    /// addresses (the reply leaves from it).
    request: Request,
}

impl Reply {
    /// Sends the reply now (from the receive loop, or from the delay line's thread).
    fn send(self, socket: &UdpSocket, log: Log, stats: &Stats) {
        let client = self.request.client;
        // sendmsg(): the reply goes back to the address the datagram came from, sent
        // from the address it went to: a client's connected socket accepts only that.
        if let Err(error) = datagram::send_reply(socket, &self.datagram, &self.request) {
            log.warn(format_args!(
                "cannot reply to {client}: {error}",
                client = net::shown(client)
            ));
        }
        stats.datagram_from(client);
    }
}

/// Where each reply goes: out at once, into the delay line, or nowhere (a simulated loss).
struct Replies<'a> {
    socket: &'a UdpSocket,
    netem: Netem,
    /// Present when `--delay` is given.
    delay_line: Option<&'a DelayLine<Reply>>,
    log: Log,
    stats: &'a Stats,
}

impl Replies<'_> {
    fn dispatch(&mut self, reply: Reply) {
        let (client, log, stats) = (reply.request.client, self.log, self.stats);
        match (self.netem.next_fate(), self.delay_line) {
            (Fate::Dropped, _) => dropped(client, "simulated loss", log, stats),
            (Fate::SentAfter(delay), Some(line)) if !delay.is_zero() => {
                if line.hold(delay, reply).is_err() {
                    dropped(client, "delay queue full", log, stats);
                }
            }
            (Fate::SentAfter(_), _) => reply.send(self.socket, log, stats),
        }
    }
}

/// A reply not sent, on purpose: logged as `dropped` and counted in the summary.
fn dropped(client: SocketAddr, why: &str, log: Log, stats: &Stats) {
    log.line(format_args!(
        "{client}: dropped ({why})",
        client = net::shown(client)
    ));
    stats.datagram_dropped();
}

/// `quit`, optionally with a newline: the CPE 314 client's way to stop the server.
fn is_quit(message: &[u8]) -> bool {
    matches!(message, b"quit" | b"quit\n" | b"quit\r\n")
}

/// The uppercase of `message`, or, if that would not fit in one datagram (uppercasing
/// can lengthen text: `ŉ` -> `ʼN`), its ASCII-only uppercase, which keeps its length.
fn uppercase_reply(message: &[u8], largest_reply: usize, log: Log) -> Vec<u8> {
    let reply = upper::uppercase(message);
    if reply.len() <= largest_reply {
        return reply;
    }
    log.warn(format_args!(
        "the uppercase of a {}-byte datagram is {} bytes, more than fits in a datagram: \
         answering with ASCII letters uppercased only",
        message.len(),
        reply.len()
    ));
    upper::ascii_uppercase(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quit_forms() {
        assert!(is_quit(b"quit") && is_quit(b"quit\n") && is_quit(b"quit\r\n"));
        assert!(!is_quit(b"quit it") && !is_quit(b"QUIT"));
    }

    #[test]
    fn too_long_uppercase_falls_back_to_ascii() {
        let message = "ŉ".repeat(30_000);
        let reply = uppercase_reply(message.as_bytes(), 65_507, Log::new(true));
        assert_eq!(reply, message.as_bytes());
        assert_eq!(uppercase_reply(b"ab", 65_507, Log::new(true)), b"AB");
    }
}
