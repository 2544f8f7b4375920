//! `lab-tcp check-client --client CMD`: grades any TCP uppercase client (a student's,
//! in any language) against scripted servers: one that answers at once, one that
//! cuts its reply into segments with pauses, one that closes mid-session.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use common::check::client::{ClientOptions, Session};
use common::upper::uppercase;

/// Command-line options of `lab-tcp check-client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    client: ClientOptions,
}

/// The pause between the pieces of a cut reply, each sent once the client has read
/// the one before: a client reading once gets only the first piece, and one that
/// reads on must wait for the rest.
const PIECE_PAUSE: Duration = Duration::from_millis(200);

/// Runs every check on the client and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let (mut checks, client) = options.client.start(env!("CARGO_PKG_NAME"));
    let graded = client.clone();
    checks.run("the reply is printed, and it exits 0", move || {
        let server = graded.scripted_tcp(answer_every_message)?;
        let run = graded.run(server, b"hello, world\n")?;
        run.expect_ended()?;
        run.expect_sent(b"hello, world", 1)?;
        run.expect_printed(b"HELLO, WORLD")?;
        run.expect_success()
    });

    let graded = client.clone();
    checks.run(
        "a reply in several segments, with pauses, is read whole",
        move || {
            let server = graded.scripted_tcp(answer_in_pieces)?;
            let run = graded.run(server, b"segmented reply\n")?;
            run.expect_ended()?;
            run.expect_printed(b"SEGMENTED REPLY").map_err(|error| {
                error.context("TCP is a byte stream: read until the reply is complete")
            })?;
            run.expect_success()
        },
    );

    let graded = client.clone();
    checks.run("each line is answered, in order", move || {
        let server = graded.scripted_tcp(answer_every_message)?;
        let run = graded.run(server, b"one\ntwo\nthree\n")?;
        run.expect_ended()?;
        // Each in turn: the detail names the first line our server did not receive.
        for line in [&b"one"[..], b"two", b"three"] {
            run.expect_sent(line, 1)?;
        }
        let printed = String::from_utf8_lossy(&run.stdout);
        let order: Vec<Option<usize>> = ["ONE", "TWO", "THREE"]
            .iter()
            .map(|reply| printed.find(reply))
            .collect();
        if order.iter().any(Option::is_none) || !order.is_sorted() {
            bail!("expected ONE, TWO, THREE in that order in its output, got \"{printed}\"");
        }
        run.expect_success()
    });

    let graded = client;
    checks.run(
        "a server that closes mid-session is noticed (an error on stderr, a non-zero exit)",
        move || {
            let server = graded.scripted_tcp(close_after_the_first_reply)?;
            let run = graded.run(server, b"one\ntwo\nthree\n")?;
            run.expect_ended()?;
            run.expect_printed(b"ONE")?;
            run.expect_sent(b"two", 1)?;
            run.expect_failure("the server closed the connection without answering 'two'")?;
            run.expect_complaint()
        },
    );
    checks.finish()
}

/// Each message answered at once with its uppercase, as our server does (a bare
/// message gets a bare reply).
fn answer_every_message(mut session: Session) {
    while let Some(message) = session.next_message() {
        if session.send(&uppercase(&message)).is_err() {
            return;
        }
    }
}

/// Each reply cut into three segments, 200 ms apart.
fn answer_in_pieces(mut session: Session) {
    while let Some(message) = session.next_message() {
        let reply = uppercase(&message);
        let third = reply.len() / 3;
        if session
            .send_in_pieces(&reply, &[third, 2 * third], PIECE_PAUSE)
            .is_err()
        {
            return;
        }
    }
}

/// The first message is answered; at the second, the server closes without a reply.
fn close_after_the_first_reply(mut session: Session) {
    let Some(first) = session.next_message() else {
        return;
    };
    let _ = session.send(&uppercase(&first));
    // close(): dropping the session, once the second message is in, closes the
    // connection mid-session.
    let _second = session.next_message();
}
