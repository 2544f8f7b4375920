//! The hi-hello server, over TCP (`server/tcp.rs`: a thread per client) or UDP
//! (`server/udp.rs`: one socket for all).
//!
//! The two sockets are the lab's first written question in code: a *server* socket
//! is bound to a known port and waits (TCP: `listen` and `accept`; UDP: `recvfrom`),
//! while a *client* socket just `connect`s or sends from whatever port the system
//! gives it (see `client.rs`).

mod tcp;
mod udp;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use common::cli::parse_seconds;
use common::report::Log;
use common::shutdown::Shutdown;

use crate::{Endpoint, Transport};

pub use tcp::{listen, serve_tcp};
pub use udp::{bind_udp, serve_udp};

/// Command-line options of `lab-hi-hello server`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// tcp (a session per client) or udp (a datagram per message)
    #[arg(long, value_enum, default_value = "tcp")]
    transport: Transport,
    /// Close a TCP connection that sends nothing for this many seconds (0: never)
    #[arg(long, value_parser = parse_seconds, default_value = "300")]
    idle_timeout: Duration,
    /// Print only the listening line, errors and the shutdown summary
    #[arg(short, long)]
    quiet: bool,
}

/// `lab-hi-hello server`: serve greetings until Ctrl-C.
pub fn run(options: &Options) -> Result<ExitCode> {
    let shutdown = Shutdown::on_signals()?;
    let log = Log::new(options.quiet);
    match options.transport {
        Transport::Tcp => {
            let listener = listen(&options.endpoint)?;
            let idle = (!options.idle_timeout.is_zero()).then_some(options.idle_timeout);
            serve_tcp(&listener, log, idle, shutdown)?;
        }
        Transport::Udp => {
            let socket = bind_udp(&options.endpoint)?;
            serve_udp(&socket, log, &shutdown)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
