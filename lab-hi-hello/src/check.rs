//! `lab-hi-hello check --target HOST:PORT --transport tcp|udp`: conformance checks of
//! any hi-hello server.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use common::check::wording::reply_failed;
use common::check::{self, Checks, TargetOptions, exchange_datagram, expect_bytes};
use common::tcp_checks::{connect, expect_closed, read_expecting};

use crate::Transport;

/// Command-line options of `lab-hi-hello check`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    target: TargetOptions,
    /// tcp or udp
    #[arg(long, value_enum, default_value = "tcp")]
    transport: Transport,
}

/// The requests every server must answer, and the answers.
const GREETINGS: &[(&str, &[u8], &[u8])] = &[
    ("`hi` is answered `hello`", b"hi\n", b"hello\n"),
    ("case and white space are ignored", b"  HI \n", b"hello\n"),
    (
        "the reply keeps a CRLF line ending",
        b"Hi\r\n",
        b"hello\r\n",
    ),
    (
        "a bare `hi` (no newline) gets a bare `hello`",
        b"hi",
        b"hello",
    ),
    (
        "anything else is an unknown greeting",
        b"hey there\n",
        b"unknown greeting: hey there\n",
    ),
];

/// More requests for UDP, where `bye` ends nothing.
const UDP_ONLY: &[(&str, &[u8], &[u8])] = &[
    ("`bye` is answered `goodbye`", b"bye", b"goodbye"),
    (
        "bytes that are not UTF-8 do not stop the server",
        b"\xff\xfe",
        b"unknown greeting: \xff\xfe",
    ),
];

/// Runs every check for the chosen transport and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let transport = match options.transport {
        Transport::Tcp => check::Transport::Tcp,
        Transport::Udp => check::Transport::Udp,
    };
    let (mut checks, target) = options.target.start(env!("CARGO_PKG_NAME"), transport);
    match options.transport {
        Transport::Tcp => tcp_checks(&mut checks, target),
        Transport::Udp => udp_checks(&mut checks, target),
    }
    checks.finish()
}

fn tcp_checks(checks: &mut Checks, target: SocketAddr) {
    let timeout = checks.timeout();
    for &(name, request, expected) in GREETINGS {
        checks.run(name, move || {
            let mut conn = connect(target, timeout)?;
            conn.write_all(request)?;
            read_expecting(&mut conn, "answer", expected)
        });
    }
    checks.run("one session serves many greetings", move || {
        let mut conn = connect(target, timeout)?;
        conn.write_all(b"hi\nhi\nyo\n")?;
        let expected = b"hello\nhello\nunknown greeting: yo\n";
        read_expecting(&mut conn, "answers", expected)
    });
    checks.run(
        "`bye` is answered `goodbye` and ends the session",
        move || {
            let mut conn = connect(target, timeout)?;
            // First, the session goes on after an ordinary greeting: a server that
            // closes after every answer must not pass for obeying `bye`.
            for nth in ["first", "second"] {
                conn.write_all(b"hi\n")?;
                read_expecting(&mut conn, "answer", b"hello\n").with_context(|| {
                    format!("the session must go on after `hi` (the {nth} `hi`)")
                })?;
            }
            conn.write_all(b"bye\n")?;
            read_expecting(&mut conn, "answer", b"goodbye\n")?;
            expect_closed(&mut conn)
        },
    );
    checks.run(
        "a client is served while another is connected and silent",
        move || {
            let _silent = connect(target, timeout)?;
            let mut second = connect(target, timeout)?;
            second.write_all(b"hi\n")?;
            read_expecting(&mut second, "answer", b"hello\n")
        },
    );
}

fn udp_checks(checks: &mut Checks, target: SocketAddr) {
    let timeout = checks.timeout();
    for &(name, request, expected) in GREETINGS.iter().chain(UDP_ONLY) {
        checks.run(name, move || {
            let answer = exchange_datagram(target, request, timeout)
                .map_err(|error| reply_failed(&error, target, timeout))?;
            expect_bytes("answer", &answer, expected)
        });
    }
}
