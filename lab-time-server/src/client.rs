//! The time client: asks a server for the time and says how far off the local clock is.
//!
//! Over TCP it connects and reads until the server closes (the whole reply, however
//! many segments it takes: not one 1024-byte `recv` as in the course's client). Over
//! UDP it sends one datagram and waits for one back, resending if it is lost
//! (`common::udp_client`); SNTP builds each resend anew, with its own transmit
//! timestamp (`sntp_client`).

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use chrono::{DateTime, Local};
use common::cli::parse_timeout;
use common::net;
use common::outln;
use common::shutdown::exit_quietly_on_ctrl_c;
use common::udp_client::{Message, UdpClient};

use crate::protocol::{self, DaytimeFormat};
use crate::sntp_client::{self, Exchange};
use crate::{Endpoint, Protocol, Transport};

/// Command-line options of `lab-time-server client`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Which protocol to speak
    #[arg(long, value_enum, default_value = "daytime")]
    pub protocol: Protocol,
    /// tcp or udp (default: udp for SNTP, tcp otherwise)
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// Seconds to wait for the reply (UDP: before sending again)
    #[arg(long, value_parser = parse_timeout, default_value = "2")]
    timeout: Duration,
    /// UDP: how many times to resend a request that got no reply
    #[arg(long, default_value_t = 3)]
    retries: u32,
}

/// The longest reply read over TCP: 64 KiB, far more than any time server sends
/// (a ctime line is 26 bytes). A server that sends more is not a time server.
const LONGEST_REPLY: usize = 64 * 1024;

/// What a query measured.
#[derive(Debug)]
pub struct Answer {
    /// The server's time, as text.
    pub time: String,
    /// Round-trip delay and local clock offset in seconds (time and SNTP only).
    pub delay_offset: Option<(f64, f64)>,
}

/// `lab-time-server client`: one query, printed like the course's client.
pub fn run(options: &Options) -> Result<ExitCode> {
    exit_quietly_on_ctrl_c();
    let transport = options.transport.unwrap_or(match options.protocol {
        Protocol::Sntp => Transport::Udp,
        _ => Transport::Tcp,
    });
    let servers = options.endpoint.resolve()?;
    let answer = query(
        &servers,
        options.protocol,
        transport,
        options.timeout,
        options.retries,
    )?;
    outln!("The time got from the server is {}", answer.time);
    if let Some((delay, offset)) = answer.delay_offset {
        outln!(
            "delay: {:.3} ms, offset: {:.3} ms",
            delay * 1e3,
            offset * 1e3
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks `servers` (each address in turn) for the time.
pub fn query(
    servers: &[SocketAddr],
    protocol: Protocol,
    transport: Transport,
    timeout: Duration,
    retries: u32,
) -> Result<Answer> {
    let tries = retries.saturating_add(1);
    match protocol {
        Protocol::Daytime => {
            let (reply, _, _) = fetch_or_name_sntp("daytime", servers, transport, timeout, tries)?;
            daytime_answer(&reply, transport)
        }
        Protocol::Time => {
            let (reply, sent, received) =
                fetch_or_name_sntp("time", servers, transport, timeout, tries)?;
            time_answer(&reply, transport, sent, received)
        }
        // UDP only (`main` refuses --transport tcp): each try is a new request.
        Protocol::Sntp => sntp_answer(sntp_client::exchange(servers, timeout, tries)?),
    }
}

/// [`fetch`]; when it gets no reply at all, asks once whether an SNTP server is
/// there instead. An SNTP server listens on UDP only and drops datagrams that are not
/// SNTP requests, so a daytime or time client meets a refused connection or silence,
/// which would send its user looking for a server that is running.
fn fetch_or_name_sntp(
    asked: &str,
    servers: &[SocketAddr],
    transport: Transport,
    timeout: Duration,
    tries: u32,
) -> Result<(Vec<u8>, SystemTime, SystemTime)> {
    let error = match fetch(servers, transport, timeout, tries) {
        Ok(fetched) => return Ok(fetched),
        Err(error) => error,
    };
    // One SNTP request per address: an error (refused, silence, another protocol's
    // reply) means no SNTP server is there, and the first error stands.
    let sntp_server = servers
        .iter()
        .find(|&&server| sntp_client::answers(server, timeout));
    match sntp_server {
        Some(server) => bail!(
            "no {asked} reply over {} from {}, but an SNTP server answers there (over \
             UDP): try --protocol sntp",
            transport_name(transport),
            net::shown(*server)
        ),
        None => Err(error),
    }
}

/// Daytime or time: the reply, and the local clock before asking and after it came.
fn fetch(
    servers: &[SocketAddr],
    transport: Transport,
    timeout: Duration,
    tries: u32,
) -> Result<(Vec<u8>, SystemTime, SystemTime)> {
    let (reply, sent) = match transport {
        Transport::Udp => {
            // Daytime and time answer any datagram, even an empty one. `sent` is
            // the try that was answered, not the first: a lost request's timeout is
            // not part of the round trip.
            let mut client = UdpClient::new(servers.to_vec(), timeout, tries);
            let answered = client.ask(&mut Message(&[]))?;
            return Ok((answered.reply, answered.sent, answered.received));
        }
        _ => {
            // The server answers as soon as it accepts: the round trip starts at
            // connect().
            let sent = SystemTime::now();
            // connect(), then recv() until the server closes: the whole reply.
            let stream = net::connect_any(servers, timeout)?;
            stream.set_read_timeout(Some(timeout))?;
            (read_to_close(stream)?, sent)
        }
    };
    Ok((reply, sent, SystemTime::now()))
}

/// `udp` or `tcp`, as the option spells it: a client uses one or the other.
fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "udp",
        _ => "tcp",
    }
}

fn daytime_answer(reply: &[u8], transport: Transport) -> Result<Answer> {
    protocol::refuse_mix_up("daytime", transport_name(transport), reply)?;
    let Some(line) = protocol::daytime_text(reply) else {
        if reply.iter().all(u8::is_ascii_whitespace) {
            bail!("the server sent an empty reply: is it a daytime server?");
        }
        bail!(
            "the server sent {} bytes that are not text: is it a daytime server?",
            reply.len()
        );
    };
    Ok(Answer {
        time: line.to_owned(),
        delay_offset: None,
    })
}

fn time_answer(
    reply: &[u8],
    transport: Transport,
    sent: SystemTime,
    received: SystemTime,
) -> Result<Answer> {
    protocol::refuse_mix_up("time", transport_name(transport), reply)?;
    let Ok(seconds) = <[u8; 4]>::try_from(reply) else {
        bail!(
            "the server sent {} bytes; an RFC 868 time is exactly 4: is it a time server?",
            reply.len()
        );
    };
    let server_time = protocol::rfc868_to_time(u32::from_be_bytes(seconds), received);
    Ok(Answer {
        time: local_ctime(server_time),
        delay_offset: Some(protocol::cristian_offset(server_time, sent, received)),
    })
}

/// RFC 4330's delay and offset from the four timestamps: T1 and T4 are the client's,
/// around the request this reply answers (its originate was checked to be T1).
fn sntp_answer(exchange: Exchange) -> Result<Answer> {
    let Exchange {
        reply,
        sent,
        received,
    } = exchange;
    if reply.mode != protocol::MODE_SERVER || reply.stratum == 0 {
        bail!(
            "not a usable SNTP reply (mode {}, stratum {}): is it an SNTP server?",
            reply.mode,
            reply.stratum
        );
    }
    let t2 = reply.receive.to_system_time(received);
    let t3 = reply.transmit.to_system_time(received);
    Ok(Answer {
        time: local_ctime(t3),
        delay_offset: Some(protocol::sntp_delay_offset(sent, t2, t3, received)),
    })
}

/// recv() until the server closes (recv returns 0): the whole reply, in however many
/// segments it comes, up to [`LONGEST_REPLY`].
pub fn read_to_close(stream: TcpStream) -> Result<Vec<u8>> {
    let server = net::shown(stream.peer_addr()?);
    let timeout = stream.read_timeout()?.unwrap_or_default().as_secs_f64();
    let mut reply = Vec::new();
    // One byte more than allowed, to tell "exactly the limit" from "more".
    let read = stream
        .take(LONGEST_REPLY as u64 + 1)
        .read_to_end(&mut reply);
    match read {
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            bail!(
                "{server} did not send the time and close the connection within \
                 {timeout:.1} s ({} bytes came): is it a daytime or time server?",
                reply.len()
            )
        }
        Err(error) => bail!("cannot receive from {server}: {error}"),
        Ok(_) => {}
    }
    if reply.len() > LONGEST_REPLY {
        bail!(
            "the server sent more than {} KiB without closing: is it a time server?",
            LONGEST_REPLY / 1024
        );
    }
    Ok(reply)
}

/// A time in the daytime server's ctime form, local time, without the CRLF.
fn local_ctime(time: SystemTime) -> String {
    let local: DateTime<Local> = time.into();
    protocol::daytime(&local, DaytimeFormat::Ctime)
        .trim_end()
        .to_owned()
}
