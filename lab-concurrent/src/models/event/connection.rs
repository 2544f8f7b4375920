//! One event-loop client as a state machine: what it has been sent and not yet taken,
//! whether it may be read from, whether it is finishing. The loop (`event.rs`) hands
//! it each readiness event; it reads what has arrived, feeds the protocol, and writes
//! what the socket will take, never blocking.
//!
//! The loop asks to hear about writability only while replies wait, and stops
//! reading from a client whose replies pile up (it does not read them), so a slow
//! reader costs bounded memory and never holds up the others.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use common::admission::Ticket;
use common::connection::{READ_BUFFER, Settings, on_received};
use common::session::{Next, Session};
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// Replies waiting for a client that does not read: past this, stop reading from it.
const MAX_PENDING: usize = 64 * 1024;

/// One client's state between events.
pub struct Connection {
    pub stream: TcpStream,
    token: Token,
    pub peer: SocketAddr,
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
    pub last_active: Instant,
    _ticket: Ticket,
}

impl Connection {
    pub fn new(stream: TcpStream, token: Token, peer: SocketAddr, ticket: Ticket) -> Self {
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
    pub fn on_event(
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
