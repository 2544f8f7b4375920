//! `lab-udp check --target HOST:PORT` (or `--server CMD`): conformance checks of any
//! UDP uppercase server.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::check::wording::reply_failed;
use common::check::{
    RequestSocket, TargetOptions, Transport, exchange_datagram, expect_bytes, expect_eq,
};
use common::net;

/// Command-line options of `lab-udp check`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    target: TargetOptions,
}

/// Runs every check and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let (mut checks, target) = options.target.start(env!("CARGO_PKG_NAME"), Transport::Udp);
    let timeout = checks.timeout();
    let ask = move |message: &'static [u8], expected: &'static [u8]| {
        move || expect_bytes("reply", &request(target, message, timeout)?, expected)
    };
    checks.run(
        "a message is answered with its uppercase",
        ask(b"hello, world", b"HELLO, WORLD"),
    );
    checks.run(
        "full Unicode uppercasing (as Python's str.upper)",
        ask("straße ﬁx café".as_bytes(), "STRASSE FIX CAFÉ".as_bytes()),
    );
    checks.run("an empty datagram gets an empty reply", ask(b"", b""));
    checks.run(
        "bytes that are not UTF-8 pass through",
        ask(b"ab\xff\xfecd", b"AB\xff\xfeCD"),
    );
    checks.run_after_previous(
        "the server still answers after bad input",
        ask(b"still there?", b"STILL THERE?"),
    );
    checks.run("a largest-size datagram comes back whole", move || {
        let message = vec![b'x'; net::max_udp_payload(target)];
        let reply = request(target, &message, timeout)?;
        expect_eq("reply length", reply.len(), message.len())?;
        if reply.iter().any(|&b| b != b'X') {
            bail!("the reply is not all 'X'");
        }
        Ok(())
    });
    checks.run("the reply comes from the server's own address", move || {
        let socket = UdpSocket::bind(net::any_address(target))?;
        socket.set_read_timeout(Some(timeout))?;
        socket.send_to(b"who", target)?;
        let mut reply = [0; 64];
        let (_, from) = socket
            .recv_from(&mut reply)
            .map_err(|error| reply_failed(&error, target, timeout))?;
        expect_eq("reply source", from, target)
    });
    checks.run("two clients each get their own reply", move || {
        let first = RequestSocket::new(target, timeout)?;
        let second = RequestSocket::new(target, timeout)?;
        first.send(b"first")?;
        second.send(b"second")?;
        let mut reply = [0; 64];
        let length = second
            .recv(&mut reply)
            .map_err(|error| reply_failed(&error, target, timeout))
            .context("the second client")?;
        expect_bytes("second client's reply", &reply[..length], b"SECOND")?;
        let length = first
            .recv(&mut reply)
            .map_err(|error| reply_failed(&error, target, timeout))
            .context("the first client")?;
        expect_bytes("first client's reply", &reply[..length], b"FIRST")
    });
    checks.finish()
}

/// Sends one datagram on a fresh connected socket and returns the reply.
fn request(target: SocketAddr, message: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    exchange_datagram(target, message, timeout)
        .map_err(|error| reply_failed(&error, target, timeout))
}
