//! Time (RFC 868): the time as 32 bits of seconds since 1900-01-01 00:00 UTC,
//! big-endian, and Cristian's algorithm, which is all a client can do with it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::seconds;

/// Seconds from 1900-01-01 (the epoch of RFC 868 and NTP) to 1970-01-01 (Unix's):
/// 70 years, 17 of them leap years.
pub const SECONDS_1900_TO_1970: u64 = (70 * 365 + 17) * 86_400;

/// RFC 868: seconds since 1900 as 32 bits. The count passes 2^32 on 2036-02-07 at
/// 06:28:16 UTC; the RFC has no room for more, so the value wraps to 0 there and
/// counts on (the "2036 problem" NTP shares: clients must pick the era closest to
/// their own clock).
pub fn rfc868_seconds(time: SystemTime) -> u32 {
    let unix = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // Truncation to 32 bits is the era wrap, on purpose.
    (unix + SECONDS_1900_TO_1970) as u32
}

/// Reads an RFC 868 value back as a time, choosing the era (the 136-year span of 2^32
/// seconds) that puts it closest to `near`, normally the local clock.
pub fn rfc868_to_time(seconds: u32, near: SystemTime) -> SystemTime {
    let near_1900 =
        near.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + SECONDS_1900_TO_1970;
    let era_length = 1_u64 << 32;
    let base = near_1900 - near_1900 % era_length;
    let candidates = [base.saturating_sub(era_length), base, base + era_length]
        .map(|era| era + u64::from(seconds));
    let best = candidates
        .into_iter()
        .min_by_key(|&candidate| candidate.abs_diff(near_1900))
        .unwrap_or(u64::from(seconds));
    UNIX_EPOCH + Duration::from_secs(best.saturating_sub(SECONDS_1900_TO_1970))
}

/// Cristian's algorithm for RFC 868: the server's time is taken to be `server` when
/// the reply was halfway back, so offset = server + round trip / 2 - (local time on
/// receipt). Only as good as RFC 868's one-second resolution.
pub fn cristian_offset(server: SystemTime, sent: SystemTime, received: SystemTime) -> (f64, f64) {
    let round_trip = seconds(received) - seconds(sent);
    (
        round_trip,
        seconds(server) + round_trip / 2.0 - seconds(received),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::at;

    #[test]
    fn rfc868_at_known_instants() {
        assert_eq!(rfc868_seconds(at(0)), 2_208_988_800);
        // RFC 868's own examples: 1980-01-01 00:00 GMT is 2,524,521,600.
        assert_eq!(rfc868_seconds(at(315_532_800)), 2_524_521_600);
        // 2036-02-07 06:28:16 UTC: 2^32 seconds since 1900, the value wraps to 0.
        assert_eq!(rfc868_seconds(at(2_085_978_496)), 0);
        assert_eq!(rfc868_seconds(at(2_085_978_496 + 5)), 5);
    }

    #[test]
    fn rfc868_era_is_chosen_near_the_local_clock() {
        let after_wrap = at(2_085_978_496 + 100);
        assert_eq!(rfc868_to_time(100, after_wrap), after_wrap);
        let now = at(1_795_000_000);
        assert_eq!(rfc868_to_time(rfc868_seconds(now), now), now);
    }

    #[test]
    fn cristian_assumes_the_reply_took_half_the_round_trip() {
        let sent = at(1000);
        let received = sent + Duration::from_millis(200);
        let (round_trip, offset) = cristian_offset(at(1005), sent, received);
        assert!((round_trip - 0.2).abs() < 1e-9);
        assert!((offset - 4.9).abs() < 1e-9, "{offset}");
    }
}
