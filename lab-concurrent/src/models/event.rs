//! Event loop: one thread serves every client (Stevens' tcpservpoll01, mio's
//! tcp_server example); `--threads N` runs N such loops over the one listener.
//! Sockets are non-blocking; the loop sleeps in `epoll_wait` (`kqueue` on macOS,
//! through mio) until some socket is ready, then does only the work that cannot
//! block: read what has arrived, write what the socket will take.
//!
//! This file is the loop: wait, accept, dispatch each event to its client, close.
//! Each client is a small state machine of its own ([`connection::Connection`], in
//! `event/connection.rs`): the protocol's session, and the reply bytes its socket
//! has not taken yet. Clients are kept in a [`Slab`], whose keys are the events'
//! tokens.

mod connection;

use std::io::ErrorKind;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use common::connection::{READ_BUFFER, Settings};
use common::net;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;

use self::connection::Connection;
use super::{Config, turn_away};

/// Every client of one loop, by slot: a client's slot is its events' token.
type Clients = Slab<Connection>;

/// The listening socket's token; clients get their slot number.
const LISTENER: Token = Token(usize::MAX);
/// The token of the waker a shutdown request rings.
const WAKER: Token = Token(usize::MAX - 1);
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

    let mut clients = Clients::new();
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
    clients: &mut Clients,
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
        let slot = clients.vacant_key();
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
        clients.insert(Connection::new(stream, Token(slot), peer, ticket));
    }
}

/// Closes one client, logging it.
fn close(clients: &mut Clients, slot: usize, registry: &Registry, settings: &Settings) {
    if let Some(mut client) = clients.try_remove(slot) {
        let _ = registry.deregister(&mut client.stream);
        settings.log.line(format_args!(
            "Client disconnected ({})",
            net::shown(client.peer)
        ));
        // close(): the socket is closed as `client` is dropped.
    }
}

/// Closes every client idle for `idle` or longer.
fn close_idle(clients: &mut Clients, idle: Duration, registry: &Registry, settings: &Settings) {
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
