//! The pinger's event loop and its socket calls: one socket `connect`ed to the server,
//! `send` for each ping, `poll` until the next thing to do, and `recv` for each reply.
//! What to do when (the schedule, the deadlines, which ping a reply answers) is asked
//! of [`Pings`].
//!
//! Not the shared request loop of the other UDP clients (`common/src/udp_client.rs`):
//! that one is stop-and-wait, one request waiting for its reply before the next, while
//! the pinger's pings go out on a schedule whether or not replies came, several wait
//! at once, each with its own deadline.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use common::report::printable;
use common::{net, outln};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{MsgFlags, recv};

use super::pings::{Pings, Reply};
use super::{Settings, Tally, lock};

/// Larger than any UDP payload: a reply is never cut short.
const REPLY_BUFFER: usize = 65_536;

/// Pings the server, trying its addresses in turn until one does not refuse (ICMP port
/// unreachable); each line is printed as it happens, the numbers kept in `tally`.
pub fn ping(servers: &[SocketAddr], settings: Settings, tally: &Mutex<Tally>) -> Result<()> {
    let mut refused = anyhow!("no address to ping");
    for &server in servers {
        *lock(tally) = Tally::new(server);
        match Pinger::new(server, settings, tally)?.run()? {
            Outcome::Done => return Ok(()),
            Outcome::Refused => {
                refused = anyhow!(
                    "connection refused by {server}: no UDP server is running there; \
                     start it first, or check --host and --port",
                    server = net::shown(server)
                );
            }
        }
    }
    Err(refused)
}

/// How a run against one address ended.
enum Outcome {
    Done,
    /// Refused before anything was heard: nothing listens at that address.
    Refused,
}

/// The pinger's socket and the pings sent on it.
struct Pinger<'a> {
    socket: UdpSocket,
    server: SocketAddr,
    pings: Pings,
    /// Has any line about a ping been printed (so a refusal is not "nothing listens")?
    printed: bool,
    tally: &'a Mutex<Tally>,
}

impl<'a> Pinger<'a> {
    fn new(server: SocketAddr, settings: Settings, tally: &'a Mutex<Tally>) -> Result<Self> {
        // socket() + connect(): UDP's connect sends nothing; the kernel then keeps only
        // the server's datagrams for us and reports ICMP port unreachable as
        // ConnectionRefused.
        let socket = net::udp_connected(server)?;
        Ok(Pinger {
            socket,
            server,
            pings: Pings::new(settings),
            printed: false,
            tally,
        })
    }

    /// The event loop: send each ping on time, time out each ping at its deadline, and
    /// in between wait for replies. Ends when every ping is sent and none is waiting;
    /// the socket is closed (close()) when the `Pinger` is dropped.
    fn run(&mut self) -> Result<Outcome> {
        let mut reply = vec![0; REPLY_BUFFER];
        loop {
            let now = Instant::now();
            self.expire(now);
            let next_send = self.pings.next_send(now);
            if next_send.is_some_and(|at| at <= now) {
                if !self.send_next(&mut reply)? {
                    return Ok(Outcome::Refused);
                }
                continue;
            }
            let Some(until) = [next_send, self.pings.next_deadline()]
                .into_iter()
                .flatten()
                .min()
            else {
                return Ok(Outcome::Done);
            };
            if !self.wait_for_datagram(until.saturating_duration_since(now))? {
                continue;
            }
            match self.recv_now(&mut reply) {
                Ok(length) => self.on_datagram(&reply[..length]),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                    if self.nothing_listens(&mut reply)? {
                        return Ok(Outcome::Refused);
                    }
                }
                Err(error) => {
                    return Err(anyhow!(
                        "cannot receive from {}: {error}",
                        net::shown(self.server)
                    ));
                }
            }
        }
    }

    /// Waits up to `wait` (the next thing to do) for a datagram or an error to be
    /// queued on the socket; `false` if the time ran out first.
    fn wait_for_datagram(&self, wait: Duration) -> Result<bool> {
        // poll(), not recv() with a timeout (setsockopt SO_RCVTIMEO): the kernel ends
        // SO_RCVTIMEO's wait on its coarse timer wheel, up to tens of milliseconds late
        // (24 ms on a 1 s wait), poll's on a high-resolution timer. poll counts in
        // milliseconds: rounded up, so the wait never ends before the thing to do.
        let millis = wait.as_micros().div_ceil(1000);
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
        let mut watched = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut watched, timeout) {
            Ok(ready) => Ok(ready > 0),
            // A signal interrupted the wait: the loop works out what is due.
            Err(Errno::EINTR) => Ok(false),
            Err(error) => Err(anyhow!(
                "cannot wait for replies from {}: {error}",
                net::shown(self.server)
            )),
        }
    }

    /// recv(MSG_DONTWAIT): takes a datagram already queued, or fails with `WouldBlock`
    /// at once (a datagram poll saw can still be dropped, for a bad checksum), or with
    /// `ConnectionRefused` for an ICMP port unreachable.
    fn recv_now(&self, buffer: &mut [u8]) -> std::io::Result<usize> {
        recv(self.socket.as_raw_fd(), buffer, MsgFlags::MSG_DONTWAIT).map_err(Into::into)
    }

    /// Sends the next ping, `Ping SEQ TIME` (TIME: seconds since the Unix epoch, as
    /// the assignment asks; the RTT itself is measured on the monotonic clock).
    /// `false` if nothing listens at the address (it refused before anything was heard).
    /// `buffer` is the loop's, for the replies queued ahead of a refusal.
    fn send_next(&mut self, buffer: &mut [u8]) -> Result<bool> {
        let seq = self.pings.next_seq();
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let ping = format!(
            "Ping {seq} {}.{:06}",
            since_epoch.as_secs(),
            since_epoch.subsec_micros()
        );
        // The RTT runs from just before the send, as in ping(8).
        let mut at = Instant::now();
        // send(): one datagram per ping (no address needed: the socket is connected).
        // A pending ICMP error from an earlier ping fails this send; then send again.
        let mut result = self.socket.send(ping.as_bytes());
        if result
            .as_ref()
            .is_err_and(|error| error.kind() == ErrorKind::ConnectionRefused)
        {
            if self.nothing_listens(buffer)? {
                return Ok(false);
            }
            at = Instant::now();
            result = self.socket.send(ping.as_bytes());
        }
        result.with_context(|| format!("cannot send to {}", net::shown(self.server)))?;
        self.pings.sent(&ping, at);
        lock(self.tally).sent();
        Ok(true)
    }

    /// Times out, and reports, every ping whose deadline has passed by `now`.
    fn expire(&mut self, now: Instant) {
        for seq in self.pings.expire(now) {
            self.print(&format!("Request timed out (seq={seq})"));
        }
    }

    /// A datagram just received: the pings past their deadline time out first, then it
    /// is matched to its ping and reported.
    fn on_datagram(&mut self, datagram: &[u8]) {
        let received_at = Instant::now();
        self.expire(received_at);
        match self.pings.take_reply(datagram, received_at) {
            Reply::InTime { seq, rtt } => {
                let mut tally = lock(self.tally);
                tally.received_after(rtt);
                self.printed = true;
                outln!(
                    "reply from {}: seq={seq} time={:.3} ms",
                    net::shown(self.server),
                    rtt.as_secs_f64() * 1e3
                );
            }
            Reply::Late { seq } => self.print(&format!("late reply (seq={seq})")),
            Reply::Duplicate { seq } => self.print(&format!("duplicate reply (seq={seq})")),
            Reply::Unexpected => {
                let server = net::shown(self.server);
                self.print(&format!(
                    "unexpected reply from {server}: \"{}\" is not the uppercase of a ping sent",
                    printable(datagram)
                ));
            }
        }
    }

    /// After an ICMP port unreachable: does it mean nothing listens at this address
    /// (nothing was heard from it yet: try the next one)? If not, the server stopped
    /// midway; that is reported and the pings go on. `buffer` is the loop's.
    fn nothing_listens(&mut self, buffer: &mut [u8]) -> Result<bool> {
        // Linux reports the refusal (a pending socket error) before the replies queued
        // ahead of it: those were heard, and are taken first.
        self.take_queued_replies(buffer)?;
        if !self.printed {
            return Ok(true);
        }
        let server = net::shown(self.server);
        self.print(&format!(
            "port unreachable: {server} refused a ping (has the server stopped?)"
        ));
        Ok(false)
    }

    /// Takes every datagram already waiting on the socket, without waiting for more,
    /// into `buffer` (the loop's: no second 64 KiB buffer for this rare path).
    fn take_queued_replies(&mut self, buffer: &mut [u8]) -> Result<()> {
        loop {
            match self.recv_now(buffer) {
                Ok(length) => self.on_datagram(&buffer[..length]),
                // Another refusal came meanwhile: the one being reported says it.
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::ConnectionRefused | ErrorKind::Interrupted
                    ) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) => {
                    return Err(anyhow!(
                        "cannot receive from {}: {error}",
                        net::shown(self.server)
                    ));
                }
            }
        }
    }

    /// Prints one line, under the tally's lock so a Ctrl-C summary never splits it.
    fn print(&mut self, line: &str) {
        let _tally = lock(self.tally);
        self.printed = true;
        outln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any one wait in these tests.
    const WAIT: Duration = Duration::from_secs(10);

    /// An uppercase server on a free loopback port that answers `replies` datagrams,
    /// then refuses every later one: its socket, returned by the thread, is connected
    /// to itself (Linux answers any other sender with ICMP port unreachable) and keeps
    /// the port, which a closed socket would let another test's socket take.
    fn answer_then_refuse(replies: usize) -> (SocketAddr, std::thread::JoinHandle<UdpSocket>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(WAIT)).unwrap();
        let address = socket.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut buffer = [0; 64];
            for _ in 0..replies {
                let (length, client) = socket.recv_from(&mut buffer).unwrap();
                socket
                    .send_to(&buffer[..length].to_ascii_uppercase(), client)
                    .unwrap();
            }
            socket.connect(address).unwrap();
            socket
        });
        (address, server)
    }

    fn quick(count: u32) -> Settings {
        Settings {
            count,
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn an_address_that_refuses_is_skipped_for_the_next() {
        let refusing = common::testkit::Refusing::new();
        let dead = refusing.address();
        let (live, server) = answer_then_refuse(2);
        let tally = Mutex::new(Tally::new(dead));
        ping(&[dead, live], quick(2), &tally).unwrap();
        let _refusing = server.join().unwrap();
        let tally = tally.into_inner().unwrap();
        assert_eq!((tally.transmitted(), tally.received()), (2, 2));
        assert!(
            tally
                .summary()
                .starts_with(&format!("--- {live} ping statistics"))
        );

        let error = ping(&[dead], quick(2), &tally.into()).unwrap_err();
        assert!(
            error.to_string().starts_with("connection refused by"),
            "{error}"
        );
    }

    /// Ping 1 is answered, then the server is gone: the later pings are refused or
    /// time out, and the run still ends normally. (The timeout only bounds reply 1.)
    #[test]
    fn a_server_that_stops_midway_is_reported_and_the_pings_go_on() {
        let (address, server) = answer_then_refuse(1);
        let tally = Mutex::new(Tally::new(address));
        let settings = Settings {
            timeout: Duration::from_secs(2),
            ..quick(3)
        };
        ping(&[address], settings, &tally).unwrap();
        let _refusing = server.join().unwrap();
        let tally = tally.into_inner().unwrap();
        assert_eq!((tally.transmitted(), tally.received()), (3, 1));
    }

    /// A pinger stalled for 1 s at ping 1 (the stand-in server holds the tally's lock,
    /// which the pinger takes after each send and for each reply) catches up: the
    /// pings then overdue go at once, the rest on the schedule of ping 1. Never early:
    /// ping N leaves no sooner than ping 1 + (N - 1) intervals, on the pinger's own
    /// clock (exact, whatever the machine's load). Not shifted: ping 11 leaves less
    /// than 0.6 s after its time (ping 1 + 2 s), which fails only if the pinger wakes
    /// 0.6 s late; counted from the last send, as it once was, ping 11 left 0.8 s late
    /// or more (one gap of at least 1 s, the stall, and nine of at least 0.2 s).
    #[test]
    fn a_stalled_pinger_catches_up_on_its_schedule() {
        const PINGS: u32 = 11;
        const STALL: Duration = Duration::from_secs(1);
        let interval = Duration::from_millis(200);
        let (socket, address) = {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_read_timeout(Some(WAIT)).unwrap();
            let address = socket.local_addr().unwrap();
            (socket, address)
        };
        let tally = Mutex::new(Tally::new(address));
        let settings = Settings {
            count: PINGS,
            interval,
            timeout: WAIT,
        };
        let mut pinger = Pinger::new(address, settings, &tally).unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut buffer = [0; 64];
                for seq in 1..=PINGS {
                    let (length, client) = socket.recv_from(&mut buffer).unwrap();
                    let stalled = (seq == 1).then(|| lock(&tally));
                    socket
                        .send_to(&buffer[..length].to_ascii_uppercase(), client)
                        .unwrap();
                    if stalled.is_some() {
                        std::thread::sleep(STALL);
                    }
                }
            });
            assert!(matches!(pinger.run().unwrap(), Outcome::Done));
        });
        let sent = pinger.pings.send_times();
        let first = sent[0];
        for (n, &at) in (0..).zip(&sent) {
            let due = first + interval * n;
            assert!(at >= due, "ping {} early by {:?}", n + 1, due - at);
        }
        let last = sent[PINGS as usize - 1] - first;
        let on_time = interval * (PINGS - 1);
        assert!(
            last < on_time + Duration::from_millis(600),
            "ping {PINGS} left {:?} after ping 1, not {on_time:?}: the schedule shifted",
            last
        );
        drop(pinger);
        let tally = tally.into_inner().unwrap();
        assert_eq!(
            (tally.transmitted(), tally.received()),
            (PINGS, PINGS as usize)
        );
    }

    /// Linux reports a refusal (ICMP port unreachable) before a reply queued ahead of
    /// it: that reply was still heard, so the address is not one where nothing listens.
    #[test]
    fn a_reply_queued_before_a_refusal_still_counts() {
        let (address, server) = answer_then_refuse(1);
        let tally = Mutex::new(Tally::new(address));
        let settings = Settings {
            count: 2,
            interval: Duration::ZERO,
            timeout: Duration::from_secs(2),
        };
        let mut pinger = Pinger::new(address, settings, &tally).unwrap();
        assert!(pinger.send_next(&mut vec![0; REPLY_BUFFER]).unwrap());
        // Ping 1 answered, the server now refusing; peek waits until reply 1 is
        // queued and leaves it there.
        let _refusing = server.join().unwrap();
        pinger.socket.set_read_timeout(Some(WAIT)).unwrap();
        pinger.socket.peek(&mut [0; 1]).unwrap();
        // Ping 2 goes out at once (interval 0) and is refused; the next recv reports
        // the refusal (as soon as the ICMP message is in) ahead of reply 1.
        assert!(matches!(pinger.run().unwrap(), Outcome::Done));
        let tally = tally.into_inner().unwrap();
        assert_eq!((tally.transmitted(), tally.received()), (2, 1));
    }
}
