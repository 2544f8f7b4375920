//! The one request loop of every UDP client here: send a request, wait for its reply,
//! send again if none came in time.
//!
//! UDP promises nothing: a datagram may be lost, duplicated or held up. So a client
//! waits `timeout` for the reply and then sends again, up to `tries` times (Stevens,
//! *UNIX Network Programming* vol. 1, 3rd ed., 8.7 "Lost datagrams" and 22.5 "Adding
//! reliability to a UDP application"). Four details make that safe; each is one place
//! in [`UdpClient`]:
//!
//! - **A connected socket** (UNP 8.9 and 8.11). The socket is `connect`ed to the
//!   server. UDP's `connect` sends nothing; it makes the kernel keep only the
//!   server's datagrams and report an ICMP "port unreachable" as
//!   `ConnectionRefused`, so a server that is not running is noticed at once instead
//!   of after every timeout.
//! - **Each try is its own request** (UNP 22.5, the retransmission ambiguity). A
//!   protocol says, through [`Request`], what each try sends, built when it is sent:
//!   SNTP stamps every try with its own transmit time T1 (RFC 4330 section 5), so a
//!   resend after a loss does not measure its delay from the lost try. The loop
//!   reports when the answered try was sent ([`Answered::sent`]): a round trip
//!   measured from it leaves out the timeouts of the tries before.
//! - **A reply counts only if it answers this try** (UNP 8.8, verifying the
//!   response). A protocol that can tell (SNTP: the reply's originate timestamp is
//!   the try's T1) drops any other datagram, a late reply to an earlier try or a
//!   copy, and the loop goes on waiting for this try's reply until its timeout.
//! - **A late reply is never taken for a later message's.** The uppercase server's
//!   reply carries no sequence number, so the client tells late replies apart by the
//!   socket they reach. One socket serves message after message only while every
//!   datagram it sent was answered in time. Once a try times out, its reply may still
//!   come, at any moment: the next message then gets a fresh socket (a new port), and
//!   that late reply reaches the old, closed port, never the new one. A reply that
//!   comes twice is not taken for the next message's either: before each message,
//!   the datagrams already waiting on the kept socket are read and dropped. A copy
//!   still on its way at that moment could slip through, so once a stray datagram has
//!   been seen, that server gets a fresh socket for every message, the safe and
//!   slower way (a late copy then reaches a closed port).
//!
//! Keeping the socket is what makes piped input fast: a fresh socket for every
//! message cost five system calls (`socket`, `bind`, `setsockopt`, `connect`,
//! `close`) around the two that do the work (`send`, `recv`).
//!
//! The pinger (`lab-udp ping`) has its own loop: its pings go out on a schedule,
//! several wait for replies at once, and it waits with `poll`; this loop sends one
//! request and waits for its reply before the next (stop-and-wait).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, anyhow};
use nix::sys::socket::{MsgFlags, recv};

use crate::net;

/// The largest UDP payload (65,507 bytes over IPv4) fits: a reply is never truncated.
const REPLY_BUFFER: usize = 65_536;

/// A protocol's part in the loop: what each try sends, and which datagram answers it.
pub trait Request {
    /// What an answered request gives back.
    type Reply;
    /// What the datagrams dropped by [`answer`](Self::answer) were, for the error
    /// after the last try: "N datagrams came back {STRAY}".
    const STRAY: &'static str = "that answered none of our tries";
    /// The datagram of the try about to be sent; `sent` is the clock read just
    /// before its `send` (SNTP's transmit timestamp T1).
    fn datagram(&mut self, sent: SystemTime) -> &[u8];
    /// What a datagram that came while waiting for the latest try's reply is:
    /// `Ok(Some(reply))` that reply; `Ok(None)` not (a late reply to an earlier try,
    /// a copy): dropped, and the wait goes on; `Err` a datagram no try could be
    /// answered with (a short SNTP reply): the request fails at once.
    fn answer(&mut self, datagram: &[u8]) -> Result<Option<Self::Reply>>;
}

/// A message sent as it is on every try, answered by whatever datagram the server
/// sends back (uppercase, hi-hello, daytime and time: their replies carry no request
/// ID, so a late reply is kept out by the socket it reaches instead).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a>(pub &'a [u8]);

impl Request for Message<'_> {
    type Reply = Vec<u8>;

    fn datagram(&mut self, _sent: SystemTime) -> &[u8] {
        self.0
    }

    fn answer(&mut self, datagram: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(Some(datagram.to_vec()))
    }
}

/// A request's reply, and the client's clock around the try it answers.
#[derive(Debug)]
pub struct Answered<T> {
    /// The reply.
    pub reply: T,
    /// When the try this reply answers was sent: the clock read just before its
    /// `send`. For a protocol without a request ID (RFC 868), the latest try, the one
    /// most likely answered.
    pub sent: SystemTime,
    /// When the reply came: the clock read as soon as its `recv` returned.
    pub received: SystemTime,
}

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

/// How waiting for one try's reply, or asking one address, ended.
enum Wait<T> {
    Answered(Answered<T>),
    /// No reply to the latest try within the timeout.
    TimedOut,
    /// ICMP port unreachable: nothing listens there.
    Refused,
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
        Ok(self.ask(&mut Message(message))?.reply)
    }

    /// Sends `request` until a try is answered, trying each address of the server in
    /// turn: the reply, and when the try it answers was sent and the reply came.
    pub fn ask<R: Request>(&mut self, request: &mut R) -> Result<Answered<R::Reply>> {
        let mut failure = anyhow!("no address for the server");
        for index in 0..self.servers.len() {
            let server = self.servers[index];
            let mut strays = 0;
            failure = match self.exchange(server, request, &mut strays)? {
                Wait::Answered(answered) => {
                    // Later messages go straight to the address that answered.
                    self.servers.swap(0, index);
                    return Ok(answered);
                }
                Wait::Refused => anyhow!(
                    "connection refused by {server}: no UDP server is running there; \
                     start it first, or check --host and --port",
                    server = net::shown(server)
                ),
                Wait::TimedOut if strays == 0 => {
                    anyhow!(
                        "no reply from {server} after {} tries",
                        self.tries,
                        server = net::shown(server)
                    )
                }
                Wait::TimedOut => anyhow!(
                    "no reply from {server} after {} tries: {strays} datagrams came back {}",
                    self.tries,
                    R::STRAY,
                    server = net::shown(server)
                ),
            };
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

    /// One request to one address, with retries; counts in `strays` the datagrams
    /// that answered no try. An error is one of this machine, or a datagram the
    /// request cannot take.
    fn exchange<R: Request>(
        &mut self,
        server: SocketAddr,
        request: &mut R,
        strays: &mut usize,
    ) -> Result<Wait<R::Reply>> {
        let socket = self.socket_for(server)?;
        let mut answered_in_time = true;
        let mut outcome = Wait::TimedOut;
        for _ in 0..self.tries {
            // Read just before send(): the round trip starts here.
            let sent = SystemTime::now();
            let datagram = request.datagram(sent);
            let length = datagram.len();
            // send(): one datagram, the whole message (no need to say where: connected).
            if let Err(error) = socket.send(datagram) {
                outcome = match error.kind() {
                    ErrorKind::ConnectionRefused => Wait::Refused,
                    _ => return Err(net::send_error(&error, server, length)),
                };
                break;
            }
            outcome = self.wait_for_reply(&socket, server, request, sent, strays)?;
            if !matches!(outcome, Wait::TimedOut) {
                break;
            }
            // This try's reply may still come: not on this socket's next message.
            answered_in_time = false;
        }
        if answered_in_time && *strays == 0 && !self.stray_seen {
            if let Wait::Answered(_) = outcome {
                self.socket = Some((server, socket));
            }
        }
        // Otherwise close(): the socket is dropped here, and the next message gets a new one.
        Ok(outcome)
    }

    /// Waits up to the timeout for the reply to the try sent at `sent`, dropping
    /// (and counting in `strays`) the datagrams that do not answer it.
    fn wait_for_reply<R: Request>(
        &mut self,
        socket: &UdpSocket,
        server: SocketAddr,
        request: &mut R,
        sent: SystemTime,
        strays: &mut usize,
    ) -> Result<Wait<R::Reply>> {
        let deadline = Instant::now() + self.timeout;
        if *strays > 0 {
            // setsockopt(SO_RCVTIMEO): a stray cut the last wait short; this one is whole.
            socket.set_read_timeout(Some(self.timeout))?;
        }
        loop {
            // recv(): the next datagram, whole, or a timeout (`WouldBlock` on Unix).
            let length = match socket.recv(&mut self.reply) {
                Ok(length) => length,
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(Wait::TimedOut);
                }
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                    return Ok(Wait::Refused);
                }
                Err(error) => {
                    return Err(anyhow!(
                        "cannot receive from {server}: {error}",
                        server = net::shown(server)
                    ));
                }
            };
            let received = SystemTime::now();
            if let Some(reply) = request.answer(&self.reply[..length])? {
                return Ok(Wait::Answered(Answered {
                    reply,
                    sent,
                    received,
                }));
            }
            // Not this try's reply: dropped, and the wait goes on for what is left
            // of this try's timeout, no longer.
            *strays += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Wait::TimedOut);
            }
            socket.set_read_timeout(Some(left))?;
        }
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
        // setsockopt(SO_RCVTIMEO): how long each recv() waits.
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
    use crate::testkit::stand_in_udp_socket;
    use std::thread;

    #[test]
    fn tries_each_address_of_the_server_until_one_answers() {
        let dead = crate::testkit::Refusing::new();
        let dead_address = dead.address();
        let live = UdpSocket::bind("127.0.0.1:0").unwrap();
        let live_address = live.local_addr().unwrap();
        let answering = thread::spawn(move || {
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
        answering.join().unwrap();
    }

    /// A request like SNTP's: each try carries its own number, and the reply echoes
    /// it; a reply of `!` is one no try can be answered with.
    #[derive(Default)]
    struct Numbered {
        tries: u8,
        datagram: [u8; 1],
    }

    impl Request for Numbered {
        type Reply = u8;
        const STRAY: &'static str = "numbered for another try";

        fn datagram(&mut self, _sent: SystemTime) -> &[u8] {
            self.tries += 1;
            self.datagram = [self.tries];
            &self.datagram
        }

        fn answer(&mut self, datagram: &[u8]) -> Result<Option<u8>> {
            match datagram {
                b"!" => Err(anyhow!("a reply no try can have")),
                &[number] => Ok((number == self.tries).then_some(number)),
                _ => Ok(None),
            }
        }
    }

    #[test]
    fn a_late_reply_to_an_earlier_try_is_dropped_and_the_wait_goes_on() {
        let (server, address) = stand_in_udp_socket();
        let answering = thread::spawn(move || {
            let mut buffer = [0; 16];
            let (_, client) = server.recv_from(&mut buffer).unwrap(); // try 1: lost reply
            let first_came = SystemTime::now();
            server.recv_from(&mut buffer).unwrap(); // try 2
            // Try 1's reply, held up on the way, comes just before try 2's.
            server.send_to(&[1], client).unwrap();
            server.send_to(&[2], client).unwrap();
            first_came
        });
        let mut client = UdpClient::new(vec![address], Duration::from_millis(300), 3);
        let answered = client.ask(&mut Numbered::default()).unwrap();
        let first_came = answering.join().unwrap();
        assert_eq!(
            answered.reply, 2,
            "the reply to the try answered, not the late one"
        );
        assert!(
            answered.sent > first_came,
            "the send time is the answered try's, after try 1 reached the server"
        );
        assert!(answered.received >= answered.sent);
    }

    #[test]
    fn replies_to_no_try_end_in_an_error_that_counts_them() {
        let (server, address) = stand_in_udp_socket();
        let answering = thread::spawn(move || {
            let mut buffer = [0; 16];
            for _ in 0..2 {
                let (_, client) = server.recv_from(&mut buffer).unwrap();
                server.send_to(&[9], client).unwrap();
            }
        });
        let mut client = UdpClient::new(vec![address], Duration::from_millis(200), 2);
        let error = client.ask(&mut Numbered::default()).unwrap_err();
        answering.join().unwrap();
        assert_eq!(
            error.to_string(),
            format!(
                "no reply from {address} after 2 tries: 2 datagrams came back numbered for \
                 another try"
            )
        );
    }

    #[test]
    fn a_reply_the_request_cannot_take_is_an_error_at_once_not_a_stray() {
        let (server, address) = stand_in_udp_socket();
        let answering = thread::spawn(move || {
            let mut buffer = [0; 16];
            let (_, client) = server.recv_from(&mut buffer).unwrap();
            server.send_to(b"!", client).unwrap();
        });
        // Taken for a stray, the one try would end after its 10 s as "no reply".
        let mut client = UdpClient::new(vec![address], Duration::from_secs(10), 1);
        let error = client.ask(&mut Numbered::default()).unwrap_err();
        answering.join().unwrap();
        assert_eq!(error.to_string(), "a reply no try can have");
    }
}
