//! `lab-udp demo`: a server on a free loopback port and a client talking to it, in one
//! process, printing the exchange.

use std::net::UdpSocket;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};
use common::outln;
use common::report::{Log, printable};
use common::shutdown::Shutdown;
use common::udp_client::UdpClient;
use common::upper::uppercase;

use crate::netem::Netem;
use crate::{Endpoint, server};

/// Runs the demo; exits 0 only if every reply was right.
pub fn run() -> Result<ExitCode> {
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: 0,
    };
    let socket: UdpSocket = server::bind(&endpoint)?;
    let address = socket.local_addr()?;
    let shutdown = Shutdown::new();
    let server_shutdown = shutdown.clone();
    let server = thread::spawn(move || {
        server::serve(
            &socket,
            false,
            Netem::none(),
            Log::new(true),
            &server_shutdown,
        )
    });

    outln!("server: waiting for datagrams on {address} (udp)");
    let mut client = UdpClient::new(vec![address], Duration::from_secs(1), 4);
    let mut all_right = true;
    for message in [
        "hello, udp",
        "straße café ﬁsh",
        "",
        "each datagram is a message",
    ] {
        outln!(
            "client: sends   \"{}\" ({} bytes)",
            printable(message.as_bytes()),
            message.len()
        );
        let reply = client.request(message.as_bytes())?;
        outln!("client: receives \"{}\"", printable(&reply));
        all_right &= reply == uppercase(message.as_bytes());
    }
    shutdown.request();
    match server.join() {
        Ok(outcome) => outcome?,
        Err(_) => bail!("the demo server crashed"),
    }
    if !all_right {
        bail!("a reply was not the uppercase of its message");
    }
    outln!("demo: every datagram came back uppercased");
    Ok(ExitCode::SUCCESS)
}
