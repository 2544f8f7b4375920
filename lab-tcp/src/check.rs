//! `lab-tcp check --target HOST:PORT` (or `--server CMD`): conformance checks of any
//! TCP uppercase server.

use std::process::ExitCode;

use common::check::{TargetOptions, Transport};
use common::tcp_checks::run_protocol_checks;

/// Command-line options of `lab-tcp check`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    target: TargetOptions,
}

/// Runs every check and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let (mut checks, target) = options.target.start(env!("CARGO_PKG_NAME"), Transport::Tcp);
    run_protocol_checks(&mut checks, target);
    checks.finish()
}
