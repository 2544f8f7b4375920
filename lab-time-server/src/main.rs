//! lab-time-server: time over the network. NIT IT-553's time server (send
//! `ctime` and close, port 9999) and the standard protocols it comes from: daytime
//! (RFC 867), time (RFC 868) and SNTP (RFC 4330), so real clients such as `rdate`
//! can query it. See this lab's README.md.

mod check;
mod check_client;
mod client;
mod demo;
mod protocol;
mod server;
mod sntp_client;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// The course's time server port (the standard ports 13, 37 and 123 need root).
const DEFAULT_PORT: u16 = 9999;

/// `--host` and `--port`, defaulting to 127.0.0.1:9999.
type Endpoint = common::net::Endpoint<DEFAULT_PORT>;

/// Which time protocol.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// RFC 867: the time as a line of text
    Daytime,
    /// RFC 868: seconds since 1900 as 32 bits
    Time,
    /// RFC 4330: simple NTP, with timestamps to measure delay and offset (UDP only)
    Sntp,
}

/// Which transport(s) carry it.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// TCP: connect, receive the time, the server closes
    Tcp,
    /// UDP: send any datagram, receive one back
    Udp,
    /// TCP and UDP on the same port number (server only)
    Both,
}

/// Time servers and clients: daytime, time and SNTP.
#[derive(Parser)]
#[command(name = "lab-time-server", version, long_about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const ABOUT: &str = "Time over the network: daytime (RFC 867), time (RFC 868), SNTP (RFC 4330).

The server answers each TCP connection or UDP datagram with the current time and is
done: no session, no state. The client prints the time it got; for time and SNTP also
the round-trip delay and how far the local clock is from the server's.

Try: lab-time-server server                               (daytime over TCP and UDP, port 9999)
     lab-time-server client                               (The time got from the server is ...)
     lab-time-server server --protocol sntp --port 1230
     rdate -n -p -o 1230 127.0.0.1                        (a standard SNTP client)
     lab-time-server demo";

#[derive(Subcommand)]
enum Command {
    /// Answer time requests until Ctrl-C
    Server(server::Options),
    /// Ask a server for the time
    Client(client::Options),
    /// Every protocol, server and client, in one process
    Demo,
    /// Check any time server against its protocol
    Check(check::Options),
    /// Check any time client against our scripted servers
    CheckClient(check_client::Options),
    /// Grade a class: each SUBMISSION_DIR with check (--server) or check-client (--client)
    Grade(common::check::grade::Args),
}

fn main() -> ExitCode {
    let cli: Cli = common::cli::parse();
    if let Some((subcommand, conflict)) = transport_conflict(&cli.command) {
        // A usage error, reported the way clap reports its own (exit status 2).
        // Shown with the subcommand's own usage line, as clap does for its errors.
        let mut command = Cli::command();
        command.build();
        command
            .find_subcommand_mut(subcommand)
            .unwrap_or(&mut Cli::command())
            .error(clap::error::ErrorKind::ArgumentConflict, conflict)
            .exit();
    }
    common::cli::finish(match cli.command {
        Command::Server(options) => server::run(&options),
        Command::Client(options) => client::run(&options),
        Command::Demo => demo::run(),
        Command::Check(options) => Ok(check::run(&options)),
        Command::CheckClient(options) => Ok(check_client::run(&options)),
        Command::Grade(args) => common::check::grade::run(&args, &Cli::command()),
    })
}

/// SNTP exists over UDP only; `both` is for servers. The subcommand and the problem.
fn transport_conflict(command: &Command) -> Option<(&'static str, &'static str)> {
    let (subcommand, protocol, transport) = match command {
        Command::Server(options) => ("server", options.protocol, Some(options.transport)),
        Command::Client(options) => ("client", options.protocol, options.transport),
        Command::Check(options) => ("check", options.protocol, options.transport),
        Command::CheckClient(options) => ("check-client", options.protocol, options.transport),
        Command::Demo | Command::Grade(_) => return None,
    };
    let conflict = match (protocol, transport) {
        (Protocol::Sntp, Some(Transport::Tcp)) => "SNTP runs over UDP only: use --transport udp",
        (_, Some(Transport::Both)) if subcommand != "server" => {
            "--transport both is for servers: choose tcp or udp"
        }
        _ => return None,
    };
    Some((subcommand, conflict))
}
