//! The UDP uppercase client: each message is one datagram, and its reply is one datagram.
//!
//! UDP promises nothing: a datagram may be lost, so the client waits `--timeout` for
//! the reply and sends again, `--retries` times. The socket calls (a `connect`ed
//! socket, kept from message to message until a try times out, `send`, `recv` with a
//! timeout) are in `common/src/udp_client.rs`, `UdpClient::exchange`, shared with the
//! other labs' UDP clients; read its comments for why each one is there, and why a
//! late reply still never passes for the reply to a later message.

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
