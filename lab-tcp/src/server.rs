//! The TCP uppercase server, iterative: one client at a time.
//!
//! Read it beside `examples/tcp_server.rs` (Kurose & Ross's TCPServer.py in Rust) and
//! `examples/tcp_server_quit.rs` (CPE 314's session loop): the same `socket`, `bind`,
//! `listen`, then `accept` in a loop. The listening socket only welcomes clients;
//! each `accept` returns a new connection socket for one client. While that client
//! is served, others wait in the listen backlog, connected but unanswered
//! (lab-concurrent fixes that). Where the examples read once and answer once, the
//! session here (`common::connection::serve_client`) streams bytes through the
//! uppercase protocol until `quit` or the client's close.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use common::cli::parse_seconds;
use common::connection::{self, Settings};
use common::net;
use common::shutdown::Shutdown;

use crate::Endpoint;

/// Command-line options of `lab-tcp server`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Close a connection that neither sends nor reads for this many seconds (0: never)
    #[arg(long, value_parser = parse_seconds, default_value = "300")]
    idle_timeout: Duration,
    /// Print only the listening line, errors and the shutdown summary
    #[arg(short, long)]
    quiet: bool,
}

/// `lab-tcp server`: listen, then serve clients one after another until Ctrl-C.
pub fn run(options: &Options) -> Result<ExitCode> {
    let shutdown = Shutdown::on_signals()?;
    let listener = listen(&options.endpoint)?;
    let settings = Settings::new(options.idle_timeout, options.quiet, shutdown);
    serve(&listener, &settings)?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the listening socket, then prints the listening line.
pub fn listen(endpoint: &Endpoint) -> Result<TcpListener> {
    let address = endpoint.bind_address()?;
    // socket(): a stream socket (SOCK_STREAM, TCP) for IPv4 or IPv6.
    let socket = net::tcp_socket(address)?;
    // bind(): claim the port on that address.
    net::bind(&socket, address)?;
    // listen(): make it a welcoming socket; the kernel completes handshakes and
    // queues new connections (the backlog) until we accept them.
    let listener = net::listen(socket)?;
    net::announce(listener.local_addr()?, "tcp");
    Ok(listener)
}

/// Accepts and serves clients, one at a time, until a shutdown is requested.
pub fn serve(listener: &TcpListener, settings: &Settings) -> Result<()> {
    let shutdown = &settings.shutdown;
    shutdown.wake_listener(listener)?;
    // One client at a time: every session can use the same buffers.
    let mut buffers = connection::Buffers::new();
    // Checked before each wait too: a request may come before the listener was registered.
    while !shutdown.is_requested() {
        // accept(): wait for the next client's connection; it gets a socket of its own.
        let accepted = net::accept(listener);
        if shutdown.is_requested() {
            break;
        }
        match accepted {
            Ok((connection, peer)) => {
                connection::serve_client(connection, peer, settings, &mut buffers)
            }
            Err(error) => connection::survive_accept_error(&error, settings.log),
        }
    }
    // close(): the listening socket is closed when the caller drops it.
    settings.stats.print_summary();
    Ok(())
}
