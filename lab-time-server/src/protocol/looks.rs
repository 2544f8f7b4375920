//! What a reply looks like, whatever was asked: a daytime client that asks a time
//! server gets 4 binary bytes and would print them as a time. The clients use this to
//! name the likely mix-up (`try --protocol time`) instead of printing nonsense.

use super::sntp::{MODE_SERVER, MODE_SYMMETRIC_PASSIVE, parse_sntp_reply};

/// What a reply looks like, whatever was asked: for the client that got something
/// other than it asked for to name the likely mix-up (a daytime client asking a time
/// server gets 4 binary bytes, and would print them as a time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Looks {
    /// A line of ASCII text, as daytime (RFC 867) sends: the text, without its line end.
    Daytime(String),
    /// Exactly 4 bytes that are not text: an RFC 868 time.
    Time,
    /// A 48-byte NTP packet from a server (mode 4 or 2, version 1 to 4).
    Sntp,
    /// None of these.
    Unknown,
}

/// The longest daytime line shown in an error: a daytime line is some 30 bytes.
const SHOWN_TEXT: usize = 60;

/// Says what `reply` looks like ([`Looks`]).
pub fn looks_like(reply: &[u8]) -> Looks {
    // A line of ASCII, as every daytime server sends (RFC 867 asks for ASCII, and
    // ctime, inetd and NIST end it with a line end): an RFC 868 time, 0xEC... until
    // 2036, is never taken for text, whose 4 bytes could happen to be printable UTF-8.
    let line = daytime_text(reply).filter(|_| reply.is_ascii() && reply.ends_with(b"\n"));
    if let Some(line) = line {
        return Looks::Daytime(line.chars().take(SHOWN_TEXT).collect());
    }
    if reply.len() == 4 {
        return Looks::Time;
    }
    match parse_sntp_reply(reply) {
        Some(packet)
            if matches!(packet.mode, MODE_SERVER | MODE_SYMMETRIC_PASSIVE)
                && (1..=4).contains(&((reply[0] >> 3) & 0b111)) =>
        {
            Looks::Sntp
        }
        _ => Looks::Unknown,
    }
}

/// `reply` as a daytime line, if it is one: printable text (UTF-8, no control
/// characters but tabs), on one line or a few, with something in it.
pub fn daytime_text(reply: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(reply).ok()?;
    let printable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'));
    let line = text.trim();
    (printable && !line.is_empty()).then_some(line)
}

/// The sentence for a reply that is not what `asked` (`daytime`, `time`, `sntp`)
/// sends, naming the protocol it looks like and the option to try; `transport` is
/// the one the client used (`udp` is added to the hint where the suggested protocol
/// would otherwise go over TCP).
fn mix_up(asked: &str, transport: &str, reply: &[u8]) -> Option<String> {
    let (looks, protocol) = match looks_like(reply) {
        Looks::Daytime(line) => (format!("a daytime reply (\"{line}\")"), "daytime"),
        Looks::Time => ("an RFC 868 time reply (4 binary bytes)".to_owned(), "time"),
        Looks::Sntp => ("an SNTP reply (48 bytes)".to_owned(), "sntp"),
        Looks::Unknown => return None,
    };
    if protocol == asked {
        return None;
    }
    let also = if transport == "udp" && protocol != "sntp" {
        " --transport udp"
    } else {
        ""
    };
    Some(format!(
        "this looks like {looks}, not {asked}: try --protocol {protocol}{also}"
    ))
}

/// Fails with [`mix_up`]'s sentence if `reply` looks like another protocol's than
/// `asked`: what a client or a check says instead of printing or judging it.
pub fn refuse_mix_up(asked: &str, transport: &str, reply: &[u8]) -> anyhow::Result<()> {
    match mix_up(asked, transport, reply) {
        Some(mix_up) => anyhow::bail!("{mix_up}"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::at;
    use crate::protocol::{NtpTimestamp, parse_sntp_request, rfc868_seconds, sntp_reply};

    /// A request as `ntpdate -q` sends it: LI 0, VN 4, mode 3.
    fn captured_request() -> [u8; 48] {
        let mut request = [0; 48];
        request[0] = 0x23;
        request
    }

    #[test]
    fn a_reply_of_another_time_protocol_is_named() {
        let daytime = b"Sat Nov 21 09:05:07 2026\r\n";
        let time = rfc868_seconds(at(1_795_000_000)).to_be_bytes();
        let stamp = NtpTimestamp::from_system_time(at(1_795_000_000));
        let request = parse_sntp_request(&captured_request()).unwrap();
        let sntp = sntp_reply(&request, stamp, stamp);
        assert_eq!(
            looks_like(daytime),
            Looks::Daytime("Sat Nov 21 09:05:07 2026".to_owned())
        );
        assert_eq!(looks_like(&time), Looks::Time);
        assert_eq!(looks_like(&sntp), Looks::Sntp);
        assert_eq!(looks_like(&[0xff; 7]), Looks::Unknown);
        assert_eq!(looks_like(b""), Looks::Unknown);
        assert_eq!(
            looks_like(b"12345678"),
            Looks::Unknown,
            "text, but not a line"
        );
        assert_eq!(
            mix_up("daytime", "tcp", &time).unwrap(),
            "this looks like an RFC 868 time reply (4 binary bytes), not daytime: \
             try --protocol time"
        );
        assert_eq!(
            mix_up("time", "udp", daytime).unwrap(),
            "this looks like a daytime reply (\"Sat Nov 21 09:05:07 2026\"), not time: \
             try --protocol daytime --transport udp"
        );
        assert_eq!(
            mix_up("sntp", "udp", &time).unwrap(),
            "this looks like an RFC 868 time reply (4 binary bytes), not sntp: \
             try --protocol time --transport udp"
        );
        assert_eq!(
            mix_up("time", "udp", &sntp).unwrap(),
            "this looks like an SNTP reply (48 bytes), not time: try --protocol sntp"
        );
        // What the protocol asked for is no mix-up.
        assert_eq!(mix_up("daytime", "tcp", daytime), None);
        assert_eq!(mix_up("time", "tcp", &time), None);
    }
}
