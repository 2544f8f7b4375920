//! Talking to a TCP server one line at a time: send a message, read its reply.
//!
//! TCP carries a stream of bytes, not messages: one `send` may arrive in pieces, and
//! two may arrive glued together. So each message goes out as a line (with `\n`) and
//! the reply is read up to its `\n`, however it is cut. In bare mode the client speaks
//! like the course's Python clients instead: the message with no newline, and a single
//! `recv` for the reply (fine on a quiet loopback, wrong in general).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::net;

/// The largest reply one bare read takes (the course clients use 1024 or 2048).
const BARE_REPLY_BUFFER: usize = 64 * 1024;

/// What a server over its `--max-clients` bound says before it closes (lab-concurrent's
/// "server busy"). No uppercase reply can be mistaken for it: it has lowercase letters.
pub const SERVER_BUSY: &[u8] = b"server busy\n";

/// A connection to a server, read through a buffer so replies can be taken line by line.
#[derive(Debug)]
pub struct LineConnection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    bare: bool,
}

/// Why a request got no reply.
#[derive(Debug)]
pub enum Failure {
    /// The server closed the connection.
    Closed,
    /// No reply within the read timeout.
    Timeout,
    /// The server turned this client away ([`SERVER_BUSY`]).
    Busy,
    /// Anything else.
    Other(anyhow::Error),
}

impl Failure {
    /// The one sentence the user sees.
    pub fn explain(self, server: SocketAddr, timeout: Duration) -> anyhow::Error {
        match self {
            Failure::Closed => anyhow!(
                "the server {server} closed the connection: it stopped, or ended this session",
                server = net::shown(server)
            ),
            Failure::Timeout => anyhow!(
                "no reply from {server} within {:.1} s: the server is busy or stuck; \
                 try again, or raise --timeout",
                timeout.as_secs_f64(),
                server = net::shown(server)
            ),
            Failure::Busy => busy(server),
            Failure::Other(error) => error,
        }
    }
}

/// The sentence for a client that a server turned away.
pub fn busy(server: SocketAddr) -> anyhow::Error {
    anyhow!(
        "the server {server} is busy (it serves as many clients as it may): try again later",
        server = net::shown(server)
    )
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::Timeout,
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
                Failure::Closed
            }
            _ => Failure::Other(error.into()),
        }
    }
}

impl LineConnection {
    /// A connection over `stream`, whose reads are bounded by `timeout`; `bare` sends
    /// messages without a newline and takes each reply in one read.
    pub fn new(stream: TcpStream, timeout: Duration, bare: bool) -> Result<Self> {
        stream.set_read_timeout(Some(timeout))?;
        Ok(LineConnection {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            bare,
        })
    }

    /// send(): the message as a line, or bare. A server that has closed the
    /// connection shows as [`Failure::Closed`] (`EPIPE`, or a reset).
    pub fn send(&mut self, message: &[u8]) -> Result<(), Failure> {
        let mut wire = message.to_vec();
        if !self.bare {
            wire.push(b'\n');
        }
        Ok(self.writer.write_all(&wire)?)
    }

    /// Sends one message and returns its reply (without the newline).
    pub fn request(&mut self, message: &[u8]) -> Result<Vec<u8>, Failure> {
        if self.bare && message.is_empty() {
            // A zero-byte send puts nothing on the wire, so no reply would ever come:
            // say so rather than wait forever (as the course client does) or make up one.
            return Err(Failure::Other(anyhow!(
                "an empty message cannot be sent with --bare: TCP has no empty messages; \
                 leave out --bare to send it as an empty line"
            )));
        }
        self.send(message)?;
        let mut reply = Vec::new();
        if self.bare {
            // recv(): one read, like `clientSocket.recv(2048)`.
            reply.resize(BARE_REPLY_BUFFER, 0);
            let received = self.reader.read(&mut reply)?;
            if received == 0 {
                return Err(Failure::Closed);
            }
            reply.truncate(received);
        } else {
            // recv() until the newline: the reply may come in several pieces.
            self.reader.read_until(b'\n', &mut reply)?;
        }
        if reply == SERVER_BUSY {
            return Err(Failure::Busy);
        }
        if !self.bare && reply.pop() != Some(b'\n') {
            return Err(Failure::Closed);
        }
        Ok(reply)
    }
}
