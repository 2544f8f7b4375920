//! Asking a UDP server and waiting for its reply, safely.
//!
//! UDP promises nothing: a datagram may be lost, so the client waits `timeout` for
//! the reply and sends again, up to `tries` times. Three details make that safe:
//!
//! - The socket is `connect`ed to the server. UDP's `connect` sends nothing; it makes
//!   the kernel keep only the server's datagrams and report an ICMP "port
//!   unreachable" as `ConnectionRefused`, so a server that is not running is noticed
//!   at once instead of after every timeout.
//! - A late reply is never taken for the reply to a later message. The uppercase
//!   server's reply carries no sequence number, so the client tells late replies apart
//!   by the socket they reach. One socket serves message after message only while
//!   every datagram it sent was answered in time. Once a try times out, its reply may
//!   still come, at any moment: the next message then gets a fresh socket (a new
//!   port), and that late reply reaches the old, closed port, never the new one.
//! - A reply that comes twice (the network may duplicate a datagram; a faulty server
//!   may answer twice) is not taken for the next message's reply either: before each
//!   message, the datagrams already waiting on the kept socket are read and dropped.
//!   A copy still on its way at that moment could slip through, so once a stray
//!   datagram has been seen, that server gets a fresh socket for every message, the
//!   safe and slower way (a late copy then reaches a closed port).
//!
//! Keeping the socket is what makes piped input fast: a fresh socket for every
//! message cost five system calls (`socket`, `bind`, `setsockopt`, `connect`,
//! `close`) around the two that do the work (`send`, `recv`).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow};
use nix::sys::socket::{MsgFlags, recv};

use crate::net;

/// The largest UDP payload (65,507 bytes over IPv4) fits: a reply is never truncated.
const REPLY_BUFFER: usize = 65_536;

/// A UDP client of one server, which may have several addresses.
#[derive(Debug)]
pub struct UdpClient {
    /// The server's addresses; the first one that answered is moved to the front.
    pub servers: Vec<SocketAddr>,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// How many times a message is sent at most (retries + 1).
    pub tries: u32,
    /// The socket for the next message and the address it is connected to, kept
    /// while no reply to an earlier message can reach it.
    socket: Option<(SocketAddr, UdpSocket)>,
    /// A datagram nobody asked for has come: sockets are no longer kept.
    stray_seen: bool,
    reply: Vec<u8>,
}

/// Why one server address did not answer.
enum Failure {
    /// ICMP port unreachable: nothing listens there.
    Refused,
    /// Every try timed out.
    NoReply,
}

impl UdpClient {
    /// A client of the server at `servers` (its addresses, tried in order) that
    /// waits `timeout` for each reply and sends each message at most `tries` times.
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration, tries: u32) -> Self {
        UdpClient {
            servers,
            timeout,
            tries,
            socket: None,
            stray_seen: false,
            reply: vec![0; REPLY_BUFFER],
        }
    }

    /// Sends `message` and returns its reply, trying each address of the server in turn.
    pub fn request(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        Ok(self.timed_request(message)?.0)
    }

    /// [`request`](Self::request), and when the try that was answered was sent: the
    /// clock read just before its `send`, the send the reply most likely answers (a
    /// protocol without a request ID, such as RFC 868's, cannot tell). A round trip
    /// measured from it leaves out the timeouts of the tries before (Cristian's
    /// algorithm, the time client).
    pub fn timed_request(&mut self, message: &[u8]) -> Result<(Vec<u8>, SystemTime)> {
        let mut failure = anyhow!("no address for the server");
        for index in 0..self.servers.len() {
            let server = self.servers[index];
            match self.exchange(server, message)? {
                Ok((length, sent)) => {
                    // Later messages go straight to the address that answered.
                    self.servers.swap(0, index);
                    return Ok((self.reply[..length].to_vec(), sent));
                }
                Err(Failure::Refused) => {
                    failure = anyhow!(
                        "connection refused by {server}: no UDP server is running there; \
                         start it first, or check --host and --port",
                        server = net::shown(server)
                    );
                }
                Err(Failure::NoReply) => {
                    failure = anyhow!(
                        "no reply from {server} after {} tries",
                        self.tries,
                        server = net::shown(server)
                    );
                }
            }
        }
        Err(failure)
    }

    /// Sends `message` once to the server and does not wait (the client's `quit`).
    pub fn send_without_reply(&mut self, message: &[u8]) -> Result<()> {
        let socket = self.socket_for(self.servers[0])?;
        // A lost or refused quit changes nothing for the client: it ends either way.
        // The socket is not kept: the reply we do not wait for could still come.
        let _ = socket.send(message);
        Ok(())
    }

    /// One message to one address, with retries: the length of the reply, now in
    /// `self.reply`, and when the answered try was sent. The outer `Result` is an
    /// error of this machine; the inner one says how the server failed to answer.
    fn exchange(
        &mut self,
        server: SocketAddr,
        message: &[u8],
    ) -> Result<Result<(usize, SystemTime), Failure>> {
        let socket = self.socket_for(server)?;
        let mut answered_in_time = true;
        let mut outcome = Ok(Err(Failure::NoReply));
        for _ in 0..self.tries {
            let sent = SystemTime::now();
            // send(): one datagram, the whole message (no need to say where: connected).
            if let Err(error) = socket.send(message) {
                outcome = match error.kind() {
                    ErrorKind::ConnectionRefused => Ok(Err(Failure::Refused)),
                    _ => Err(net::send_error(&error, server, message.len())),
                };
                break;
            }
            // recv(): the reply, whole, or a timeout (`WouldBlock` on Unix).
            match socket.recv(&mut self.reply) {
                Ok(length) => {
                    outcome = Ok(Ok((length, sent)));
                    break;
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    // This try's reply may still come: not on this socket's next message.
                    answered_in_time = false;
                }
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                    outcome = Ok(Err(Failure::Refused));
                    break;
                }
                Err(error) => {
                    outcome = Err(anyhow!(
                        "cannot receive from {server}: {error}",
                        server = net::shown(server)
                    ));
                    break;
                }
            }
        }
        if answered_in_time && !self.stray_seen && matches!(outcome, Ok(Ok(_))) {
            self.socket = Some((server, socket));
        }
        // Otherwise close(): the socket is dropped here, and the next message gets a new one.
        outcome
    }

    /// The kept socket if it is connected to `server` and holds no stray datagram,
    /// or a fresh one.
    fn socket_for(&mut self, server: SocketAddr) -> Result<UdpSocket> {
        if let Some((connected_to, socket)) = self.socket.take() {
            if connected_to == server && !has_stray_datagrams(&socket, &mut self.reply) {
                return Ok(socket);
            }
            self.stray_seen |= connected_to == server;
        }
        // socket() + connect(): a new socket, on a new port, for this server only.
        let socket = net::udp_connected(server)?;
        socket.set_read_timeout(Some(self.timeout))?;
        Ok(socket)
    }
}

/// Reads and drops every datagram already waiting on `socket`, without waiting for
/// more; says whether there was any. Every message on a kept socket got its one
/// reply, so anything still there is a copy nobody asked for.
fn has_stray_datagrams(socket: &UdpSocket, buffer: &mut [u8]) -> bool {
    let mut strays = false;
    // recv() with MSG_DONTWAIT: what is waiting, or at once `WouldBlock`.
    while recv(socket.as_raw_fd(), buffer, MsgFlags::MSG_DONTWAIT).is_ok() {
        strays = true;
    }
    strays
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::spawn_bounded;

    #[test]
    fn tries_each_address_of_the_server_until_one_answers() {
        let dead = crate::testkit::Refusing::new();
        let dead_address = dead.address();
        let live = UdpSocket::bind("127.0.0.1:0").unwrap();
        let live_address = live.local_addr().unwrap();
        let answering = spawn_bounded(move || {
            live.set_read_timeout(Some(crate::testkit::WAIT)).unwrap();
            let mut buffer = [0; 16];
            let (length, from) = live.recv_from(&mut buffer).unwrap();
            live.send_to(&buffer[..length].to_ascii_uppercase(), from)
                .unwrap();
        });
        let mut client =
            UdpClient::new(vec![dead_address, live_address], Duration::from_secs(2), 2);
        assert_eq!(client.request(b"x").unwrap(), b"X");
        assert_eq!(
            client.servers[0], live_address,
            "the address that answered comes first"
        );
        answering.join();
    }

    #[test]
    fn a_timed_request_gives_the_send_time_of_the_try_answered() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let answering = spawn_bounded(move || {
            server.set_read_timeout(Some(crate::testkit::WAIT)).unwrap();
            let mut buffer = [0; 16];
            server.recv_from(&mut buffer).unwrap(); // the first try, lost
            let (length, from) = server.recv_from(&mut buffer).unwrap();
            server.send_to(&buffer[..length], from).unwrap();
        });
        let timeout = Duration::from_millis(300);
        let mut client = UdpClient::new(vec![address], timeout, 3);
        let started = SystemTime::now();
        let (reply, sent) = client.timed_request(b"t").unwrap();
        let received = SystemTime::now();
        answering.join();
        assert_eq!(reply, b"t");
        // The second try's send: after the first try's timeout, not before it.
        assert!(sent >= started + timeout, "{sent:?} vs {started:?}");
        assert!(sent <= received);
    }
}
