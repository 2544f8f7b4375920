//! The TCP uppercase client: connect once, then send each message and read its reply.
//!
//! TCP carries a stream of bytes, not messages: one `send` may arrive in pieces, and
//! two may arrive glued together. So by default each message goes out as a line
//! (with `\n`) and the reply is read up to its `\n`, however it is cut
//! (`common/src/line_client.rs`). `--bare` speaks like the course's Python clients
//! instead: the message with no newline, and a single `recv` for the reply (fine on
//! a quiet loopback, wrong in general).
//!
//! That is one message, one reply: right for a person typing, slow for a file. With
//! piped input the client works in batch mode instead (`src/batch.rs`): it sends
//! while it reads the replies, and ends with a half-close (UNP 6.7).

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use common::cli::{parse_timeout, print_reply};
use common::input::{Messages, QUIT, prompt_for};
use common::line_client::LineConnection;
use common::net;
use common::shutdown::exit_quietly_on_ctrl_c;

use crate::{Endpoint, batch};

/// Command-line options of `lab-tcp client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Seconds to wait to connect, and for each reply
    #[arg(long, value_parser = parse_timeout, default_value = "5")]
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

/// `lab-tcp client`: connect, then one exchange per message until the input ends or
/// says `quit`; with piped input, batch mode (`src/batch.rs`).
pub fn run(options: &Options) -> Result<ExitCode> {
    exit_quietly_on_ctrl_c();
    let addresses = options.endpoint.resolve()?;
    // socket() + connect(): TCP's three-way handshake, trying each address of --host.
    let stream = net::connect_any(&addresses, options.timeout)?;
    // Lines from a pipe or a file need not wait for each reply (UNP 6.7). A person
    // typing, and --bare (one recv per reply), stay one message, one reply.
    let piped = options.message.is_empty() && !io::stdin().is_terminal();
    if piped && !options.bare {
        return batch::run(stream, io::stdin(), options.timeout);
    }
    let server = stream.peer_addr()?;
    let mut connection = LineConnection::new(stream, options.timeout, options.bare)?;
    let mut messages = Messages::new(&options.message, &prompt_for(options.name.as_deref()));
    while let Some(message) = messages.next_message()? {
        if message == QUIT {
            // The server ends the session without a reply.
            connection
                .send(&message)
                .map_err(|failure| failure.explain(server, options.timeout))?;
            break;
        }
        let reply = connection
            .request(&message)
            .map_err(|failure| failure.explain(server, options.timeout))?;
        print_reply(&reply);
    }
    // close(): dropping the socket closes the connection (the server's recv gets 0 bytes).
    Ok(ExitCode::SUCCESS)
}
