//! `lab-hi-hello demo`: the server over TCP and UDP with a client for each, then two
//! peers greeting each other, all in one process.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};
use common::line_client::LineConnection;
use common::net;
use common::outln;
use common::report::Log;
use common::shutdown::Shutdown;
use common::udp_client::UdpClient;

use crate::peer::{Event, Peer};
use crate::{Endpoint, server};

const TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the demo; exits 0 only if every answer was right.
pub fn run() -> Result<ExitCode> {
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: 0,
    };
    outln!("-- client/server over TCP");
    let listener = server::listen(&endpoint)?;
    let tcp_address = listener.local_addr()?;
    let tcp_shutdown = Shutdown::new();
    let shutdown = tcp_shutdown.clone();
    let tcp_server =
        thread::spawn(move || server::serve_tcp(&listener, Log::new(true), None, shutdown));
    let stream = net::connect_any(&[tcp_address], TIMEOUT)?;
    let mut connection = LineConnection::new(stream, TIMEOUT, false)?;
    for (request, expected) in [
        ("hi", "hello"),
        ("HI there", "unknown greeting: HI there"),
        ("bye", "goodbye"),
    ] {
        let answer = connection
            .request(request.as_bytes())
            .map_err(|failure| failure.explain(tcp_address, TIMEOUT))?;
        show("client", request, &answer, expected)?;
    }
    // Each server stopped at the end of its part: its summary comes under it.
    stop(&tcp_shutdown, tcp_server)?;

    outln!("-- client/server over UDP");
    let socket = server::bind_udp(&endpoint)?;
    let udp_address = socket.local_addr()?;
    let udp_shutdown = Shutdown::new();
    let shutdown = udp_shutdown.clone();
    let udp_server = thread::spawn(move || server::serve_udp(&socket, Log::new(true), &shutdown));
    let mut client = UdpClient::new(vec![udp_address], TIMEOUT, 4);
    for (request, expected) in [("hi", "hello"), ("  Hi ", "hello")] {
        show(
            "client",
            request,
            &client.request(request.as_bytes())?,
            expected,
        )?;
    }
    stop(&udp_shutdown, udp_server)?;

    outln!("-- peer to peer over UDP (no server)");
    let local = "127.0.0.1:0".parse()?;
    let (mut alice, mut bob) = (Peer::bind(local)?, Peer::bind(local)?);
    alice.connect(bob.local_address()?)?;
    bob.connect(alice.local_address()?)?;
    let bob_greets = thread::spawn(move || bob.greet(TIMEOUT).map(|()| bob));
    alice.greet(TIMEOUT)?;
    let bob = match bob_greets.join() {
        Ok(greeted) => greeted?,
        Err(_) => bail!("a peer crashed"),
    };
    outln!("alice: connected to {}", alice.remote);
    alice.say(b"hi bob, no server between us")?;
    loop {
        match bob.receive(TIMEOUT)? {
            Event::Line(line) => {
                outln!("bob:   {}: {}", bob.remote, String::from_utf8_lossy(&line));
                break;
            }
            Event::Bye => bail!("alice left early"),
            Event::Nothing => {}
        }
    }

    outln!("demo: every greeting was answered as it should be");
    Ok(ExitCode::SUCCESS)
}

/// Stops a demo server as Ctrl-C would, and waits for it (and its summary line).
fn stop(shutdown: &Shutdown, server: thread::JoinHandle<Result<()>>) -> Result<()> {
    shutdown.request();
    match server.join() {
        Ok(outcome) => outcome,
        Err(_) => bail!("a demo server crashed"),
    }
}

fn show(who: &str, request: &str, answer: &[u8], expected: &str) -> Result<()> {
    outln!(
        "{who}: sends \"{request}\", receives \"{}\"",
        String::from_utf8_lossy(answer)
    );
    if answer != expected.as_bytes() {
        bail!("expected \"{expected}\"");
    }
    Ok(())
}
