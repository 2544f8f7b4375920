//! SNTP (RFC 4330): 48-byte NTP packets with 64-bit timestamps, and the delay and
//! offset a client computes from the four timestamps of one exchange.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::rfc868::{rfc868_seconds, rfc868_to_time};
use super::seconds;

/// An NTP timestamp: 32 bits of seconds since 1900 (wrapping in 2036, like RFC 868)
/// and 32 bits of fraction of a second (units of 2^-32 s, about 233 ps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NtpTimestamp {
    /// Seconds since 1900-01-01 00:00 UTC, modulo 2^32.
    pub seconds: u32,
    /// Fraction of a second, in units of 2^-32 s.
    pub fraction: u32,
}

impl NtpTimestamp {
    /// The NTP timestamp of a system time.
    pub fn from_system_time(time: SystemTime) -> Self {
        let since_unix = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTimestamp {
            seconds: rfc868_seconds(time),
            fraction: fraction as u32,
        }
    }

    /// Back to a system time, in the era closest to `near`.
    pub fn to_system_time(self, near: SystemTime) -> SystemTime {
        let nanos = (u64::from(self.fraction) * 1_000_000_000) >> 32;
        rfc868_to_time(self.seconds, near) + Duration::from_nanos(nanos)
    }

    fn read(bytes: &[u8]) -> Self {
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        NtpTimestamp {
            seconds: word(0),
            fraction: word(4),
        }
    }

    fn write(self, bytes: &mut [u8]) {
        bytes[..4].copy_from_slice(&self.seconds.to_be_bytes());
        bytes[4..8].copy_from_slice(&self.fraction.to_be_bytes());
    }
}

/// Size of an NTP packet without extensions or authentication.
pub const NTP_PACKET: usize = 48;
/// Association mode of a symmetric active request: what an NTP daemon configured
/// with `peer` sends (RFC 5905 section 3).
pub const MODE_SYMMETRIC_ACTIVE: u8 = 1;
/// Association mode of the reply to a symmetric active request.
pub const MODE_SYMMETRIC_PASSIVE: u8 = 2;
/// Association mode of a client request.
pub const MODE_CLIENT: u8 = 3;
/// Association mode of a server reply.
pub const MODE_SERVER: u8 = 4;

/// The mode of the reply to a request of `mode`, if it is one a server answers (RFC
/// 4330 section 5): client (3) gets server (4), symmetric active (1) gets symmetric
/// passive (2), "so that clients configured in symmetric active mode operate
/// correctly". Every other mode is a reply or a broadcast (answering it could start
/// two servers answering each other forever), or an `ntpq` (6) or `ntpdc` (7) query
/// an SNTP server does not implement.
pub fn reply_mode(mode: u8) -> Option<u8> {
    match mode {
        MODE_CLIENT => Some(MODE_SERVER),
        MODE_SYMMETRIC_ACTIVE => Some(MODE_SYMMETRIC_PASSIVE),
        _ => None,
    }
}

/// What a mode means, for the log line of a request that is not answered.
fn mode_name(mode: u8) -> &'static str {
    match mode {
        0 => "reserved",
        MODE_SYMMETRIC_ACTIVE => "symmetric active",
        MODE_SYMMETRIC_PASSIVE => "symmetric passive, a reply",
        MODE_CLIENT => "client",
        MODE_SERVER => "server, a reply",
        5 => "broadcast",
        6 => "an ntpq control message",
        _ => "an ntpdc private message",
    }
}

/// What a server needs from a request: its mode and version (to answer in kind)
/// and its transmit timestamp (to return as the reply's originate timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SntpRequest {
    /// The mode of the reply: [`MODE_SERVER`] or [`MODE_SYMMETRIC_PASSIVE`].
    pub reply_mode: u8,
    /// NTP version number of the request (1 to 4).
    pub version: u8,
    /// The poll interval exponent, copied back.
    pub poll: u8,
    /// When the client sent it, by its clock.
    pub transmit: NtpTimestamp,
}

/// Why a datagram is not an SNTP request we answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// Fewer than 48 bytes.
    TooShort(usize),
    /// Neither mode 3 (client) nor mode 1 (symmetric active).
    NotARequest(u8),
    /// Version 0 or above 4.
    UnknownVersion(u8),
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadRequest::TooShort(0) => write!(
                f,
                "an empty datagram, not an NTP packet (48 bytes): daytime and time \
                 clients send one; is that client asking with the wrong --protocol?"
            ),
            BadRequest::TooShort(length) => {
                write!(f, "{length} bytes, an NTP packet has at least 48")
            }
            BadRequest::NotARequest(mode) => write!(
                f,
                "mode {mode} ({}): only client (3) and symmetric active (1) requests are \
                 answered",
                mode_name(*mode)
            ),
            BadRequest::UnknownVersion(version) => write!(f, "NTP version {version}"),
        }
    }
}

/// Parses a request: a client's, or a symmetric active peer's (RFC 4330 section 5).
pub fn parse_sntp_request(datagram: &[u8]) -> Result<SntpRequest, BadRequest> {
    if datagram.len() < NTP_PACKET {
        return Err(BadRequest::TooShort(datagram.len()));
    }
    let (version, mode) = ((datagram[0] >> 3) & 0b111, datagram[0] & 0b111);
    let reply_mode = reply_mode(mode).ok_or(BadRequest::NotARequest(mode))?;
    if !(1..=4).contains(&version) {
        return Err(BadRequest::UnknownVersion(version));
    }
    Ok(SntpRequest {
        reply_mode,
        version,
        poll: datagram[2],
        transmit: NtpTimestamp::read(&datagram[40..48]),
    })
}

/// Our stratum: a server whose only reference is its own undisciplined system clock
/// is no primary server (stratum 1, which claims GPS or an atomic clock). Stratum 10
/// is what ntpd's local-clock driver (`LOCL`) conventionally claims: usable, but
/// less trusted than any real source.
pub const STRATUM: u8 = 10;
/// Reference identifier of a local, undisciplined clock.
pub const REFERENCE_ID: [u8; 4] = *b"LOCL";
/// Precision of the system clock as a power of two seconds: 2^-20, about 1 µs.
pub const PRECISION: i8 = -20;

/// Builds the 48-byte reply, mode 4 (or 2 to a symmetric active request): version
/// copied, originate = the request's transmit timestamp, `received` taken on arrival,
/// `transmit` just before sending.
pub fn sntp_reply(
    request: &SntpRequest,
    received: NtpTimestamp,
    transmit: NtpTimestamp,
) -> [u8; NTP_PACKET] {
    let mut reply = [0; NTP_PACKET];
    // LI = 0 (no leap second warning), VN = the request's, mode 4 (server) or 2.
    reply[0] = (request.version << 3) | request.reply_mode;
    reply[1] = STRATUM;
    reply[2] = request.poll;
    reply[3] = PRECISION.to_be_bytes()[0];
    // Root delay and root dispersion (bytes 4..12): 0, the clock is our own.
    reply[12..16].copy_from_slice(&REFERENCE_ID);
    received.write(&mut reply[16..24]); // reference: when the clock was last "set"
    request.transmit.write(&mut reply[24..32]); // originate
    received.write(&mut reply[32..40]); // receive
    transmit.write(&mut reply[40..48]); // transmit
    reply
}

/// A client's request: version 4, mode 3, everything zero but the transmit timestamp.
pub fn sntp_request(transmit: NtpTimestamp) -> [u8; NTP_PACKET] {
    let mut request = [0; NTP_PACKET];
    request[0] = (4 << 3) | MODE_CLIENT;
    transmit.write(&mut request[40..48]);
    request
}

/// The fields of a server's reply a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SntpReply {
    /// Leap indicator (3: the server's clock is not synchronized).
    pub leap: u8,
    /// Mode: 4 for a server.
    pub mode: u8,
    /// Stratum (0: a "kiss of death", do not use).
    pub stratum: u8,
    /// T1: the client's transmit timestamp, returned.
    pub originate: NtpTimestamp,
    /// T2: when the server received the request.
    pub receive: NtpTimestamp,
    /// T3: when the server sent the reply.
    pub transmit: NtpTimestamp,
}

/// Parses a server's reply.
pub fn parse_sntp_reply(datagram: &[u8]) -> Option<SntpReply> {
    (datagram.len() >= NTP_PACKET).then(|| SntpReply {
        leap: datagram[0] >> 6,
        mode: datagram[0] & 0b111,
        stratum: datagram[1],
        originate: NtpTimestamp::read(&datagram[24..32]),
        receive: NtpTimestamp::read(&datagram[32..40]),
        transmit: NtpTimestamp::read(&datagram[40..48]),
    })
}

/// RFC 4330's round-trip delay and clock offset, in seconds, from the four
/// timestamps T1 (client sent), T2 (server received), T3 (server sent), T4 (client
/// received): delay = (T4 - T1) - (T3 - T2); offset = ((T2 - T1) + (T3 - T4)) / 2.
pub fn sntp_delay_offset(
    t1: SystemTime,
    t2: SystemTime,
    t3: SystemTime,
    t4: SystemTime,
) -> (f64, f64) {
    let (t1, t2, t3, t4) = (seconds(t1), seconds(t2), seconds(t3), seconds(t4));
    ((t4 - t1) - (t3 - t2), ((t2 - t1) + (t3 - t4)) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::at;

    #[test]
    fn ntp_timestamps_convert_both_ways() {
        let time = at(1_795_000_000) + Duration::from_millis(250);
        let stamp = NtpTimestamp::from_system_time(time);
        assert_eq!(stamp.seconds, 1_795_000_000 + 2_208_988_800);
        assert_eq!(stamp.fraction, 1 << 30); // a quarter of 2^32
        let back = stamp.to_system_time(time);
        let error = back.duration_since(time).unwrap_or_else(|e| e.duration());
        assert!(error < Duration::from_nanos(2), "{error:?}");
    }

    /// A request as `ntpdate -q` / `rdate -n` send it: LI 0, VN 4, mode 3.
    fn captured_request() -> [u8; NTP_PACKET] {
        let mut request = [0; NTP_PACKET];
        request[0] = 0x23;
        request[2] = 6; // poll
        request[40..48].copy_from_slice(&[0xEC, 0xAB, 0x12, 0x34, 0x80, 0, 0, 0]);
        request
    }

    #[test]
    fn sntp_reply_fields_from_a_captured_request() {
        let request = parse_sntp_request(&captured_request()).unwrap();
        assert_eq!(request.version, 4);
        let received = NtpTimestamp {
            seconds: 0xECAB_1235,
            fraction: 1,
        };
        let sent = NtpTimestamp {
            seconds: 0xECAB_1235,
            fraction: 2,
        };
        let reply = sntp_reply(&request, received, sent);
        assert_eq!(reply[0], 0x24, "LI 0, version 4 copied, mode 4");
        assert_eq!(reply[1], STRATUM);
        assert_eq!(reply[2], 6, "poll copied");
        assert_eq!(&reply[12..16], b"LOCL");
        assert_eq!(
            &reply[24..32],
            &captured_request()[40..48],
            "originate = request's transmit"
        );
        let parsed = parse_sntp_reply(&reply).unwrap();
        assert_eq!(
            (parsed.mode, parsed.receive, parsed.transmit),
            (MODE_SERVER, received, sent)
        );
        // A version 3 request gets a version 3 reply.
        let mut v3 = captured_request();
        v3[0] = 0x1B;
        assert_eq!(
            sntp_reply(&parse_sntp_request(&v3).unwrap(), received, sent)[0],
            0x1C
        );
    }

    #[test]
    fn a_symmetric_active_request_is_answered_in_symmetric_passive_mode() {
        // What ntpd configured with `peer` sends: LI 0, VN 4, mode 1.
        let mut request = captured_request();
        request[0] = 0x21;
        let parsed = parse_sntp_request(&request).unwrap();
        let stamp = NtpTimestamp {
            seconds: 0xECAB_1235,
            fraction: 7,
        };
        let reply = sntp_reply(&parsed, stamp, stamp);
        assert_eq!(reply[0], 0x22, "LI 0, version 4 copied, mode 2");
        assert_eq!(&reply[24..32], &request[40..48], "originate = its transmit");
        assert_eq!(reply[1], STRATUM);
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert_eq!(
            parse_sntp_request(&[0x23; 20]),
            Err(BadRequest::TooShort(20))
        );
        let mut server_mode = captured_request();
        server_mode[0] = 0x24;
        assert_eq!(
            parse_sntp_request(&server_mode),
            Err(BadRequest::NotARequest(4))
        );
        // A reply, a broadcast, an ntpq or ntpdc query: dropped, and the log says what.
        for mode in [0, 2, 4, 5, 6, 7] {
            let mut request = captured_request();
            request[0] = (4 << 3) | mode;
            assert_eq!(
                parse_sntp_request(&request),
                Err(BadRequest::NotARequest(mode))
            );
        }
        assert_eq!(
            BadRequest::NotARequest(6).to_string(),
            "mode 6 (an ntpq control message): only client (3) and symmetric active (1) \
             requests are answered"
        );
        let mut version_zero = captured_request();
        version_zero[0] = 0x03;
        assert_eq!(
            parse_sntp_request(&version_zero),
            Err(BadRequest::UnknownVersion(0))
        );
    }

    #[test]
    fn rfc4330_offset_and_delay() {
        // The server is 10 s ahead; 20 ms each way; 1 ms inside the server.
        let t1 = at(1000);
        let t2 = t1 + Duration::from_millis(10_020);
        let t3 = t2 + Duration::from_millis(1);
        let t4 = t1 + Duration::from_millis(41);
        let (delay, offset) = sntp_delay_offset(t1, t2, t3, t4);
        assert!((delay - 0.040).abs() < 1e-6, "{delay}");
        assert!((offset - 10.0).abs() < 1e-6, "{offset}");
    }
}
