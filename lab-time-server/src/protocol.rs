//! The three time protocols' wire formats, with no I/O, one file each.
//!
//! - daytime (RFC 867, `daytime.rs`): the time as a line of text; the format is not
//!   specified, so we send what NIT IT-553's Python server sends, `time.ctime()`.
//! - time (RFC 868, `rfc868.rs`): the time as a 32-bit big-endian count of seconds
//!   since 1900-01-01 00:00 UTC, and Cristian's algorithm to use it.
//! - SNTP (RFC 4330, `sntp.rs`): a 48-byte NTP packet carrying 64-bit timestamps (32
//!   bits of seconds since 1900, 32 bits of fraction), so a client can measure the
//!   round trip.
//!
//! `looks.rs` tells them apart, for a client that got another protocol's reply.

mod daytime;
mod looks;
mod rfc868;
mod sntp;

#[cfg(test)]
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

pub use daytime::{DaytimeFormat, daytime, daytime_now};
pub use looks::{daytime_text, refuse_mix_up};
pub use rfc868::{cristian_offset, rfc868_seconds, rfc868_to_time};
pub use sntp::{
    MODE_CLIENT, MODE_SERVER, NTP_PACKET, NtpTimestamp, SntpReply, parse_sntp_reply,
    parse_sntp_request, sntp_delay_offset, sntp_reply, sntp_request,
};

/// A time as seconds since 1970, negative before.
fn seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// A time `unix` seconds after 1970, for the tests.
#[cfg(test)]
fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}
