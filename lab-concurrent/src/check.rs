//! `lab-concurrent check --target HOST:PORT`: lab-tcp's wire-rule checks plus
//! concurrency: does the server serve a client while another one sits silent?

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use common::check::{TargetOptions, Transport};
use common::tcp_checks::{connect, read_expecting, run_protocol_checks};

/// Command-line options of `lab-concurrent check`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    target: TargetOptions,
}

/// How many clients the "at once" check opens.
const AT_ONCE: usize = 20;

/// Runs every check and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let (mut checks, target) = options.target.start(env!("CARGO_PKG_NAME"), Transport::Tcp);
    run_protocol_checks(&mut checks, target);
    let timeout = checks.timeout();
    checks.run(
        "a second client is served while a first one is connected and silent",
        move || {
            let _silent = connect(target, timeout)?;
            let mut second = connect(target, timeout)?;
            second.write_all(b"not blocked\n")?;
            read_expecting(&mut second, "reply", b"NOT BLOCKED\n")
        },
    );
    checks.run(
        "20 clients at once, all held open, each get their reply",
        move || {
            // Every connection stays open until all are answered: a server that serves
            // one client at a time answers the first, then waits on it for ever.
            let mut clients = (1..=AT_ONCE)
                .map(|number| {
                    connect(target, timeout).with_context(|| {
                        format!(
                            "client {number} of {AT_ONCE}, with {} connected and silent",
                            number - 1
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            // Clients are numbered from 1, as a report names them.
            for (number, client) in (1..).zip(clients.iter_mut()) {
                client.write_all(format!("client {number}\n").as_bytes())?;
            }
            for (number, client) in (1..).zip(clients.iter_mut()) {
                let expected = format!("CLIENT {number}\n");
                read_expecting(client, "reply", expected.as_bytes()).with_context(|| {
                    format!("client {number} of {AT_ONCE}, while the others stay connected")
                })?;
            }
            Ok(())
        },
    );
    checks.finish()
}
