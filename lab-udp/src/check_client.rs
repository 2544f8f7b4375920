//! `lab-udp check-client --client CMD`: grades any UDP uppercase client (a student's,
//! in any language) against scripted servers: one that answers, one that loses the
//! first datagram, one whose reply comes late, one that never answers. With
//! `--pinger`, a UDP Pinger instead (`check_pinger.rs`).

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use common::check::client::{ClientOptions, Received, recv_datagram};
use common::input::strip_line_ending;
use common::upper::uppercase;

/// Command-line options of `lab-udp check-client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    client: ClientOptions,
    /// Grade a UDP Pinger (Kurose & Ross, assignment 2) instead: run once, with no
    /// input, against a server that drops three of its ten pings; given at least 15 s
    #[arg(long)]
    pinger: bool,
}

/// What a pinger may take at least: ten pings a second apart, the last one's 1 s
/// timeout, and its start.
const PINGER_TIME_LIMIT: Duration = Duration::from_secs(15);

/// Runs every check on the client and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let mut client_options = options.client.clone();
    if options.pinger {
        client_options.timeout = client_options.timeout.max(PINGER_TIME_LIMIT);
    }
    let (mut checks, client) = client_options.start(env!("CARGO_PKG_NAME"));
    if options.pinger {
        return crate::check_pinger::run(checks, client);
    }

    let graded = client.clone();
    checks.run("the reply is printed, and it exits 0", move || {
        let server = graded.scripted_udp(answer_every_datagram)?;
        let run = graded.run(server, b"hello, world\n")?;
        run.expect_ended()?;
        run.expect_sent(b"hello, world", 1)?;
        run.expect_printed(b"HELLO, WORLD")?;
        run.expect_success()
    });

    let graded = client.clone();
    checks.run(
        "a lost datagram is sent again (the first one is dropped)",
        move || {
            let server = graded.scripted_udp(drop_the_first_datagram)?;
            let run = graded.run(server, b"lost once\n")?;
            run.expect_ended()?;
            run.expect_sent(b"lost once", 2)
                .context("the client must send again when no reply comes within its timeout")?;
            run.expect_printed(b"LOST ONCE")?;
            run.expect_success()
        },
    );

    let graded = client.clone();
    checks.run(
        "a late reply is not taken for the next message's reply",
        move || {
            let server = graded.scripted_udp(answer_the_first_try_late)?;
            let run = graded.run(server, b"one\ntwo\n")?;
            run.expect_ended()?;
            run.expect_sent(b"two", 1)?;
            run.expect_printed(b"ONE")?;
            run.expect_printed(b"TWO").map_err(|error| {
                error.context(
                    "the late reply to 'one' was taken as the reply to 'two': use a fresh \
                     socket per message, or match replies to requests",
                )
            })?;
            run.expect_success()
        },
    );

    let graded = client;
    checks.run(
        "a silent server ends in an error on stderr and a non-zero exit",
        move || {
            let server = graded.scripted_udp(never_answer)?;
            let run = graded.run(server, b"anyone there?\n")?;
            run.expect_ended()?;
            run.expect_sent(b"anyone there?", 1)?;
            run.expect_failure("no reply ever came, yet it reports success")?;
            run.expect_complaint()?;
            run.expect_not_printed(b"ANYONE THERE?", "no reply ever came")
        },
    );
    checks.finish()
}

/// recvfrom() + sendto(): each datagram answered with its uppercase, as our server does.
fn answer_every_datagram(socket: &UdpSocket, received: &Received) {
    while let Some((datagram, client)) = recv_datagram(socket, received) {
        let _ = socket.send_to(&uppercase(&datagram), client);
    }
}

/// The first datagram is lost (never answered); every later one is answered.
fn drop_the_first_datagram(socket: &UdpSocket, received: &Received) {
    if recv_datagram(socket, received).is_some() {
        answer_every_datagram(socket, received);
    }
}

/// The first try of `one` is answered only later, when `two` comes in, just before
/// `two`'s own reply: a client that reads any datagram as the reply to its latest
/// message prints `ONE` twice.
fn answer_the_first_try_late(socket: &UdpSocket, received: &Received) {
    let mut first_try: Option<(Vec<u8>, SocketAddr)> = None;
    let mut late_reply_sent = false;
    while let Some((datagram, client)) = recv_datagram(socket, received) {
        let message = strip_line_ending(datagram.clone());
        if message == b"one" && first_try.is_none() {
            first_try = Some((datagram, client));
            continue;
        }
        if message != b"one" && !late_reply_sent {
            if let Some((earlier, earlier_client)) = &first_try {
                let _ = socket.send_to(&uppercase(earlier), earlier_client);
                late_reply_sent = true;
            }
        }
        let _ = socket.send_to(&uppercase(&datagram), client);
    }
}

/// Receives and never answers.
fn never_answer(socket: &UdpSocket, received: &Received) {
    while recv_datagram(socket, received).is_some() {}
}
