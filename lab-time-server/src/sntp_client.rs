//! The SNTP client's exchange (RFC 4330 section 5): each try is a new request with
//! its own transmit timestamp T1, read from the clock just before its `send`, and a
//! reply counts only if it answers the latest try.
//!
//! `common::udp_client` sends the same bytes on every try, which SNTP cannot do: a
//! resend after a lost request would carry the first try's T1, and the measured
//! delay would swallow the whole retry timeout (2 s of delay, 1 s of offset, after
//! one loss). The server copies the request's transmit timestamp into the reply's
//! originate field, so the client knows which request a reply answers: one whose
//! originate is not the latest T1 (a late reply to an earlier try, or a copy) is
//! dropped, as RFC 4330 asks, and the client keeps waiting for its own.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, anyhow, bail};
use common::net;

use crate::protocol::{self, NTP_PACKET, NtpTimestamp, SntpReply};

/// A reply and the client's own two timestamps around it.
#[derive(Debug)]
pub struct Exchange {
    /// The server's reply; its originate is the transmit timestamp of `sent`.
    pub reply: SntpReply,
    /// T1: when the request this reply answers was sent.
    pub sent: SystemTime,
    /// T4: when the reply arrived.
    pub received: SystemTime,
}

/// How asking one address, or waiting for one reply, ended.
enum Wait {
    /// The reply to the latest request.
    Answered(Exchange),
    /// No reply to the latest request within the timeout.
    TimedOut,
    /// ICMP port unreachable: nothing listens there.
    Refused,
}

/// Asks `servers` (each address in turn), sending at most `tries` requests to each
/// and waiting `timeout` for each reply.
pub fn exchange(servers: &[SocketAddr], timeout: Duration, tries: u32) -> Result<Exchange> {
    let mut failure = anyhow!("no address for the server");
    for &server in servers {
        let mut strays = 0;
        failure = match ask(server, timeout, tries, &mut strays)? {
            Wait::Answered(exchange) => return Ok(exchange),
            Wait::Refused => anyhow!(
                "connection refused by {server}: no UDP server is running there; \
                 start it first, or check --host and --port",
                server = net::shown(server)
            ),
            Wait::TimedOut if strays == 0 => {
                anyhow!(
                    "no reply from {server} after {tries} tries",
                    server = net::shown(server)
                )
            }
            Wait::TimedOut => anyhow!(
                "no reply from {server} after {tries} tries: {strays} datagrams came back \
                 whose originate timestamp was not our request's transmit timestamp",
                server = net::shown(server)
            ),
        };
    }
    Err(failure)
}

/// Up to `tries` requests to one address, each with a fresh T1; counts in `strays`
/// the datagrams that answered none of them.
fn ask(server: SocketAddr, timeout: Duration, tries: u32, strays: &mut usize) -> Result<Wait> {
    // socket() + connect(): only this server's datagrams reach the socket, and an
    // ICMP "port unreachable" comes back as ConnectionRefused.
    let socket = net::udp_connected(server)?;
    for _ in 0..tries {
        // T1, just before send(): this try's own transmit timestamp.
        let sent = SystemTime::now();
        let request = protocol::sntp_request(NtpTimestamp::from_system_time(sent));
        // send(): one datagram, the 48-byte request (connected: no address needed).
        if let Err(error) = socket.send(&request) {
            if error.kind() == ErrorKind::ConnectionRefused {
                return Ok(Wait::Refused);
            }
            return Err(net::send_error(&error, server, request.len()));
        }
        match wait_for_reply(&socket, server, sent, timeout, strays)? {
            // Lost, or slow: send a new request, with a new T1.
            Wait::TimedOut => {}
            done => return Ok(done),
        }
    }
    Ok(Wait::TimedOut)
}

/// Waits up to `timeout` for the reply to the request sent at `sent`, dropping (and
/// counting in `strays`) the datagrams that answer something else.
fn wait_for_reply(
    socket: &UdpSocket,
    server: SocketAddr,
    sent: SystemTime,
    timeout: Duration,
    strays: &mut usize,
) -> Result<Wait> {
    let transmit = NtpTimestamp::from_system_time(sent);
    let deadline = Instant::now() + timeout;
    // Room for any datagram, so a wrong reply's length is told as it is.
    let mut datagram = vec![0; 65_536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Wait::TimedOut);
        }
        socket.set_read_timeout(Some(left))?;
        // recv(): the next datagram, or a timeout (`WouldBlock` on Unix).
        let length = match socket.recv(&mut datagram) {
            Ok(length) => length,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(Wait::TimedOut);
            }
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                return Ok(Wait::Refused);
            }
            Err(error) => bail!(
                "cannot receive from {server}: {error}",
                server = net::shown(server)
            ),
        };
        // T4, as soon as recv() returns.
        let received = SystemTime::now();
        if let Some(mix_up) = protocol::mix_up("sntp", "udp", &datagram[..length]) {
            bail!("{mix_up}");
        }
        let Some(reply) = protocol::parse_sntp_reply(&datagram[..length]) else {
            bail!("the server sent {length} bytes; an SNTP reply has at least {NTP_PACKET}");
        };
        // RFC 4330 section 5: the reply's originate must be our request's transmit
        // timestamp. Another one answers an earlier try, late: its T1 is not `sent`.
        if reply.originate == transmit {
            return Ok(Wait::Answered(Exchange {
                reply,
                sent,
                received,
            }));
        }
        *strays += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn replies_that_answer_no_request_of_ours_are_dropped() {
        let stand_in = UdpSocket::bind("127.0.0.1:0").unwrap();
        stand_in
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let server = stand_in.local_addr().unwrap();
        // Answers each of the two tries with a reply whose originate is not its T1.
        let answering = thread::spawn(move || {
            for _ in 0..2 {
                let mut request = [0; NTP_PACKET];
                let (_, client) = stand_in.recv_from(&mut request).unwrap();
                let mut reply = protocol::sntp_request(NtpTimestamp::default());
                reply[0] = (4 << 3) | protocol::MODE_SERVER;
                reply[1] = 1; // a usable stratum: only the originate is wrong
                reply[24..32].copy_from_slice(&[0xab; 8]); // originate: not ours
                stand_in.send_to(&reply, client).unwrap();
            }
        });
        let error = exchange(&[server], Duration::from_millis(200), 2).unwrap_err();
        answering.join().unwrap();
        assert_eq!(
            error.to_string(),
            format!(
                "no reply from {server} after 2 tries: 2 datagrams came back whose \
                 originate timestamp was not our request's transmit timestamp",
                server = net::shown(server)
            )
        );
    }
}
