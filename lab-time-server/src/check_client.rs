//! `lab-time-server check-client --client CMD --protocol P --transport T`: grades any
//! time client (a student's, in any language) against scripted servers: one that
//! answers at once, one that sends its TCP reply in two segments, one that loses the
//! first UDP request.
//!
//! The scripted servers send a time that is not now, 2001-02-03 04:05:06 UTC, so a
//! client that prints its own clock instead of the server's is caught.

use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use chrono::{DateTime, Local, Utc};
use common::check::client::{ClientOptions, ClientRun, Received, Session, recv_datagram};

use crate::protocol::{self, DaytimeFormat, NtpTimestamp};
use crate::{Protocol, Transport};

/// Command-line options of `lab-time-server check-client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    client: ClientOptions,
    /// Which protocol the client speaks
    #[arg(long, value_enum, default_value = "daytime")]
    pub protocol: Protocol,
    /// tcp or udp (default: udp for SNTP, tcp otherwise)
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
}

/// The time the scripted servers send: 2001-02-03 04:05:06 UTC.
const SENT_UNIX_SECONDS: u64 = 981_173_106;

/// The pause between the two segments of a cut reply (the second is sent once the
/// client has read the first, then after this pause).
const PIECE_PAUSE: Duration = Duration::from_millis(200);

fn sent_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SENT_UNIX_SECONDS)
}

/// Runs the checks for the protocol and transport, and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let (mut checks, client) = options.client.start(env!("CARGO_PKG_NAME"));
    let protocol = options.protocol;
    let udp = options.transport == Some(Transport::Udp) || protocol == Protocol::Sntp;
    if udp {
        let graded = client.clone();
        checks.run("the server's time is printed, and it exits 0", move || {
            let server =
                graded.scripted_udp(move |socket, log| answer(socket, log, protocol, 0))?;
            let run = graded.run(server, b"")?;
            run.expect_ended()?;
            run.expect_requests(1)?;
            expect_time_printed(&run, protocol)?;
            run.expect_success()
        });
        let graded = client.clone();
        checks.run(
            "a lost request is sent again (the first one is dropped)",
            move || {
                let server =
                    graded.scripted_udp(move |socket, log| answer(socket, log, protocol, 1))?;
                let run = graded.run(server, b"")?;
                run.expect_ended()?;
                run.expect_requests(2)
                    .context("the client must send again when no reply comes within its timeout")?;
                expect_time_printed(&run, protocol)?;
                run.expect_success()
            },
        );
        if protocol == Protocol::Sntp {
            checks.run(
                "the request is a 48-byte client (mode 3) packet",
                move || {
                    let server =
                        client.scripted_udp(move |socket, log| answer(socket, log, protocol, 0))?;
                    let run = client.run(server, b"")?;
                    run.expect_ended()?;
                    run.expect_requests(1)?;
                    let request = run.received.all().swap_remove(0);
                    protocol::parse_sntp_request(&request)
                        .map(drop)
                        .map_err(|problem| anyhow::anyhow!("the request is {problem}"))
                },
            );
        }
    } else {
        let graded = client.clone();
        checks.run("the server's time is printed, and it exits 0", move || {
            let server = graded.scripted_tcp(move |session| send_time(session, protocol, 0))?;
            let run = graded.run(server, b"")?;
            run.expect_ended()?;
            expect_time_printed(&run, protocol)?;
            run.expect_success()
        });
        checks.run(
            "a reply in two segments is read whole (until the server closes)",
            move || {
                let cut = match protocol {
                    Protocol::Time => 2,
                    _ => 10,
                };
                let server =
                    client.scripted_tcp(move |session| send_time(session, protocol, cut))?;
                let run = client.run(server, b"")?;
                run.expect_ended()?;
                expect_time_printed(&run, protocol).map_err(|error| {
                    error.context("TCP is a byte stream: read until the server closes")
                })?;
                run.expect_success()
            },
        );
    }
    checks.finish()
}

/// The reply to `request` in `protocol`, carrying [`sent_time`]; `None` for an SNTP
/// request that is not one.
fn reply_to(request: &[u8], protocol: Protocol) -> Option<Vec<u8>> {
    let time = sent_time();
    match protocol {
        Protocol::Daytime => {
            let utc: DateTime<Utc> = time.into();
            Some(protocol::daytime(&utc, DaytimeFormat::Ctime).into_bytes())
        }
        Protocol::Time => Some(protocol::rfc868_seconds(time).to_be_bytes().to_vec()),
        Protocol::Sntp => {
            let parsed = protocol::parse_sntp_request(request).ok()?;
            let stamp = NtpTimestamp::from_system_time(time);
            Some(protocol::sntp_reply(&parsed, stamp, stamp).to_vec())
        }
    }
}

/// UDP: answers every datagram but the first `dropped` ones.
fn answer(socket: &UdpSocket, received: &Received, protocol: Protocol, dropped: usize) {
    let mut seen = 0;
    while let Some((request, client)) = recv_datagram(socket, received) {
        seen += 1;
        if seen <= dropped {
            continue; // lost
        }
        if let Some(reply) = reply_to(&request, protocol) {
            let _ = socket.send_to(&reply, client);
        }
    }
}

/// TCP: sends the time (cut after `cut` bytes, if not 0, with a pause), then closes.
fn send_time(mut session: Session, protocol: Protocol, cut: usize) {
    // Daytime and time answer any request, and SNTP is UDP only: there is always a
    // reply (an empty one would be blamed on the client under test).
    let Some(reply) = reply_to(&[], protocol) else {
        unreachable!("{protocol:?} is never served over TCP")
    };
    let cuts: &[usize] = if cut == 0 { &[] } else { &[cut] };
    let _ = session.send_in_pieces(&reply, cuts, PIECE_PAUSE);
    // close(): dropping the session ends the reply.
}

/// Fails unless the client printed the time we sent: the daytime text whole, or for
/// time and SNTP its clock time (04:05:06 UTC, or the same instant in local time).
fn expect_time_printed(run: &ClientRun, protocol: Protocol) -> Result<()> {
    if protocol == Protocol::Daytime {
        let utc: DateTime<Utc> = sent_time().into();
        let text = protocol::daytime(&utc, DaytimeFormat::Ctime);
        return run.expect_printed(text.trim_end().as_bytes());
    }
    let utc: DateTime<Utc> = sent_time().into();
    let local: DateTime<Local> = sent_time().into();
    let clocks = [utc.format("%H:%M:%S"), local.format("%H:%M:%S")].map(|c| c.to_string());
    run.expect_printed_one_of(
        &[clocks[0].as_bytes(), clocks[1].as_bytes()],
        &format!(
            "the server's time ({} UTC)",
            utc.format("%Y-%m-%d %H:%M:%S")
        ),
    )
}
