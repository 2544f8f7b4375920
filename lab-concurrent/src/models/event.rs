//! Event loop: one thread serves every client (Stevens' tcpservpoll01, mio's
//! tcp_server example); `--threads N` runs N such loops over the one listener. Sockets are non-blocking; the loop sleeps in `epoll_wait`
//! (`kqueue` on macOS, through mio) until some socket is ready, then does only the
//! work that cannot block: read what has arrived, write what the socket will take.
//!
//! Each client is a small state machine ([`Connection`]): the protocol's
//! [`Session`], and the reply bytes its socket has not taken yet. The loop asks to
//! hear about writability only while such bytes wait, and stops reading from a
//! client whose replies pile up (it does not read them), so a slow reader costs
//! bounded memory and never holds up the others.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use common::connection::{READ_BUFFER, Settings, on_received};
use common::net;
use common::session::{Next, Session};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use common::admission::Ticket;

use super::{Config, turn_away};

/// The listening socket's token; clients get their slot number.
const LISTENER: Token = Token(usize::MAX);
/// The token of the waker a shutdown request rings.
const WAKER: Token = Token(usize::MAX - 1);
/// Replies waiting for a client that does not read: past this, stop reading from it.
const MAX_PENDING: usize = 64 * 1024;
/// After `accept` fails for lack of file descriptors, wait this long before trying again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serves every client until shutdown: `--threads N` event loops, this thread
/// running the first, all watching the one listening socket.
///
/// Each loop has its own epoll set and its own clients; the kernel wakes every loop
/// when a client connects, the first to `accept` gets it and the others find nothing
/// (`WouldBlock`). No loop hands work to another, and N loops use N cores. No
/// `SO_REUSEPORT`: one socket, so a second server on this port fails as it should.
pub fn serve(listener: std::net::TcpListener, config: &Config) -> Result<()> {
    let mut others = Vec::new();
    for index in 1..config.threads.max(1) {
        // dup(): the same listening socket, one more descriptor for that loop.
        let listener = listener.try_clone()?;
        let config = config.clone();
        others.push(
            thread::Builder::new()
                .name(format!("event-loop-{index}"))
                .spawn(move || run_loop(listener, &config))?,
        );
    }
    let outcome = run_loop(listener, config);
    for other in others {
        match other.join() {
            Ok(other_outcome) => other_outcome?,
            Err(_) => bail!("an event-loop thread crashed"),
        }
    }
    outcome?;
    config.settings.stats.print_summary();
    Ok(())
}

/// One event loop over the listening socket, until shutdown.
fn run_loop(listener: std::net::TcpListener, config: &Config) -> Result<()> {
    let settings = &config.settings;
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    // epoll_create / kqueue: the set of sockets this thread watches.
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    settings.shutdown.on_request(Box::new(move || {
        let _ = waker.wake();
    }));

    let mut clients = Slots::default();
    let mut events = Events::with_capacity(1024);
    // One read buffer for all clients: a client's state holds only what is pending.
    let mut buffer = vec![0; READ_BUFFER];
    let mut accept_paused_until = None;
    let mut last_sweep = Instant::now();
    while !settings.shutdown.is_requested() {
        // epoll_wait: sleep until a socket is ready, a shutdown, or a timer is due.
        let wait = next_wait(settings, accept_paused_until);
        if let Err(error) = poll.poll(&mut events, wait) {
            if error.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(error.into());
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    if accept_paused_until.is_none() {
                        accept_paused_until =
                            accept_all(&mut listener, poll.registry(), &mut clients, config);
                    }
                }
                WAKER => {}
                Token(slot) => {
                    let keep = match clients.get_mut(slot) {
                        Some(client) => {
                            client.on_event(event, &mut buffer, poll.registry(), settings)
                        }
                        None => true,
                    };
                    if !keep {
                        close(&mut clients, slot, poll.registry(), settings);
                    }
                }
            }
        }
        if accept_paused_until.is_some_and(|until| Instant::now() >= until) {
            accept_paused_until = accept_all(&mut listener, poll.registry(), &mut clients, config);
        }
        if let Some(idle) = settings.idle_timeout
            && last_sweep.elapsed() >= idle / 4
        {
            last_sweep = Instant::now();
            close_idle(&mut clients, idle, poll.registry(), settings);
        }
    }
    Ok(())
}

/// How long `poll` may sleep: forever, unless an idle check or an accept retry is due.
fn next_wait(settings: &Settings, accept_paused_until: Option<Instant>) -> Option<Duration> {
    let idle_check = settings.idle_timeout.map(|idle| idle / 4);
    let accept_retry =
        accept_paused_until.map(|until| until.saturating_duration_since(Instant::now()));
    match (idle_check, accept_retry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Accepts every waiting client (the listener is edge-triggered: take them all).
/// Returns when to try again if accepting had to pause (out of file descriptors).
fn accept_all(
    listener: &mut TcpListener,
    registry: &Registry,
    clients: &mut Slots,
    config: &Config,
) -> Option<Instant> {
    let settings = &config.settings;
    loop {
        // accept(): non-blocking, so WouldBlock means nobody else is waiting.
        let (mut stream, peer) = match listener.accept() {
            // The client's address as people read it (plain IPv4 on a dual-stack socket).
            Ok((stream, peer)) => (stream, net::plain(peer)),
            Err(error) if error.kind() == ErrorKind::WouldBlock => return None,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if error.kind() == ErrorKind::ConnectionAborted => continue,
            Err(error) => {
                settings.log.warn(format_args!(
                    "accept failed: {error}; pausing accepts for 100 ms"
                ));
                return Some(Instant::now() + ACCEPT_PAUSE);
            }
        };
        let Some(ticket) = config.admission.try_admit() else {
            turn_away(stream, peer, settings.log);
            continue;
        };
        let slot = clients.vacant();
        if let Err(error) = registry.register(&mut stream, Token(slot), Interest::READABLE) {
            settings.log.warn(format_args!(
                "cannot watch {peer}: {error}",
                peer = net::shown(peer)
            ));
            continue;
        }
        settings.log.line(format_args!(
            "New client connected from {peer}",
            peer = net::shown(peer)
        ));
        settings.stats.client();
        clients.insert(slot, Connection::new(stream, Token(slot), peer, ticket));
    }
}

fn close(clients: &mut Slots, slot: usize, registry: &Registry, settings: &Settings) {
    if let Some(mut client) = clients.remove(slot) {
        let _ = registry.deregister(&mut client.stream);
        settings.log.line(format_args!(
            "Client disconnected ({})",
            net::shown(client.peer)
        ));
        // close(): the socket is closed as `client` is dropped.
    }
}

fn close_idle(clients: &mut Slots, idle: Duration, registry: &Registry, settings: &Settings) {
    let now = Instant::now();
    let idle_slots: Vec<usize> = clients
        .iter()
        .filter(|(_, client)| now.duration_since(client.last_active) >= idle)
        .map(|(slot, _)| slot)
        .collect();
    for slot in idle_slots {
        close(clients, slot, registry, settings);
    }
}

/// One client's state between events.
struct Connection {
    stream: TcpStream,
    token: Token,
    peer: SocketAddr,
    session: Session,
    /// Reply bytes the socket has not taken yet, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
    /// Reading stopped because replies pile up (the client does not read them).
    paused: bool,
    /// The client said `quit` or closed its side: close once `pending` is sent.
    finishing: bool,
    /// Whether write readiness is asked for (only while bytes are pending).
    wants_write: bool,
    last_active: Instant,
    _ticket: Ticket,
}

impl Connection {
    fn new(stream: TcpStream, token: Token, peer: SocketAddr, ticket: Ticket) -> Self {
        Connection {
            stream,
            token,
            peer,
            session: Session::new(),
            pending: Vec::new(),
            sent: 0,
            paused: false,
            finishing: false,
            wants_write: false,
            last_active: Instant::now(),
            _ticket: ticket,
        }
    }

    /// Handles one readiness event; false when the connection should be closed.
    fn on_event(
        &mut self,
        event: &Event,
        buffer: &mut [u8],
        registry: &Registry,
        settings: &Settings,
    ) -> bool {
        if (event.is_readable() || event.is_read_closed()) && !self.read_available(buffer, settings)
        {
            return false;
        }
        loop {
            if !self.flush() {
                return false;
            }
            let all_sent = self.sent == self.pending.len();
            if all_sent && self.finishing {
                return false;
            }
            if all_sent && self.paused {
                // The client caught up: read again (edge-triggered, so nothing would
                // tell us about data that arrived while we were not reading).
                self.paused = false;
                if !self.read_available(buffer, settings) {
                    return false;
                }
                continue;
            }
            break;
        }
        self.update_interest(registry)
    }

    /// recv() until the socket has nothing more (WouldBlock), feeding the protocol.
    /// False on a connection error.
    fn read_available(&mut self, buffer: &mut [u8], settings: &Settings) -> bool {
        while !self.paused && !self.finishing {
            match self.stream.read(buffer) {
                Ok(0) => {
                    // EOF or half-close: what is owed is still sent, then we close.
                    self.session.on_eof(&mut self.pending);
                    self.finishing = true;
                }
                Ok(received) => {
                    self.last_active = Instant::now();
                    let data = &buffer[..received];
                    let next = on_received(
                        data,
                        self.peer,
                        settings,
                        &mut self.session,
                        &mut self.pending,
                    );
                    if next == Next::Close {
                        self.finishing = true;
                    } else if self.pending.len() - self.sent > MAX_PENDING {
                        self.paused = true;
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        true
    }

    /// send() as much pending reply as the socket takes. False on a connection error.
    fn flush(&mut self) -> bool {
        while self.sent < self.pending.len() {
            match self.stream.write(&self.pending[self.sent..]) {
                Ok(written) => {
                    self.sent += written;
                    self.last_active = Instant::now();
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return true,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false, // EPIPE, RST: the client is gone
            }
        }
        self.pending.clear();
        self.sent = 0;
        if self.pending.capacity() > READ_BUFFER * 4 {
            self.pending.shrink_to(READ_BUFFER);
        }
        true
    }

    /// Asks for write readiness only while replies are pending (else every idle
    /// socket, being writable, would wake the loop).
    fn update_interest(&mut self, registry: &Registry) -> bool {
        let wants_write = self.sent < self.pending.len();
        if wants_write == self.wants_write {
            return true;
        }
        self.wants_write = wants_write;
        let interest = if wants_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        registry
            .reregister(&mut self.stream, self.token, interest)
            .is_ok()
    }
}

/// Client state by slot number (the event's token), reusing freed slots.
#[derive(Default)]
struct Slots {
    slots: Vec<Option<Connection>>,
    free: Vec<usize>,
}

impl Slots {
    /// A slot number to put the next client in.
    fn vacant(&mut self) -> usize {
        match self.free.last() {
            Some(&slot) => slot,
            None => self.slots.len(),
        }
    }

    fn insert(&mut self, slot: usize, client: Connection) {
        if self.free.last() == Some(&slot) {
            self.free.pop();
            self.slots[slot] = Some(client);
        } else {
            self.slots.push(Some(client));
        }
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut Connection> {
        self.slots.get_mut(slot)?.as_mut()
    }

    fn remove(&mut self, slot: usize) -> Option<Connection> {
        let client = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(client)
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &Connection)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, client)| client.as_ref().map(|client| (slot, client)))
    }
}
