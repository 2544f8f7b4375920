//! `lab-udp ping`: the UDP Pinger of Kurose & Ross (chapter 2, programming assignment 2).
//!
//! Sends `--count` datagrams `Ping SEQ TIME`, one every `--interval`, and waits up to
//! `--timeout` for each reply: any server that answers with the uppercase of the
//! datagram (`lab-udp server`, the course's UDPServer.py) is a pinger server. Each
//! reply's round-trip time (RTT) is printed, or `Request timed out`, then ping(8)'s
//! summary. Try it against `lab-udp server --loss 0.3 --delay 10..50`.
//!
//! The textbook's pinger waits for reply N before it sends ping N+1 and takes whatever
//! arrives as reply N. Here pings go out on time whether or not replies came, several
//! may be waiting at once, and a reply is matched to its ping by its sequence number
//! and exact text: a reply that comes after its ping timed out is reported as late,
//! never taken for a later ping's.
//!
//! The socket calls, all in [`Pinger`]: one socket `connect`ed to the server, `send`
//! for each ping, `poll` with a timeout that runs to the next thing to do (the next
//! ping's send time, or the oldest waiting ping's deadline), and a non-blocking `recv`
//! for each datagram it finds queued (after a refusal, for the replies queued ahead
//! of it).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use common::cli::{parse_seconds, parse_timeout};
use common::report::printable;
use common::{net, outln};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{MsgFlags, recv};

use crate::Endpoint;

mod summary;

pub use summary::Tally;

/// Command-line options of `lab-udp ping`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// How many pings to send
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
    /// Seconds between pings (ping N goes at ping 1's send + (N - 1) intervals)
    #[arg(short, long, value_parser = parse_seconds, default_value = "1")]
    interval: Duration,
    /// Seconds to wait for each reply
    #[arg(short = 'W', long, value_parser = parse_timeout, default_value = "1")]
    timeout: Duration,
}

/// Larger than any UDP payload: a reply is never cut short.
const REPLY_BUFFER: usize = 65_536;

/// What one run of the pinger does.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Pings to send.
    pub count: u32,
    /// Between pings: ping N is due at ping 1's send + (N - 1) intervals.
    pub interval: Duration,
    /// How long each reply is waited for.
    pub timeout: Duration,
}

/// `lab-udp ping`: ping the server, print the summary; Ctrl-C prints it early.
pub fn run(options: &Options) -> Result<ExitCode> {
    let servers = options.endpoint.resolve()?;
    let tally = Arc::new(Mutex::new(Tally::new(servers[0])));
    summary_on_ctrl_c(Arc::clone(&tally));
    let settings = Settings {
        count: options.count,
        interval: options.interval,
        timeout: options.timeout,
    };
    ping(&servers, settings, &tally)?;
    let mut tally = lock(&tally);
    if let Some(summary) = tally.summary_once() {
        outln!("{summary}");
    }
    Ok(ExitCode::from(tally.exit_status()))
}

/// As ping(8) does: Ctrl-C prints the summary so far and exits 0 if a reply came, else 1.
fn summary_on_ctrl_c(tally: Arc<Mutex<Tally>>) {
    // If no handler can be installed, Ctrl-C ends the pinger without a summary.
    let _ = ctrlc::set_handler(move || {
        // The lock waits for a line being printed, so the summary never splits one.
        let mut tally = lock(&tally);
        if let Some(summary) = tally.summary_once() {
            outln!("{summary}");
        }
        std::process::exit(tally.exit_status().into());
    });
}

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

/// One ping sent, and what became of it.
struct Sent {
    /// The reply must be exactly this (the uppercase of the ping).
    expected_reply: Vec<u8>,
    at: Instant,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Answered,
    TimedOut,
}

/// The pinger's socket and the pings sent on it.
struct Pinger<'a> {
    socket: UdpSocket,
    server: SocketAddr,
    settings: Settings,
    /// Ping `SEQ` is `sent[SEQ - 1]`.
    sent: Vec<Sent>,
    /// Pings before this index are no longer waiting.
    oldest_waiting: usize,
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
            settings,
            sent: Vec::new(),
            oldest_waiting: 0,
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
            let next_send = self.next_send(now);
            if next_send.is_some_and(|at| at <= now) {
                if !self.send_next()? {
                    return Ok(Outcome::Refused);
                }
                continue;
            }
            let Some(until) = [next_send, self.next_deadline()]
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
                    if self.nothing_listens()? {
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

    /// When the next ping is due, if one is left to send: ping 1 at once (`now`), ping N
    /// at ping 1's send time + (N - 1) × `--interval`. A fixed schedule, as ping(8)'s:
    /// a ping sent late (the wait overran, the machine was busy) does not push the
    /// later ones back, and a ping already due goes at once. (Counting from the last
    /// send instead adds every ping's lateness to all the pings after it.) With
    /// `--interval` equal to `--timeout`, ping 1 times out at the very instant ping 2
    /// is due, and is reported first (expiry comes first in the loop).
    fn next_send(&self, now: Instant) -> Option<Instant> {
        let seq = u32::try_from(self.sent.len() + 1).ok()?;
        if seq > self.settings.count {
            return None;
        }
        let Some(first) = self.sent.first() else {
            return Some(now);
        };
        // Beyond what `Instant` can count (an absurd --interval): never due, so the run
        // ends once the pings sent are answered or timed out.
        first
            .at
            .checked_add(self.settings.interval.checked_mul(seq - 1)?)
    }

    /// Sends the next ping, `Ping SEQ TIME` (TIME: seconds since the Unix epoch, as
    /// the assignment asks; the RTT itself is measured on the monotonic clock).
    /// `false` if nothing listens at the address (it refused before anything was heard).
    fn send_next(&mut self) -> Result<bool> {
        let seq = self.sent.len() + 1;
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
            if self.nothing_listens()? {
                return Ok(false);
            }
            at = Instant::now();
            result = self.socket.send(ping.as_bytes());
        }
        result.with_context(|| format!("cannot send to {}", net::shown(self.server)))?;
        self.sent.push(Sent {
            expected_reply: ping.to_uppercase().into_bytes(),
            at,
            state: State::Waiting,
        });
        lock(self.tally).sent();
        Ok(true)
    }

    /// The deadline of the oldest ping still waiting (pings go out in order, so it is
    /// the earliest).
    fn next_deadline(&self) -> Option<Instant> {
        self.sent[self.oldest_waiting..]
            .iter()
            .find(|sent| sent.state == State::Waiting)
            .map(|sent| sent.at + self.settings.timeout)
    }

    /// Times out every ping whose deadline has passed by `now`.
    fn expire(&mut self, now: Instant) {
        while let Some(sent) = self.sent.get(self.oldest_waiting) {
            if sent.state == State::Waiting {
                if sent.at + self.settings.timeout > now {
                    break;
                }
                self.sent[self.oldest_waiting].state = State::TimedOut;
                let seq = self.oldest_waiting + 1;
                self.print(&format!("Request timed out (seq={seq})"));
            }
            self.oldest_waiting += 1;
        }
    }

    /// A datagram just received: the pings past their deadline time out first, then it
    /// is matched to its ping.
    fn on_datagram(&mut self, datagram: &[u8]) {
        let received_at = Instant::now();
        self.expire(received_at);
        self.take_reply(datagram, received_at);
    }

    /// Matches a reply to its ping by sequence number and text.
    fn take_reply(&mut self, reply: &[u8], received_at: Instant) {
        let Some((seq, sent)) = reply_seq(reply)
            .and_then(|seq| Some((seq, self.sent.get_mut(seq.checked_sub(1)?)?)))
            .filter(|(_, sent)| sent.expected_reply == reply)
        else {
            let server = self.server;
            return self.print(&format!(
                "unexpected reply from {server}: \"{}\" is not the uppercase of a ping sent",
                printable(reply),
                server = net::shown(server)
            ));
        };
        match sent.state {
            State::Waiting => {
                sent.state = State::Answered;
                let rtt = received_at - sent.at;
                let mut tally = lock(self.tally);
                tally.received_after(rtt);
                self.printed = true;
                outln!(
                    "reply from {}: seq={seq} time={:.3} ms",
                    net::shown(self.server),
                    rtt.as_secs_f64() * 1e3
                );
            }
            State::TimedOut => self.print(&format!("late reply (seq={seq})")),
            State::Answered => self.print(&format!("duplicate reply (seq={seq})")),
        }
    }

    /// After an ICMP port unreachable: does it mean nothing listens at this address
    /// (nothing was heard from it yet: try the next one)? If not, the server stopped
    /// midway; that is reported and the pings go on.
    fn nothing_listens(&mut self) -> Result<bool> {
        // Linux reports the refusal (a pending socket error) before the replies queued
        // ahead of it: those were heard, and are taken first.
        self.take_queued_replies()?;
        if !self.printed {
            return Ok(true);
        }
        let server = self.server;
        self.print(&format!(
            "port unreachable: {server} refused a ping (has the server stopped?)",
            server = net::shown(server)
        ));
        Ok(false)
    }

    /// Takes every datagram already waiting on the socket, without waiting for more.
    fn take_queued_replies(&mut self) -> Result<()> {
        let mut buffer = vec![0; REPLY_BUFFER];
        loop {
            match self.recv_now(&mut buffer) {
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

/// The sequence number of a reply `PING SEQ TIME`, if it has that shape.
fn reply_seq(reply: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(reply).ok()?;
    let mut words = text.strip_prefix("PING ")?.split(' ');
    words.next()?.parse().ok()
}

fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_sequence_numbers() {
        assert_eq!(reply_seq(b"PING 3 1795975807.213442"), Some(3));
        assert_eq!(reply_seq(b"Ping 3 1795975807.213442"), None);
        assert_eq!(reply_seq(b"PING x 1"), None);
        assert_eq!(reply_seq(b"\xff"), None);
    }

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

    /// The schedule is fixed by ping 1's send: however late pings 2 and 3 went out,
    /// ping N is due at ping 1's send time + (N - 1) intervals. (Counted from the last
    /// send, as it once was, ping 3 would be due 30 ms late and ping 4 60 ms.)
    #[test]
    fn late_sends_do_not_shift_the_schedule() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let tally = Mutex::new(Tally::new(address));
        let interval = Duration::from_millis(200);
        let settings = Settings {
            count: 4,
            interval,
            timeout: WAIT,
        };
        let mut pinger = Pinger::new(address, settings, &tally).unwrap();
        let first = Instant::now();
        assert_eq!(pinger.next_send(first), Some(first), "ping 1 at once");
        let late = Duration::from_millis(30);
        for seq in 1..=3 {
            let on_time = first + interval * (seq - 1);
            let at = if seq == 1 { on_time } else { on_time + late };
            pinger.sent.push(Sent {
                expected_reply: Vec::new(),
                at,
                state: State::Waiting,
            });
            let due = pinger.next_send(at + late);
            assert_eq!(due, Some(first + interval * seq), "ping {}", seq + 1);
        }
        pinger.sent.push(Sent {
            expected_reply: Vec::new(),
            at: first + interval * 3,
            state: State::Waiting,
        });
        assert_eq!(pinger.next_send(first + interval * 4), None, "all 4 sent");
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
        let first = pinger.sent[0].at;
        for (n, sent) in (0..).zip(&pinger.sent) {
            let due = first + interval * n;
            assert!(
                sent.at >= due,
                "ping {} early by {:?}",
                n + 1,
                due - sent.at
            );
        }
        let last = pinger.sent[PINGS as usize - 1].at - first;
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
        assert!(pinger.send_next().unwrap());
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
