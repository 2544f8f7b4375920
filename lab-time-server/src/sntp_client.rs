//! The SNTP client's request (RFC 4330 section 5), as the shared UDP request loop
//! (`common::udp_client`) sends it: each try is a new request with its own transmit
//! timestamp T1, read from the clock just before its `send`, and a reply counts only
//! if it answers the latest try.
//!
//! A resend of the same bytes after a lost request would carry the first try's T1,
//! and the measured delay would swallow the whole retry timeout (2 s of delay, 1 s of
//! offset, after one loss). The server copies the request's transmit timestamp into
//! the reply's originate field, so the client knows which request a reply answers:
//! one whose originate is not the latest T1 (a late reply to an earlier try, or a
//! copy) is dropped, as RFC 4330 asks, and the client keeps waiting for its own.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use common::udp_client::{Answered, Request, UdpClient};

use crate::protocol::{self, NTP_PACKET, NtpTimestamp, SntpReply};

/// A reply and the client's own two timestamps around it: `sent` is T1, the
/// transmit timestamp of the request it answers (its originate), `received` T4.
pub type Exchange = Answered<SntpReply>;

/// Asks `servers` (each address in turn), sending at most `tries` requests to each
/// and waiting `timeout` for each reply.
pub fn exchange(servers: &[SocketAddr], timeout: Duration, tries: u32) -> Result<Exchange> {
    UdpClient::new(servers.to_vec(), timeout, tries).ask(&mut SntpRequest::new())
}

/// Whether an SNTP server answers at `server` one request within `timeout`: what a
/// daytime or time client, or check, that got nothing asks before saying so. An SNTP
/// server listens on UDP only and drops what is not an SNTP request, so asking it
/// for daytime or time meets a refused connection or silence.
pub fn answers(server: SocketAddr, timeout: Duration) -> bool {
    exchange(&[server], timeout, 1).is_ok()
}

/// The latest try's request, kept to tell its reply from the others.
struct SntpRequest {
    /// T1 of the latest try, written in its transmit field.
    transmit: NtpTimestamp,
    datagram: [u8; NTP_PACKET],
}

impl SntpRequest {
    /// Before the first try: nothing sent yet.
    fn new() -> Self {
        SntpRequest {
            transmit: NtpTimestamp::default(),
            datagram: [0; NTP_PACKET],
        }
    }
}

impl Request for SntpRequest {
    type Reply = SntpReply;
    const STRAY: &'static str =
        "whose originate timestamp was not our request's transmit timestamp";

    /// A new 48-byte request whose transmit timestamp is `sent`: this try's own T1.
    fn datagram(&mut self, sent: SystemTime) -> &[u8] {
        self.transmit = NtpTimestamp::from_system_time(sent);
        self.datagram = protocol::sntp_request(self.transmit);
        &self.datagram
    }

    /// RFC 4330 section 5: the reply's originate must be the latest request's
    /// transmit timestamp; another one answers an earlier try, late. A datagram too
    /// short to be an SNTP reply is an error at once.
    fn answer(&mut self, datagram: &[u8]) -> Result<Option<SntpReply>> {
        // A daytime line or an RFC 868 time: the wrong --protocol, said as such.
        protocol::refuse_mix_up("sntp", "udp", datagram)?;
        let Some(reply) = protocol::parse_sntp_reply(datagram) else {
            bail!(
                "the server sent {} bytes; an SNTP reply has at least {NTP_PACKET}",
                datagram.len()
            );
        };
        Ok((reply.originate == self.transmit).then_some(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::testkit::stand_in_udp_socket;
    use std::thread;

    /// A reply to `request` (its transmit timestamp copied as the originate).
    fn reply_to(request: &[u8]) -> [u8; NTP_PACKET] {
        let mut reply = protocol::sntp_request(NtpTimestamp::default());
        reply[0] = (4 << 3) | protocol::MODE_SERVER;
        reply[1] = 10; // stratum: any synchronized server
        reply[24..32].copy_from_slice(&request[40..48]);
        reply
    }

    #[test]
    fn a_late_reply_to_an_earlier_try_is_dropped_for_the_latest_tries_reply() {
        let (stand_in, server) = stand_in_udp_socket();
        let answering = thread::spawn(move || {
            let mut first = [0; NTP_PACKET];
            let mut second = [0; NTP_PACKET];
            let (_, client) = stand_in.recv_from(&mut first).unwrap();
            stand_in.recv_from(&mut second).unwrap();
            // The first try's reply, held up on the way, comes just before the second's.
            stand_in.send_to(&reply_to(&first), client).unwrap();
            stand_in.send_to(&reply_to(&second), client).unwrap();
            second
        });
        let exchange = exchange(&[server], Duration::from_millis(300), 3).unwrap();
        let second = answering.join().unwrap();
        let t1 = NtpTimestamp::from_system_time(exchange.sent);
        assert_eq!(
            exchange.reply.originate, t1,
            "the reply taken answers the try whose send time is reported"
        );
        assert_eq!(
            protocol::sntp_request(t1)[40..48],
            second[40..48],
            "and that try is the second"
        );
    }

    #[test]
    fn replies_that_answer_no_request_of_ours_are_dropped() {
        let (stand_in, server) = stand_in_udp_socket();
        // Answers each of the two tries with a reply whose originate is not its T1.
        let answering = thread::spawn(move || {
            for _ in 0..2 {
                let mut request = [0; NTP_PACKET];
                let (_, client) = stand_in.recv_from(&mut request).unwrap();
                request[40..48].copy_from_slice(&[0xab; 8]); // its originate: not ours
                stand_in.send_to(&reply_to(&request), client).unwrap();
            }
        });
        let error = exchange(&[server], Duration::from_millis(200), 2).unwrap_err();
        answering.join().unwrap();
        assert_eq!(
            error.to_string(),
            format!(
                "no reply from {server} after 2 tries: 2 datagrams came back whose \
                 originate timestamp was not our request's transmit timestamp"
            )
        );
    }
}
