//! Daytime (RFC 867): the time as one line of text. The RFC leaves the format free;
//! we send what NIT IT-553's Python server sends, `time.ctime()` in local time.

use chrono::{DateTime, Local, TimeZone};

/// How the daytime server writes the time.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaytimeFormat {
    /// `Sat Nov 21 09:05:07 2026`: Python's `time.ctime()` and C's `ctime(3)`, local time
    Ctime,
    /// `2026-11-21T09:05:07+01:00`
    Rfc3339,
    /// `Sat, 21 Nov 2026 09:05:07 +0100`
    Rfc2822,
}

/// The daytime reply: the time in `format`, then CRLF (RFC 867 suggests one line).
pub fn daytime<Tz: TimeZone>(now: &DateTime<Tz>, format: DaytimeFormat) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let text = match format {
        // ctime pads the day of the month with a space: `Sun Nov  1 ...` (`%e`).
        DaytimeFormat::Ctime => now.format("%a %b %e %H:%M:%S %Y").to_string(),
        DaytimeFormat::Rfc3339 => now.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        DaytimeFormat::Rfc2822 => now.to_rfc2822(),
    };
    text + "\r\n"
}

/// The daytime reply for the current local time.
pub fn daytime_now(format: DaytimeFormat) -> String {
    daytime(&Local::now(), format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    #[test]
    fn ctime_pads_single_digit_days_with_a_space() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let first = utc.with_ymd_and_hms(2026, 11, 1, 9, 5, 7).unwrap();
        assert_eq!(
            daytime(&first, DaytimeFormat::Ctime),
            "Sun Nov  1 09:05:07 2026\r\n"
        );
        let later = utc.with_ymd_and_hms(2026, 11, 21, 9, 5, 7).unwrap();
        assert_eq!(
            daytime(&later, DaytimeFormat::Ctime),
            "Sat Nov 21 09:05:07 2026\r\n"
        );
    }

    #[test]
    fn ctime_names_every_month() {
        let names = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        for (month, name) in (1..=12).zip(names) {
            let time = Utc.with_ymd_and_hms(2026, month, 15, 12, 0, 0).unwrap();
            let text = daytime(&time, DaytimeFormat::Ctime);
            assert_eq!(&text[4..7], name);
            assert_eq!(text.len(), 26);
        }
    }

    #[test]
    fn other_daytime_formats() {
        let plus_one = FixedOffset::east_opt(3600).unwrap();
        let time = plus_one.with_ymd_and_hms(2026, 11, 21, 9, 5, 7).unwrap();
        assert_eq!(
            daytime(&time, DaytimeFormat::Rfc3339),
            "2026-11-21T09:05:07+01:00\r\n"
        );
        assert_eq!(
            daytime(&time, DaytimeFormat::Rfc2822),
            "Sat, 21 Nov 2026 09:05:07 +0100\r\n"
        );
    }
}
