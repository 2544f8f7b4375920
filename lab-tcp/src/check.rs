//! `lab-tcp check --target HOST:PORT`: conformance checks of any TCP uppercase server.

use std::process::ExitCode;
use std::time::Duration;

use common::check::Checks;
use common::cli::parse_seconds;
use common::net;
use common::tcp_checks::run_protocol_checks;

/// Command-line options of `lab-tcp check`.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// The server to check, as HOST:PORT
    #[arg(long)]
    target: String,
    /// Seconds to wait for each connection and reply
    #[arg(long, value_parser = parse_seconds, default_value = "2")]
    timeout: Duration,
}

/// Runs every check and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let mut checks = Checks::new(options.timeout);
    match net::resolve_target(&options.target) {
        Ok(targets) => run_protocol_checks(&mut checks, targets[0]),
        Err(error) => checks.run("target resolves", move || Err(error)),
    }
    checks.finish()
}
