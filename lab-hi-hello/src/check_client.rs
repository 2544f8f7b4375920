//! `lab-hi-hello check-client --client CMD --transport tcp|udp`: grades any hi-hello
//! client (a student's, in any language) against scripted servers: one that answers
//! `hi` with `hello`, and a rude one that answers it with `go away`.

use std::net::UdpSocket;
use std::process::ExitCode;

use anyhow::{Result, bail};
use common::check::client::{ClientOptions, ClientUnderTest, Received, Session, recv_datagram};

use crate::Transport;
use crate::greeting::Message;

/// Command-line options of `lab-hi-hello check-client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    client: ClientOptions,
    /// tcp or udp
    #[arg(long, value_enum, default_value = "tcp")]
    transport: Transport,
}

/// How a scripted server answers a message.
type Answer = fn(&[u8]) -> Vec<u8>;

/// Runs every check on the client and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let (mut checks, client) = options.client.start(env!("CARGO_PKG_NAME"));
    let transport = options.transport;
    let scripted = move |client: &ClientUnderTest, answer: Answer| match transport {
        Transport::Tcp => client.scripted_tcp(move |session| serve_tcp(session, answer)),
        Transport::Udp => client.scripted_udp(move |socket, log| serve_udp(socket, log, answer)),
    };

    let graded = client.clone();
    checks.run(
        "`hi` is sent and the `hello` answer printed, and it exits 0",
        move || {
            let run = graded.run(scripted(&graded, polite)?, b"hi\n")?;
            run.expect_ended()?;
            expect_said_hi(&run.received)?;
            run.expect_printed(b"hello")?;
            run.expect_success()
        },
    );

    checks.run(
        "a rude answer to `hi` is reported by a non-zero exit",
        move || {
            let run = client.run(scripted(&client, rude)?, b"hi\n")?;
            run.expect_ended()?;
            expect_said_hi(&run.received)?;
            run.expect_failure("the server answered 'hi' with 'go away', not 'hello'")
        },
    );
    checks.finish()
}

/// The lab's own answers: `hello` to `hi`, and so on.
fn polite(message: &[u8]) -> Vec<u8> {
    Message::from_datagram(message).reply().0
}

/// `go away` to everything, keeping the request's line ending.
fn rude(message: &[u8]) -> Vec<u8> {
    let ending = Message::from_datagram(message).ending;
    [b"go away".as_slice(), ending].concat()
}

fn expect_said_hi(received: &Received) -> Result<()> {
    let greeted = received
        .all()
        .iter()
        .any(|message| message.trim_ascii().eq_ignore_ascii_case(b"hi"));
    if !greeted {
        bail!("our server never received 'hi'");
    }
    Ok(())
}

/// Each message answered until the client closes.
fn serve_tcp(mut session: Session, answer: Answer) {
    while let Some(message) = session.next_message() {
        if session.send(&answer(&message)).is_err() {
            return;
        }
    }
}

/// recvfrom() + sendto(): each datagram answered.
fn serve_udp(socket: &UdpSocket, received: &Received, answer: Answer) {
    while let Some((message, client)) = recv_datagram(socket, received) {
        let _ = socket.send_to(&answer(&message), client);
    }
}
