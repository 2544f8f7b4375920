//! The hi-hello client: greets the server and checks the answer.
//!
//! A client socket needs no `bind` and no `listen`: over TCP it `connect`s (the
//! system picks its port), over UDP it just sends. The socket calls are in
//! `common/src/line_client.rs` (TCP) and `common/src/udp_client.rs` (UDP).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use common::cli::{parse_timeout, print_reply};
use common::input::Messages;
use common::line_client::LineConnection;
use common::net;
use common::shutdown::exit_quietly_on_ctrl_c;
use common::udp_client::UdpClient;

use crate::{Endpoint, Transport};

/// Command-line options of `lab-hi-hello client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// tcp or udp
    #[arg(long, value_enum, default_value = "tcp")]
    transport: Transport,
    /// Seconds to wait for each answer (UDP: before sending again)
    #[arg(long, value_parser = parse_timeout, default_value = "2")]
    timeout: Duration,
    /// UDP: how many times to resend a message that got no answer
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// The message to send instead of `hi` (words are joined with spaces)
    message: Vec<String>,
}

/// `lab-hi-hello client`: exit 0 only if every message got an answer and each `hi` got `hello`.
pub fn run(options: &Options) -> Result<ExitCode> {
    exit_quietly_on_ctrl_c();
    let addresses = options.endpoint.resolve()?;
    let mut server = match options.transport {
        Transport::Tcp => {
            // connect(): the client socket gets a system-chosen port; no bind needed.
            let stream = net::connect_any(&addresses, options.timeout)?;
            let address = stream.peer_addr()?;
            let connection = LineConnection::new(stream, options.timeout, false)?;
            Server::Tcp(connection, address, options.timeout)
        }
        Transport::Udp => Server::Udp(UdpClient::new(
            addresses,
            options.timeout,
            options.retries.saturating_add(1),
        )),
    };
    // No MESSAGE: `hi` always comes first, so the client greets even when run from a
    // script with nothing on its stdin.
    let mut messages = if options.message.is_empty() {
        Messages::first_then_piped_lines(b"hi")
    } else {
        Messages::new(&options.message, "")
    };
    while let Some(message) = messages.next_message()? {
        let reply = server.ask(&message)?;
        print_reply(&reply);
        if message.trim_ascii().eq_ignore_ascii_case(b"hi") && reply != b"hello" {
            bail!(
                "the server answered 'hi' with '{}' instead of 'hello'",
                String::from_utf8_lossy(&reply)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The server, over the chosen transport.
enum Server {
    /// A TCP connection: one line out, one line back.
    Tcp(LineConnection, SocketAddr, Duration),
    /// UDP: one datagram out, one back, resent if lost.
    Udp(UdpClient),
}

impl Server {
    /// Sends one message and returns the answer.
    fn ask(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        match self {
            Server::Tcp(connection, address, timeout) => connection
                .request(message)
                .map_err(|failure| failure.explain(*address, *timeout)),
            Server::Udp(client) => client.request(message),
        }
    }
}
