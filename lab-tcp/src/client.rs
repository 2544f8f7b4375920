//! The TCP uppercase client: connect once, then send each message and read its reply.
//!
//! TCP carries a stream of bytes, not messages: one `send` may arrive in pieces, and
//! two may arrive glued together. So by default each message goes out as a line
//! (with `\n`) and the reply is read up to its `\n`, however it is cut. `--bare`
//! speaks like the course's Python clients instead: the message with no newline, and
//! a single `recv` for the reply (fine on a quiet loopback, wrong in general).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use common::cli::{parse_seconds, print_reply};
use common::input::{Messages, QUIT, prompt_for};
use common::net;
use common::shutdown::exit_quietly_on_ctrl_c;

use crate::Endpoint;

/// Command-line options of `lab-tcp client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Seconds to wait to connect, and for each reply
    #[arg(long, value_parser = parse_seconds, default_value = "5")]
    timeout: Duration,
    /// Speak like the course's Python clients: no newline, one recv per reply
    #[arg(long)]
    bare: bool,
    /// Prompt with `NAME> ` (the CPE 314 client) instead of the textbook's prompt
    #[arg(long)]
    name: Option<String>,
    /// Send this one message, print the reply and exit (words are joined with spaces)
    message: Vec<String>,
}

/// The largest reply one `--bare` read takes (the course clients use 1024 or 2048).
const BARE_REPLY_BUFFER: usize = 64 * 1024;

/// `lab-tcp client`: connect, then one exchange per message until the input ends or says `quit`.
pub fn run(options: &Options) -> Result<ExitCode> {
    exit_quietly_on_ctrl_c();
    let addresses = options.endpoint.resolve()?;
    // socket() + connect(): TCP's three-way handshake, trying each address of --host.
    let stream = net::connect_any(&addresses, options.timeout)?;
    stream.set_read_timeout(Some(options.timeout))?;
    let server = stream.peer_addr()?;
    let mut connection = Connection {
        reader: BufReader::new(stream.try_clone()?),
        writer: stream,
        bare: options.bare,
    };
    let mut messages = Messages::new(&options.message, &prompt_for(options.name.as_deref()));
    while let Some(message) = messages.next_message()? {
        if message == QUIT {
            // The server ends the session without a reply.
            connection.send(&message)?;
            break;
        }
        let reply = connection
            .request(&message)
            .map_err(|failure| failure.explain(server, options.timeout))?;
        print_reply(&reply)?;
    }
    // close(): dropping the socket closes the connection (the server's recv gets 0 bytes).
    Ok(ExitCode::SUCCESS)
}

/// A connection to the server, read through a buffer so replies can be taken line by line.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    bare: bool,
}

/// Why a request got no reply.
enum Failure {
    Closed,
    Timeout,
    Other(anyhow::Error),
}

impl Failure {
    /// The one sentence the user sees.
    fn explain(self, server: SocketAddr, timeout: Duration) -> anyhow::Error {
        match self {
            Failure::Closed => anyhow!(
                "the server {server} closed the connection: it stopped, or ended this session"
            ),
            Failure::Timeout => anyhow!(
                "no reply from {server} within {:.1} s: the server is busy or stuck; \
                 try again, or raise --timeout",
                timeout.as_secs_f64()
            ),
            Failure::Other(error) => error,
        }
    }
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

impl Connection {
    /// send(): the message as a line, or bare.
    fn send(&mut self, message: &[u8]) -> Result<()> {
        let mut wire = message.to_vec();
        if !self.bare {
            wire.push(b'\n');
        }
        self.writer
            .write_all(&wire)
            .context("cannot send to the server")
    }

    /// Sends one message and returns its reply (without the newline).
    fn request(&mut self, message: &[u8]) -> Result<Vec<u8>, Failure> {
        if self.bare && message.is_empty() {
            // Nothing to send, so nothing would come back: the reply is empty too.
            return Ok(Vec::new());
        }
        self.send(message).map_err(Failure::Other)?;
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
            if reply.pop() != Some(b'\n') {
                return Err(Failure::Closed);
            }
        }
        Ok(reply)
    }
}
