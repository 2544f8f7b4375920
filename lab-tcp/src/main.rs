//! lab-tcp: the TCP uppercase client and server of Kurose & Ross section 2.7, with the
//! CPE 314 variants (a name prompt, a session that ends on `quit`).
//!
//! Run `cargo run -p lab-tcp -- server` in one terminal and
//! `cargo run -p lab-tcp -- client` in another; see this lab's README.md.

mod batch;
mod check;
mod check_client;
mod client;
mod demo;
mod server;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// The port of the textbook's TCPServer.py.
const DEFAULT_PORT: u16 = 12000;

/// `--host` and `--port`, defaulting to 127.0.0.1:12000.
type Endpoint = common::net::Endpoint<DEFAULT_PORT>;

/// TCP uppercase server and client: what the client sends comes back uppercased.
#[derive(Parser)]
#[command(name = "lab-tcp", version, long_about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const ABOUT: &str = "TCP uppercase server and client (Kurose & Ross 2.7).

The server listens on a welcoming socket; each accept() gives a new connection socket
for one client, served until it sends `quit` or closes. This server is iterative: one
client at a time (lab-concurrent serves many). The client connects, sends each line
and prints the reply.

Try: lab-tcp server        (terminal 1)
     lab-tcp client        (terminal 2)
     lab-tcp demo          (both in one process)";

#[derive(Subcommand)]
enum Command {
    /// Serve clients one at a time, until Ctrl-C
    Server(server::Options),
    /// Send lines (or MESSAGE...) to the server and print the replies
    Client(client::Options),
    /// Start a server on a free loopback port and talk to it
    Demo,
    /// Check any TCP uppercase server against this lab's protocol
    Check(check::Options),
    /// Check any TCP uppercase client against our scripted servers
    CheckClient(check_client::Options),
    /// Grade a class: each SUBMISSION_DIR with check (--server) or check-client (--client)
    Grade(common::check::grade::Args),
}

fn main() -> ExitCode {
    let cli: Cli = common::cli::parse();
    common::cli::finish(match cli.command {
        Command::Server(options) => server::run(&options),
        Command::Client(options) => client::run(&options),
        Command::Demo => demo::run(),
        Command::Check(options) => Ok(check::run(&options)),
        Command::CheckClient(options) => Ok(check_client::run(&options)),
        Command::Grade(args) => common::check::grade::run(&args, &Cli::command()),
    })
}
