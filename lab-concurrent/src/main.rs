//! lab-concurrent: serving many clients. lab-tcp's uppercase protocol served by seven
//! models (iterative, thread, pool, prefork, fork, event, async), measured with one
//! load generator, in the manner of Stevens' *UNIX Network Programming*, chapter 30.
//!
//! There is no client of its own: lab-tcp's client, `nc`, or the course's Python
//! clients talk to it. See this lab's README.md.

mod bench;
mod check;
mod demo;
mod models;
mod server;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// The CPE 314 servers' port.
const DEFAULT_PORT: u16 = 50000;

/// `--host` and `--port`, defaulting to 127.0.0.1:50000.
type Endpoint = common::net::Endpoint<DEFAULT_PORT>;

/// Seven ways to serve many clients, and a load generator to compare them.
#[derive(Parser)]
#[command(name = "lab-concurrent", version, long_about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const ABOUT: &str = "Serving many clients: seven server models over one protocol.

The service is lab-tcp's uppercase protocol. --model chooses how clients are served:
iterative (one at a time), thread (a thread each), pool (a fixed set of threads fed
by a queue), prefork (a fixed set of processes, each in accept), fork (a process
each), event (non-blocking sockets, epoll/kqueue) or async (a tokio task each).
`bench` loads any of them and prints messages per second and latency; `--sweep` and
`--plot` chart them against the number of clients.

Try: lab-concurrent server --model thread          (terminal 1)
     lab-tcp client --port 50000                   (terminals 2, 3, ...)
     lab-concurrent demo
     lab-concurrent bench --duration 3";

#[derive(Subcommand)]
enum Command {
    /// Serve clients with the chosen model until Ctrl-C
    Server(server::Options),
    /// Load a server (or each model in turn) and report throughput and latency
    Bench(bench::Options),
    /// Iterative, threaded and pool servers side by side, with a silent client
    Demo,
    /// Check any uppercase server, including that it serves clients concurrently
    Check(check::Options),
    /// Grade a class: each SUBMISSION_DIR with check (--server)
    Grade(common::check::grade::Args),
    /// None of its own: lab-tcp's client talks to every model
    #[command(hide = true)]
    Client {
        /// Whatever was given: the hint is the same.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ignored: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli: Cli = common::cli::parse();
    common::cli::finish(match cli.command {
        Command::Server(options) => server::run(&options),
        Command::Bench(options) => bench::run(&options),
        Command::Demo => demo::run(),
        Command::Check(options) => Ok(check::run(&options)),
        Command::Grade(args) => common::check::grade::run(&args, &Cli::command()),
        Command::Client { .. } => common::cli::usage_error(
            "lab-concurrent has no client of its own: lab-tcp's client talks to every \
             model; use: cargo run -p lab-tcp -- client --port 50000",
        ),
    })
}
