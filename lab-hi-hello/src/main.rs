//! lab-hi-hello: assignment 3 of the IT-553 lab sheet, "a simple hi-hello socket".
//! A server answers `hi` with `hello` over TCP or UDP, a client greets it, and two
//! peers greet each other with no server at all.
//!
//! See this lab's README.md: it answers the assignment's written questions from this code.

mod check;
mod check_client;
mod client;
mod demo;
mod greeting;
mod peer;
mod server;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// The lab's default port.
const DEFAULT_PORT: u16 = 5050;

/// `--host` and `--port`, defaulting to 127.0.0.1:5050 (not 5000: macOS's
/// AirPlay receiver listens there, and on 7000).
type Endpoint = common::net::Endpoint<DEFAULT_PORT>;

/// Which transport protocol carries the greetings.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// TCP: a connection, a byte stream, a session of many greetings
    Tcp,
    /// UDP: no connection, one datagram per message
    Udp,
}

/// The hi-hello assignment: `hi` is answered `hello`.
#[derive(Parser)]
#[command(name = "lab-hi-hello", version, long_about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const ABOUT: &str = "The hi-hello assignment, client/server and peer to peer.

The server answers `hi` with `hello`, `bye` with `goodbye` (ending a TCP session), and
anything else with `unknown greeting: ...`, over TCP or UDP. Two peers greet each
other over UDP with no server, then chat.

Try: lab-hi-hello server                  (terminal 1)
     lab-hi-hello client                  (terminal 2)
     lab-hi-hello peer --bind 127.0.0.1:6001 --peer 127.0.0.1:6002   (terminal 3)
     lab-hi-hello peer --bind 127.0.0.1:6002 --peer 127.0.0.1:6001   (terminal 4)
     lab-hi-hello demo";

#[derive(Subcommand)]
enum Command {
    /// Answer greetings until Ctrl-C
    Server(server::Options),
    /// Send `hi` (or MESSAGE..., or lines from stdin) and print each answer
    Client(client::Options),
    /// Greet another peer over UDP, then send it each line typed
    Peer(peer::Options),
    /// Server and client over TCP and UDP, then two peers, in one process
    Demo,
    /// Check any hi-hello server against this lab's protocol
    Check(check::Options),
    /// Check any hi-hello client against our scripted servers
    CheckClient(check_client::Options),
    /// Grade a class: each SUBMISSION_DIR with check (--server) or check-client (--client)
    Grade(common::check::grade::Args),
}

fn main() -> ExitCode {
    let cli: Cli = common::cli::parse();
    common::cli::finish(match cli.command {
        Command::Server(options) => server::run(&options),
        Command::Client(options) => client::run(&options),
        Command::Peer(options) => peer::run(&options),
        Command::Demo => demo::run(),
        Command::Check(options) => Ok(check::run(&options)),
        Command::CheckClient(options) => Ok(check_client::run(&options)),
        Command::Grade(args) => common::check::grade::run(&args, &Cli::command()),
    })
}
