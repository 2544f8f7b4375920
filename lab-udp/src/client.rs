//! The UDP uppercase client: each message is one datagram, and its reply is one datagram.
//!
//! Read it beside `examples/udp_client.rs`, Kurose & Ross's UDPClient.py in Rust. It
//! differs from the slides in three places, each for a reason the slides' client meets:
//!
//! - Its socket is `connect`ed to the server, so it calls `send` and `recv` where the
//!   slides call `sendto` and `recvfrom`. UDP's `connect` sends nothing: it records
//!   the server's address, so the kernel keeps only that server's datagrams for this
//!   socket, and reports an ICMP "port unreachable" as `ConnectionRefused`. A stopped
//!   server is then said at once, where the slides' client waits forever.
//! - `recv` has a timeout (`--timeout`): a lost datagram or reply is sent again,
//!   `--retries` times, then reported. The slides' client waits forever.
//! - A reply that comes late (after its try timed out) is never printed as the reply
//!   to a later message: the socket whose try timed out is closed, and the next
//!   message gets a new one.
//!
//! Those socket calls are in `common/src/udp_client.rs`, `UdpClient::exchange` and `wait_for_reply`,
//! shared with the other labs' UDP clients; its comments say why each one is there.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use common::cli::{parse_timeout, print_reply};
use common::input::{Messages, QUIT, prompt_for};
use common::shutdown::exit_quietly_on_ctrl_c;
use common::udp_client::UdpClient;

use crate::Endpoint;

/// Command-line options of `lab-udp client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Seconds to wait for each reply before sending again
    #[arg(long, value_parser = parse_timeout, default_value = "1")]
    timeout: Duration,
    /// How many times to resend a message that got no reply
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Prompt with `NAME> ` (the CPE 314 client) instead of the textbook's prompt
    #[arg(long)]
    name: Option<String>,
    /// Send this one message, print the reply and exit (words are joined with spaces)
    message: Vec<String>,
}

/// `lab-udp client`: one request per message, until the input ends or says `quit`.
pub fn run(options: &Options) -> Result<ExitCode> {
    exit_quietly_on_ctrl_c();
    let mut client = UdpClient::new(
        options.endpoint.resolve()?,
        options.timeout,
        options.retries.saturating_add(1),
    );
    let mut messages = Messages::new(&options.message, &prompt_for(options.name.as_deref()));
    while let Some(message) = messages.next_message()? {
        if message == QUIT {
            client.send_without_reply(&message)?;
            break;
        }
        let reply = client.request(&message)?;
        print_reply(&reply);
    }
    Ok(ExitCode::SUCCESS)
}
