//! The pinger's summary in ping(8)'s words: packets transmitted and received, the loss,
//! and the RTT's min/avg/max/mdev.

use std::net::SocketAddr;
use std::time::Duration;

/// The numbers behind the summary, shared with the Ctrl-C handler.
#[derive(Debug)]
pub struct Tally {
    server: SocketAddr,
    transmitted: u32,
    /// One per reply received in time.
    rtts: Vec<Duration>,
    /// Has the summary been printed (by the end of the run, or by Ctrl-C)?
    summarized: bool,
}

impl Tally {
    /// Nothing sent yet to `server`.
    pub fn new(server: SocketAddr) -> Self {
        Tally {
            server,
            transmitted: 0,
            rtts: Vec::new(),
            summarized: false,
        }
    }

    /// Replies received in time.
    pub fn received(&self) -> usize {
        self.rtts.len()
    }

    /// Pings sent.
    pub fn transmitted(&self) -> u32 {
        self.transmitted
    }

    /// One more ping sent.
    pub fn sent(&mut self) {
        self.transmitted += 1;
    }

    /// One more reply received in time, after `rtt`.
    pub fn received_after(&mut self, rtt: Duration) {
        self.rtts.push(rtt);
    }

    /// The exit status, as ping(8)'s: 0 if any reply came, 1 if none.
    pub fn exit_status(&self) -> u8 {
        if self.received() > 0 { 0 } else { 1 }
    }

    /// The summary the first time it is asked for, `None` after: the run's end and a
    /// Ctrl-C at that very moment must not both print it.
    pub fn summary_once(&mut self) -> Option<String> {
        (!std::mem::replace(&mut self.summarized, true)).then(|| self.summary())
    }

    /// ping(8)'s summary: a header line, `N packets transmitted, M received, L% packet
    /// loss`, and if any reply came `rtt min/avg/max/mdev = A/B/C/D ms`.
    pub fn summary(&self) -> String {
        let transmitted = u64::from(self.transmitted);
        let received = self.received() as u64;
        let mut summary = format!(
            "--- {} ping statistics ---\n{transmitted} packets transmitted, {received} received, {}% packet loss",
            self.server,
            loss_percent(transmitted.saturating_sub(received), transmitted)
        );
        if let Some(rtt) = RttStatistics::of(&self.rtts) {
            summary.push_str(&format!(
                "\nrtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms",
                rtt.min, rtt.avg, rtt.max, rtt.mdev
            ));
        }
        summary
    }
}

/// The loss as ping(8) prints it (`%g`): `0`, `30`, `33.3333`.
fn loss_percent(lost: u64, transmitted: u64) -> String {
    if transmitted == 0 {
        return "0".into();
    }
    let percent = format!("{:.4}", lost as f64 * 100.0 / transmitted as f64);
    percent
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

/// RTT statistics in milliseconds; `mdev` is ping(8)'s mean deviation, the standard
/// deviation sqrt(mean(x²) - mean(x)²).
#[derive(Debug, PartialEq)]
struct RttStatistics {
    min: f64,
    avg: f64,
    max: f64,
    mdev: f64,
}

impl RttStatistics {
    fn of(rtts: &[Duration]) -> Option<Self> {
        let milliseconds: Vec<f64> = rtts.iter().map(|rtt| rtt.as_secs_f64() * 1e3).collect();
        let count = milliseconds.len() as f64;
        let min = milliseconds.iter().copied().reduce(f64::min)?;
        let max = milliseconds.iter().copied().reduce(f64::max)?;
        let avg = milliseconds.iter().sum::<f64>() / count;
        let mean_square = milliseconds.iter().map(|x| x * x).sum::<f64>() / count;
        let mdev = (mean_square - avg * avg).max(0.0).sqrt();
        Some(RttStatistics {
            min,
            avg,
            max,
            mdev,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_printed_as_ping_does() {
        assert_eq!(loss_percent(0, 10), "0");
        assert_eq!(loss_percent(3, 10), "30");
        assert_eq!(loss_percent(1, 3), "33.3333");
        assert_eq!(loss_percent(31, 200), "15.5");
        assert_eq!(loss_percent(10, 10), "100");
        assert_eq!(loss_percent(0, 0), "0");
    }

    #[test]
    fn rtt_statistics_as_ping_computes_them() {
        let ms = Duration::from_millis;
        let rtt = RttStatistics::of(&[ms(10), ms(20), ms(30)]).unwrap();
        assert_eq!((rtt.min, rtt.avg, rtt.max), (10.0, 20.0, 30.0));
        // sqrt((100 + 400 + 900) / 3 - 400) = sqrt(66.67)
        assert!((rtt.mdev - 8.165).abs() < 0.001, "{rtt:?}");
        assert_eq!(RttStatistics::of(&[]), None);
    }

    #[test]
    fn summary_lines() {
        let mut tally = Tally::new("127.0.0.1:12000".parse().unwrap());
        tally.transmitted = 10;
        assert_eq!(
            tally.summary(),
            "--- 127.0.0.1:12000 ping statistics ---\n\
             10 packets transmitted, 0 received, 100% packet loss"
        );
        tally.rtts = vec![Duration::from_micros(1500); 7];
        assert!(tally.summary().ends_with(
            "10 packets transmitted, 7 received, 30% packet loss\n\
             rtt min/avg/max/mdev = 1.500/1.500/1.500/0.000 ms"
        ));
    }

    #[test]
    fn the_summary_is_printed_once() {
        let mut tally = Tally::new("127.0.0.1:12000".parse().unwrap());
        assert_eq!(tally.summary_once(), Some(tally.summary()));
        assert_eq!(tally.summary_once(), None);
    }
}
