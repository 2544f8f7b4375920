//! `lab-time-server demo`: each protocol's server on a free loopback port, queried
//! over each transport, in one process.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};
use common::report::Log;
use common::shutdown::Shutdown;
use common::{out, outln};

use crate::client::query;
use crate::protocol::DaytimeFormat;
use crate::server::{self, Service};
use crate::{Endpoint, Protocol, Transport};

/// Runs the demo; exits 0 only if every query was answered.
pub fn run() -> Result<ExitCode> {
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: 0,
    };
    let plan = [
        (
            Protocol::Daytime,
            Transport::Both,
            &[Transport::Tcp, Transport::Udp][..],
        ),
        (
            Protocol::Time,
            Transport::Both,
            &[Transport::Tcp, Transport::Udp],
        ),
        (Protocol::Sntp, Transport::Udp, &[Transport::Udp]),
    ];
    for (protocol, transport, queries) in plan {
        outln!("-- {} server", cli_name(protocol));
        let sockets = server::bind(&endpoint, protocol, transport)?;
        let address = match (&sockets.tcp, &sockets.udp) {
            (Some(listener), _) => listener.local_addr()?,
            (None, Some(socket)) => socket.local_addr()?,
            (None, None) => bail!("no socket"),
        };
        let service = Service {
            protocol,
            format: DaytimeFormat::Ctime,
            log: Log::new(true),
        };
        let shutdown = Shutdown::new();
        let server_shutdown = shutdown.clone();
        let server = thread::spawn(move || server::serve(sockets, service, &server_shutdown));
        for &over in queries {
            let answer = query(&[address], protocol, over, Duration::from_secs(2), 3)?;
            out!(
                "client over {}: The time got from the server is {}",
                cli_name(over),
                answer.time
            );
            match answer.delay_offset {
                Some((delay, offset)) => outln!(
                    "; delay {:.3} ms, offset {:.3} ms",
                    delay * 1e3,
                    offset * 1e3
                ),
                None => outln!(),
            }
        }
        // Stopped as Ctrl-C would, before the next: its summary comes under its part.
        shutdown.request();
        match server.join() {
            Ok(outcome) => outcome?,
            Err(_) => bail!("a demo server crashed"),
        }
    }
    outln!("demo: every server answered");
    Ok(ExitCode::SUCCESS)
}

/// A protocol's or transport's name as the command line spells it (`sntp`, `udp`).
fn cli_name(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|name| name.get_name().to_owned())
        .unwrap_or_default()
}
