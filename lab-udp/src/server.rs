//! The UDP uppercase server: one socket answers every client, datagram by datagram.
//!
//! Read it beside `examples/udp_server.rs`, Kurose & Ross's UDPServer.py in Rust: the
//! same steps, `socket`, `bind`, then receive, uppercase and reply to the sender, in
//! [`answer`]'s loop. There is no `listen` and no `accept`: UDP has no connections, so
//! every datagram carries its sender's address and the reply is sent back to it.
//!
//! Where the slides call `recvfrom` and `sendto`, this server calls their general
//! forms, `recvmsg` and `sendmsg` (`common::datagram`), for one reason: on a host with
//! several addresses, a server bound to all of them (`--host 0.0.0.0`) must answer each
//! datagram from the address it was sent to, or a client that checks where its reply
//! came from (a connected UDP socket, as ours is) drops it (Stevens, UNP 22.2).
//! `recvmsg` tells which address that was; `sendmsg` names it as the reply's source.
//!
//! What the slides' server lacks, and this one adds: a 64 KiB buffer (no datagram is
//! cut short), bytes that are not UTF-8 passed through (no crash), a stop on Ctrl-C.
//! With `--loss` and `--delay` the replies also take a bad network on purpose, as the
//! Kurose & Ross UDPPingerServer does: that is `lossy_path.rs`, outside the loop.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::process::ExitCode;

use anyhow::Result;
use common::datagram::{self, Request};
use common::net;
use common::report::{Log, Stats, printable};
use common::shutdown::Shutdown;
use common::upper;

use crate::Endpoint;
use crate::delay_line;
use crate::lossy_path::LossyPath;
use crate::netem::{self, Netem};

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
    if netem.delays_replies() {
        // The delay line's thread sends each held reply when its time comes.
        let send_late = |reply: Reply| reply.send(socket, log, &stats);
        delay_line::with_delay_line(send_late, |delay_line| {
            let mut path = LossyPath::new(netem, Some(delay_line), log, &stats);
            answer(socket, exit_on_quit, &mut path, &stats, shutdown)
        })??;
    } else {
        let mut path = LossyPath::new(netem, None, log, &stats);
        answer(socket, exit_on_quit, &mut path, &stats, shutdown)?;
    }
    // close(): the socket is closed when the caller drops it.
    stats.print_summary();
    Ok(())
}

/// The slides' loop: receive a datagram, uppercase it, send it back to its sender.
fn answer(
    socket: &UdpSocket,
    exit_on_quit: bool,
    path: &mut LossyPath<'_>,
    stats: &Stats,
    shutdown: &Shutdown,
) -> Result<()> {
    let log = path.log();
    let mut buffer = vec![0; DATAGRAM_BUFFER];
    // Checked before each wait too: a request may come before the socket was registered.
    while !shutdown.is_requested() {
        // recvfrom(), as recvmsg(): wait for the next datagram from anyone; learn who
        // sent it, and to which of our addresses (a host may have several).
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
        let message = &buffer[..request.length];
        if !log.is_quiet() {
            log.line(format_args!(
                "{client}: {}",
                printable(message),
                client = net::shown(request.client)
            ));
        }
        if exit_on_quit && is_quit(message) {
            log.line("Terminate server ...");
            break;
        }
        // upper(): bytes that are not UTF-8 pass through, where Python's decode() raises.
        // The reply's limit is the client's family: IPv4 for an IPv4 client of `::`.
        let reply = Reply {
            datagram: uppercase_reply(message, net::max_udp_payload(request.client), log),
            request,
        };
        // --loss and --delay (lossy_path.rs): the reply may be dropped, or held back
        // and sent later by the delay line.
        if let Some(reply) = path.pass(reply) {
            reply.send(socket, log, stats);
        }
    }
    Ok(())
}

/// A reply on its way back to the client that sent the datagram.
#[derive(Debug)]
pub struct Reply {
    datagram: Vec<u8>,
    /// The request it answers: who sent it (the reply goes there), and to which of our
    /// addresses (the reply leaves from it).
    pub request: Request,
}

impl Reply {
    /// Sends the reply now (from the receive loop, or from the delay line's thread).
    fn send(self, socket: &UdpSocket, log: Log, stats: &Stats) {
        let client = self.request.client;
        // sendto(), as sendmsg(): the reply goes back to the address the datagram came
        // from, sent from the address it went to: a client's connected socket accepts
        // only that. A reply that could not be sent is not counted as answered.
        if datagram::reply_or_warn(socket, &self.datagram, &self.request, log) {
            stats.datagram_from(client);
        }
    }
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

    #[test]
    fn a_reply_that_cannot_be_sent_is_not_counted_as_answered() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = net::udp_connected(server.local_addr().unwrap()).unwrap();
        client.send(b"hi").unwrap();
        let request = datagram::recv_request(&server, &mut [0; 16]).unwrap();
        let stats = Stats::default();
        // Longer than any IPv4 datagram: sendmsg fails (EMSGSIZE).
        let reply = Reply {
            datagram: vec![b'X'; 70_000],
            request,
        };
        reply.send(&server, Log::new(true), &stats);
        assert_eq!((stats.clients(), stats.messages()), (0, 0));
    }
}
