//! lab-udp: the UDP uppercase client and server of Kurose & Ross section 2.7, with the
//! CPE 314 variants (a name prompt, a server that stops on `quit`), and the chapter's UDP
//! Pinger assignment (`ping`, against `server --loss --delay`).
//!
//! Run `cargo run -p lab-udp -- server` in one terminal and
//! `cargo run -p lab-udp -- client` in another; see this lab's README.md.

mod check;
mod check_client;
mod check_pinger;
mod client;
mod delay_line;
mod demo;
mod lossy_path;
mod netem;
mod ping;
mod server;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// The port of the textbook's UDPServer.py.
const DEFAULT_PORT: u16 = 12000;

/// `--host` and `--port`, defaulting to 127.0.0.1:12000.
type Endpoint = common::net::Endpoint<DEFAULT_PORT>;

/// UDP uppercase server and client: each datagram comes back uppercased; and the pinger.
#[derive(Parser)]
#[command(name = "lab-udp", version, long_about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const ABOUT: &str = "UDP uppercase server and client (Kurose & Ross 2.7), and the UDP Pinger.

The server answers each datagram with its uppercase, sent back to the address it came
from: one socket, no connections, no listen/accept. The client sends each line as one
datagram and waits for the reply, resending if it is lost. With --loss and --delay the
server loses and delays replies on purpose, and `ping` measures round-trip times and loss.

Try: lab-udp server        (terminal 1)
     lab-udp client        (terminal 2)
     lab-udp demo          (both in one process)
     lab-udp server --loss 0.3 --delay 10..50   then   lab-udp ping";

#[derive(Subcommand)]
enum Command {
    /// Answer each datagram with its uppercase, until Ctrl-C
    Server(server::Options),
    /// Send lines (or MESSAGE...) to the server and print the replies
    Client(client::Options),
    /// Start a server on a free loopback port and talk to it
    Demo,
    /// Check any UDP uppercase server against this lab's protocol
    Check(check::Options),
    /// Check any UDP uppercase client against our scripted servers
    CheckClient(check_client::Options),
    /// Grade a class: each SUBMISSION_DIR with check (--server) or check-client (--client)
    Grade(common::check::grade::Args),
    /// The UDP Pinger (Kurose & Ross): ping a server, print RTTs and the loss
    Ping(ping::Options),
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
        Command::Ping(options) => ping::run(&options),
    })
}
