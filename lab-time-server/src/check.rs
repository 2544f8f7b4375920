//! `lab-time-server check --target HOST:PORT --protocol P --transport T`: format and
//! behaviour checks of any time server.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Local, NaiveTime, Timelike};
use common::check::wording::reply_failed;
use common::check::{self, Checks, TargetOptions, exchange_datagram, expect_eq};
use common::tcp_checks::connect;

use crate::client::read_to_close;
use crate::protocol::{self, NtpTimestamp};
use crate::sntp_client;
use crate::{Protocol, Transport};

/// Command-line options of `lab-time-server check`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    target: TargetOptions,
    /// Which protocol the server speaks
    #[arg(long, value_enum, default_value = "daytime")]
    pub protocol: Protocol,
    /// tcp or udp (default: udp for SNTP, tcp otherwise)
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
}

/// How far a server's clock may be from ours and still pass.
const TOLERANCE_SECONDS: i64 = 5;

/// Runs the checks for the protocol and transport, and prints the score.
pub fn run(options: &Options) -> ExitCode {
    let udp = options.transport == Some(Transport::Udp) || options.protocol == Protocol::Sntp;
    let transport = match udp {
        true => check::Transport::Udp,
        false => check::Transport::Tcp,
    };
    let (mut checks, target) = options.target.start(env!("CARGO_PKG_NAME"), transport);
    let timeout = checks.timeout();
    let protocol_name = match options.protocol {
        Protocol::Time => "time",
        _ => "daytime",
    };
    let transport_name = if udp { "udp" } else { "tcp" };
    let fetch = move || {
        let fetched = if udp {
            ask_udp(target, b"\n", timeout)
        } else {
            read_whole_reply(target, timeout)
        };
        let reply = fetched.map_err(|error| {
            name_sntp_server(error, protocol_name, transport_name, target, timeout)
        })?;
        protocol::refuse_mix_up(protocol_name, transport_name, &reply)?;
        Ok(reply)
    };
    match options.protocol {
        Protocol::Daytime => {
            checks.run(
                "the reply is one printable ASCII line ending CRLF",
                move || {
                    let reply = fetch()?;
                    let Some(line) = reply.strip_suffix(b"\r\n") else {
                        bail!(
                            "the reply does not end with CRLF: \"{}\"",
                            check::shown(&reply)
                        );
                    };
                    if line.is_empty() || !line.iter().all(|b| (b' '..=b'~').contains(b)) {
                        bail!(
                            "not one line of printable ASCII: \"{}\"",
                            check::shown(&reply)
                        );
                    }
                    Ok(())
                },
            );
            checks.run(
                "the time is ctime, RFC 3339 or RFC 2822, near our clock",
                move || {
                    let reply = fetch()?;
                    daytime_near_now(String::from_utf8_lossy(&reply).trim_end())
                },
            );
        }
        Protocol::Time => {
            checks.run("the reply is exactly 4 bytes", move || {
                expect_eq("reply length", fetch()?.len(), 4)
            });
            checks.run("the time is within 5 s of our clock", move || {
                let reply = fetch()?;
                let Ok(seconds) = <[u8; 4]>::try_from(reply.as_slice()) else {
                    bail!("the reply is {} bytes, not 4", reply.len());
                };
                let theirs =
                    protocol::rfc868_to_time(u32::from_be_bytes(seconds), SystemTime::now());
                near_now(theirs)
            });
        }
        Protocol::Sntp => sntp_checks(&mut checks, target, timeout),
    }
    if !udp {
        checks.run(
            "the server closes the connection after the time",
            move || fetch().map(drop),
        );
    }
    checks.finish()
}

fn sntp_checks(checks: &mut Checks, target: SocketAddr, timeout: Duration) {
    checks.run("the reply is a 48-byte mode-4 packet", move || {
        let (reply, _) = sntp_exchange(target, 4, timeout)?;
        expect_eq("reply length", reply.len(), protocol::NTP_PACKET)?;
        expect_eq("mode", reply[0] & 0b111, protocol::MODE_SERVER)
    });
    checks.run(
        "originate is our transmit timestamp; version is copied",
        move || {
            let (reply, sent) = sntp_exchange(target, 3, timeout)?;
            let parsed = protocol::parse_sntp_reply(&reply).context("reply too short")?;
            expect_eq("originate", parsed.originate, sent)?;
            expect_eq("version", (reply[0] >> 3) & 0b111, 3)
        },
    );
    checks.run(
        "stratum is not 0 and the transmit time is near our clock",
        move || {
            let (reply, _) = sntp_exchange(target, 4, timeout)?;
            let parsed = protocol::parse_sntp_reply(&reply).context("reply too short")?;
            if parsed.stratum == 0 {
                bail!("stratum 0: a kiss-o'-death, clients must not use this reply");
            }
            near_now(parsed.transmit.to_system_time(SystemTime::now()))
        },
    );
    checks.run("a malformed request gets no reply", move || {
        let wait = timeout.min(Duration::from_millis(500));
        match exchange_datagram(target, b"not an NTP packet", wait) {
            Ok(reply) => bail!(
                "got {} bytes back: malformed requests must be dropped",
                reply.len()
            ),
            // Silence is the pass; a refusal (nothing listening) is not.
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(())
            }
            Err(error) => Err(reply_failed(&error, target, wait)),
        }
    });
}

/// A daytime or time check (`protocol` over `transport`) that got no reply: if an
/// SNTP server answers at `target` instead (asked once, waiting at most 0.5 s), says
/// so, and that `--protocol sntp` is what to give, rather than "is the server
/// running?" about a server that is running.
fn name_sntp_server(
    error: anyhow::Error,
    protocol: &str,
    transport: &str,
    target: SocketAddr,
    timeout: Duration,
) -> anyhow::Error {
    if sntp_client::answers(target, timeout.min(Duration::from_millis(500))) {
        anyhow::anyhow!(
            "no {protocol} reply over {transport}, but an SNTP server answers on {target} \
             (over UDP): check it with --protocol sntp"
        )
    } else {
        error
    }
}

/// Connects, reads until the server closes (bounded), returns the reply.
fn read_whole_reply(target: SocketAddr, timeout: Duration) -> Result<Vec<u8>> {
    // Our connection ends (when dropped) without leaving the server's port in TIME_WAIT.
    let conn = connect(target, timeout)?;
    read_to_close(conn.try_clone()?)
}

/// One request, one reply datagram (a read bounded by `timeout`), errors in plain words.
fn ask_udp(target: SocketAddr, request: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    exchange_datagram(target, request, timeout)
        .map_err(|error| reply_failed(&error, target, timeout))
}

/// One SNTP request of `version`; returns the reply and our transmit timestamp.
fn sntp_exchange(
    target: SocketAddr,
    version: u8,
    timeout: Duration,
) -> Result<(Vec<u8>, NtpTimestamp)> {
    let sent = NtpTimestamp::from_system_time(SystemTime::now());
    let mut request = protocol::sntp_request(sent);
    request[0] = (version << 3) | protocol::MODE_CLIENT;
    let reply = ask_udp(target, &request, timeout)?;
    protocol::refuse_mix_up("sntp", "udp", &reply)?;
    Ok((reply, sent))
}

fn near_now(theirs: SystemTime) -> Result<()> {
    let theirs: DateTime<Local> = theirs.into();
    let off = (theirs - Local::now()).num_seconds();
    if off.abs() > TOLERANCE_SECONDS {
        bail!("{off} s away from our clock");
    }
    Ok(())
}

/// A daytime line in one of the three forms, near our clock. ctime carries no time
/// zone, so only its minutes and seconds are held against our clock.
fn daytime_near_now(text: &str) -> Result<()> {
    if let Ok(time) =
        DateTime::parse_from_rfc3339(text).or_else(|_| DateTime::parse_from_rfc2822(text))
    {
        return near_now(time.into());
    }
    let ctime_clock = text
        .split_whitespace()
        .nth(3)
        .and_then(|clock| NaiveTime::parse_from_str(clock, "%H:%M:%S").ok());
    let well_formed = chrono::NaiveDateTime::parse_from_str(text, "%a %b %e %H:%M:%S %Y").is_ok();
    let (Some(clock), true) = (ctime_clock, well_formed) else {
        bail!("\"{text}\" is not ctime, RFC 3339 or RFC 2822");
    };
    let now = Local::now();
    let in_hour = |minute: u32, second: u32| i64::from(minute * 60 + second);
    let off = (in_hour(clock.minute(), clock.second()) - in_hour(now.minute(), now.second()))
        .rem_euclid(3600);
    if off.min(3600 - off) > TOLERANCE_SECONDS {
        bail!(
            "minutes and seconds are {}s away from our clock",
            off.min(3600 - off)
        );
    }
    Ok(())
}
