//! The clients of `bench`, and what they measure.
//!
//! Persistent clients ping-pong: send a line, wait for its uppercase, send the next.
//! They are spread over `--threads` event loops (mio), so a thousand connections cost
//! the generator little. `--connect-per-message` is the textbook client instead:
//! connect, send, read, close, once per message, on `--clients` threads.
//!
//! A client that never gets a reply at all (a pool whose workers are all held, an
//! iterative server behind a silent client) is *starved*, not an error: it gives up
//! at the end of the run (or, with `--messages`, once no client has had a reply for
//! [`REPLY_TIMEOUT`]), so every run ends on time whatever the server does.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::net;
use hdrhistogram::Histogram;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

/// A reply not complete within this long, once a client has been served, is an error.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest round trip the histogram tells apart from longer ones: an hour.
const LONGEST_US: u64 = 3_600_000_000;

/// What one run measured.
#[derive(Debug)]
pub struct Tally {
    /// Replies received complete and correct.
    pub messages: u64,
    /// Wrong bytes, closed or reset connections, replies that never came.
    pub errors: u64,
    /// Clients never answered at all.
    pub starved: u64,
    /// Round-trip times in microseconds, 3 significant digits.
    pub latencies: Histogram<u64>,
}

impl Tally {
    fn new() -> Result<Tally> {
        Ok(Tally {
            messages: 0,
            errors: 0,
            starved: 0,
            latencies: Histogram::new_with_bounds(1, LONGEST_US, 3)?,
        })
    }

    fn record(&mut self, round_trip: Duration) {
        let micros = u64::try_from(round_trip.as_micros()).unwrap_or(LONGEST_US);
        self.latencies.saturating_record(micros.max(1));
        self.messages += 1;
    }

    fn merge(&mut self, other: Tally) -> Result<()> {
        self.messages += other.messages;
        self.errors += other.errors;
        self.starved += other.starved;
        self.latencies.add(other.latencies)?;
        Ok(())
    }
}

/// What every client sends and expects back, and until when.
#[derive(Debug, Clone)]
pub struct Plan {
    message: Vec<u8>,
    reply: Vec<u8>,
    /// No new message after this.
    deadline: Instant,
    messages_per_client: Option<u64>,
}

impl Plan {
    /// Lines of `size` bytes (newline included), for `duration` from `started` or
    /// `messages` per client.
    pub fn new(size: usize, started: Instant, duration: Duration, messages: Option<u64>) -> Plan {
        let message: Vec<u8> = b"abcdefghijklmnopqrstuvwxyz"
            .iter()
            .copied()
            .cycle()
            .take(size - 1)
            .chain([b'\n'])
            .collect();
        Plan {
            reply: message.to_ascii_uppercase(),
            message,
            deadline: started
                + if messages.is_some() {
                    Duration::from_secs(3600)
                } else {
                    duration
                },
            messages_per_client: messages,
        }
    }

    /// Has a client that was never answered waited long enough to be called starved?
    /// At the end of the run; with `--messages`, once the whole run has stalled.
    fn gives_up_on_first_reply(&self, now: Instant, sent_at: Instant, last_reply: Instant) -> bool {
        now >= self.deadline
            || (self.messages_per_client.is_some()
                && now.duration_since(sent_at) > REPLY_TIMEOUT
                && now.duration_since(last_reply) > REPLY_TIMEOUT)
    }
}

/// Persistent connections, ping-pong, spread over `threads` event loops.
pub fn persistent(
    address: SocketAddr,
    clients: usize,
    threads: usize,
    plan: &Plan,
) -> Result<Tally> {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        let stream = TcpStream::connect(address).with_context(|| {
            format!("cannot connect to {address}", address = net::shown(address))
        })?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        connections.push(stream);
    }
    let mut shares: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (index, stream) in connections.into_iter().enumerate() {
        shares[index % threads].push(stream);
    }
    let workers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let plan = plan.clone();
            thread::spawn(move || ping_pong(share, &plan))
        })
        .collect();
    let mut tally = Tally::new()?;
    for worker in workers {
        match worker.join() {
            Ok(outcome) => tally.merge(outcome?)?,
            Err(_) => bail!("a load thread crashed"),
        }
    }
    Ok(tally)
}

/// One persistent client: its socket and where its current exchange stands.
struct PingClient {
    stream: MioStream,
    sent_at: Instant,
    /// Bytes of the message not yet written.
    unsent: usize,
    /// Bytes of the reply received so far.
    received: usize,
    done: u64,
    alive: bool,
    /// Whether write readiness is asked for: only while a message is partly sent
    /// (else every ACK would wake the generator).
    write_interest: bool,
}

impl PingClient {
    /// Asks for write readiness exactly while part of the message waits.
    fn update_interest(&mut self, poll: &Poll, token: Token) -> std::io::Result<()> {
        let wanted = self.unsent > 0;
        if wanted != self.write_interest {
            let interest = if wanted {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            poll.registry()
                .reregister(&mut self.stream, token, interest)?;
            self.write_interest = wanted;
        }
        Ok(())
    }

    fn send(&mut self, plan: &Plan) -> std::io::Result<()> {
        while self.unsent > 0 {
            let from = plan.message.len() - self.unsent;
            match self.stream.write(&plan.message[from..]) {
                Ok(written) => self.unsent -= written,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Stops this client: closing its socket frees whatever holds it on the server.
    fn give_up(&mut self) {
        self.alive = false;
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    fn start(&mut self, plan: &Plan) -> std::io::Result<()> {
        self.sent_at = Instant::now();
        self.unsent = plan.message.len();
        self.received = 0;
        self.send(plan)
    }

    /// Reads what has arrived and checks it against the expected reply; a complete
    /// reply is recorded and the next message sent. Fails on wrong bytes, EOF or reset.
    fn receive(&mut self, buffer: &mut [u8], plan: &Plan, tally: &mut Tally) -> Result<()> {
        loop {
            match self.stream.read(buffer) {
                Ok(0) => bail!("the server closed the connection"),
                Ok(read) => {
                    let end = self.received + read;
                    if end > plan.reply.len() || buffer[..read] != plan.reply[self.received..end] {
                        bail!("wrong reply bytes");
                    }
                    self.received = end;
                    if self.received == plan.reply.len() {
                        tally.record(self.sent_at.elapsed());
                        self.done += 1;
                        let more = plan
                            .messages_per_client
                            .is_none_or(|limit| self.done < limit);
                        if !more || Instant::now() >= plan.deadline {
                            // Done: close at once, so a server that serves one client
                            // at a time moves on to the next.
                            self.alive = false;
                            let _ = self.stream.shutdown(std::net::Shutdown::Both);
                            return Ok(());
                        }
                        // One exchange per event, as loadgen does: reading on here
                        // would let a fast connection monopolise the generator while
                        // the others wait. The next reply's arrival is a new event.
                        return Ok(self.start(plan)?);
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }
}

fn ping_pong(share: Vec<TcpStream>, plan: &Plan) -> Result<Tally> {
    let mut poll = Poll::new()?;
    let mut clients = Vec::with_capacity(share.len());
    for (index, stream) in share.into_iter().enumerate() {
        let mut stream = MioStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(index), Interest::READABLE)?;
        clients.push(PingClient {
            stream,
            sent_at: Instant::now(),
            unsent: 0,
            received: 0,
            done: 0,
            alive: true,
            write_interest: false,
        });
    }
    let mut tally = Tally::new()?;
    for (index, client) in clients.iter_mut().enumerate() {
        let started = client
            .start(plan)
            .and_then(|()| client.update_interest(&poll, Token(index)));
        if started.is_err() {
            client.give_up();
            tally.errors += 1;
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0; 64 * 1024];
    let mut last_reply = Instant::now();
    let mut alive = clients.iter().filter(|client| client.alive).count();
    while alive > 0 {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        let replies_before = tally.messages;
        for event in events.iter() {
            let client = &mut clients[event.token().0];
            if !client.alive {
                continue;
            }
            let outcome = client
                .send(plan)
                .map_err(anyhow::Error::from)
                .and_then(|()| client.receive(&mut buffer, plan, &mut tally))
                .and_then(|()| Ok(client.update_interest(&poll, event.token())?));
            if outcome.is_err() {
                client.give_up();
                tally.errors += 1;
            }
        }
        let now = Instant::now();
        if tally.messages > replies_before {
            last_reply = now;
        }
        for client in clients.iter_mut().filter(|client| client.alive) {
            if client.done == 0 && client.received == 0 {
                if plan.gives_up_on_first_reply(now, client.sent_at, last_reply) {
                    client.give_up();
                    tally.starved += 1;
                }
            } else if now.duration_since(client.sent_at) > REPLY_TIMEOUT {
                client.give_up();
                tally.errors += 1;
            }
        }
        alive = clients.iter().filter(|client| client.alive).count();
    }
    Ok(tally)
}

/// The textbook client, `clients` of them at once: connect, send, read, close.
pub fn connect_per_message(address: SocketAddr, clients: usize, plan: &Plan) -> Result<Tally> {
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let plan = plan.clone();
            thread::spawn(move || textbook_client(address, &plan))
        })
        .collect();
    let mut tally = Tally::new()?;
    for worker in workers {
        match worker.join() {
            Ok(part) => tally.merge(part?)?,
            Err(_) => bail!("a load thread crashed"),
        }
    }
    Ok(tally)
}

/// One textbook client: a connection per message until the run ends. One that is
/// never answered gives up at the end of the run (or after [`REPLY_TIMEOUT`]): starved.
fn textbook_client(address: SocketAddr, plan: &Plan) -> Result<Tally> {
    let mut tally = Tally::new()?;
    let mut done = 0;
    while Instant::now() < plan.deadline
        && plan.messages_per_client.is_none_or(|limit| done < limit)
    {
        let started = Instant::now();
        let patience = if tally.messages == 0 {
            let left = plan.deadline.saturating_duration_since(started);
            REPLY_TIMEOUT.min(left).max(Duration::from_millis(1))
        } else {
            REPLY_TIMEOUT
        };
        match one_connection(address, plan, patience) {
            Ok(()) => tally.record(started.elapsed()),
            Err(error) if tally.messages == 0 && is_timeout(&error) => {
                tally.starved += 1;
                break;
            }
            Err(_) => tally.errors += 1,
        }
        done += 1;
    }
    Ok(tally)
}

fn one_connection(address: SocketAddr, plan: &Plan, patience: Duration) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, patience)?;
    stream.set_read_timeout(Some(patience))?;
    stream.write_all(&plan.message)?;
    let mut reply = vec![0; plan.reply.len()];
    stream.read_exact(&mut reply)?;
    if reply != plan.reply {
        return Err(io::Error::new(ErrorKind::InvalidData, "wrong reply bytes"));
    }
    // close() as `stream` is dropped: the client closes first, so the TIME_WAIT
    // state stays on its side, as with the textbook client.
    Ok(())
}

/// A socket timeout shows as `WouldBlock` on Unix and `TimedOut` elsewhere.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
