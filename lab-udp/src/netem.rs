//! Simulated loss and delay (`server --loss --delay --seed`): a network that misbehaves
//! on purpose, so the pinger and the client's retries have something to meet.
//!
//! Linux can do this in the kernel (`tc qdisc add dev lo root netem loss 30% delay 20ms`),
//! but that needs root, slows every program on the interface and does not exist on
//! macOS. Here the server decides, for each datagram it receives, whether the reply is
//! lost and when it leaves, as the course's UDPPingerServer does with `random.randint`:
//!
//! - a loss is a reply never sent, which to the client is the same as a datagram lost
//!   on the way there or back;
//! - a delay holds the reply in the delay line (`delay_line.rs`), a queue ordered by
//!   send time that a thread of its own empties, so a reply held for 300 ms never
//!   holds up the replies behind it (what `thread::sleep` before `sendto` would do).
//!
//! The choices come from ChaCha8 (`rand_chacha`), seeded by `--seed`: the same seed
//! drops the same datagrams, run after run, on every machine.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Result, anyhow};
use rand::rngs::OsRng;
use rand::{Rng, SeedableRng, TryRngCore};
use rand_chacha::ChaCha8Rng;

/// `--loss`, `--delay` and `--seed` of `lab-udp server`.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Simulated network (for the pinger)")]
pub struct NetemOptions {
    /// Drop each datagram with this probability, from 0 to 1 (0.3: about a third)
    #[arg(long, value_name = "FRACTION", value_parser = parse_loss, default_value = "0")]
    loss: f64,
    /// Send each reply this many milliseconds late, or a delay drawn uniformly from a
    /// range (20..30)
    #[arg(long, value_name = "MS[..MS]", default_value = "0")]
    delay: DelayRange,
    /// Seed of the simulated loss and delay: the same seed drops the same datagrams
    /// (default: a random seed, printed at the start)
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

/// Parses `--loss`: a probability from 0 to 1.
fn parse_loss(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(fraction) if (0.0..=1.0).contains(&fraction) => Ok(fraction),
        _ => Err(format!(
            "'{text}' is not a fraction from 0 to 1 (0.3 drops about a third of the datagrams)"
        )),
    }
}

/// `--delay`: a reply's delay is drawn uniformly from `low..=high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayRange {
    low: Duration,
    high: Duration,
}

impl DelayRange {
    /// No delay at all.
    pub const NONE: DelayRange = DelayRange {
        low: Duration::ZERO,
        high: Duration::ZERO,
    };

    fn is_none(self) -> bool {
        self.high.is_zero()
    }

    /// A delay drawn uniformly from the range, to the microsecond.
    fn sample(self, rng: &mut ChaCha8Rng) -> Duration {
        let microseconds = |duration: Duration| u64::try_from(duration.as_micros()).unwrap_or(0);
        Duration::from_micros(rng.random_range(microseconds(self.low)..=microseconds(self.high)))
    }
}

impl FromStr for DelayRange {
    type Err = String;

    /// `MS` (a fixed delay) or `MS..MS` (uniform between the two), in milliseconds.
    fn from_str(text: &str) -> Result<Self, String> {
        let milliseconds = |part: &str| {
            part.trim().parse::<u32>().map(|ms| Duration::from_millis(ms.into())).map_err(|_| {
                format!("'{text}' is not a delay in milliseconds: give MS or LOW..HIGH, e.g. 20 or 10..50")
            })
        };
        let (low, high) = match text.split_once("..") {
            Some((low, high)) => (milliseconds(low)?, milliseconds(high)?),
            None => (milliseconds(text)?, milliseconds(text)?),
        };
        if low > high {
            return Err(format!(
                "the delay range '{text}' goes down: give LOW..HIGH, e.g. 10..50"
            ));
        }
        Ok(DelayRange { low, high })
    }
}

impl fmt::Display for DelayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (low, high) = (self.low.as_millis(), self.high.as_millis());
        if low == high {
            write!(f, "{low} ms")
        } else {
            write!(f, "{low}..{high} ms")
        }
    }
}

/// What happens to the reply to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Lost: never sent.
    Dropped,
    /// Sent after this delay (zero: at once).
    SentAfter(Duration),
}

/// The simulated network: decides each reply's [`Fate`].
#[derive(Debug, Clone)]
pub struct Netem {
    loss: f64,
    delay: DelayRange,
    seed: u64,
    /// The drops and the delays come from separate streams of the seed, so adding
    /// `--delay` does not change which datagrams are dropped.
    drops: ChaCha8Rng,
    delays: ChaCha8Rng,
}

impl Netem {
    /// A perfect network: nothing dropped, nothing delayed.
    pub fn none() -> Self {
        Netem::with_seed(0.0, DelayRange::NONE, 0)
    }

    /// The network `--loss`, `--delay` and `--seed` ask for; without `--seed`, a seed
    /// from the operating system.
    pub fn from_options(options: &NetemOptions) -> Result<Self> {
        let seed = match options.seed {
            Some(seed) => seed,
            None => random_seed()?,
        };
        Ok(Netem::with_seed(options.loss, options.delay, seed))
    }

    /// Drops with probability `loss` (0 to 1), delays uniformly within `delay`.
    pub fn with_seed(loss: f64, delay: DelayRange, seed: u64) -> Self {
        let drops = ChaCha8Rng::seed_from_u64(seed);
        let mut delays = drops.clone();
        delays.set_stream(1);
        Netem {
            loss,
            delay,
            seed,
            drops,
            delays,
        }
    }

    /// Does this network drop or delay anything?
    pub fn is_active(&self) -> bool {
        self.loss > 0.0 || self.delays_replies()
    }

    /// Are replies ever delayed (so a delay line is needed)?
    pub fn delays_replies(&self) -> bool {
        !self.delay.is_none()
    }

    /// The fate of the reply to the next datagram. One draw per datagram from each
    /// stream, so the Nth datagram's fate depends only on the seed and N; and a
    /// uniform draw below `loss` means a larger `--loss` drops the same datagrams and more.
    pub fn next_fate(&mut self) -> Fate {
        // (No draw at all without loss: the plain server pays nothing for this.)
        let dropped = self.loss > 0.0 && self.drops.random::<f64>() < self.loss;
        let delay = if self.delays_replies() {
            self.delay.sample(&mut self.delays)
        } else {
            Duration::ZERO
        };
        if dropped {
            Fate::Dropped
        } else {
            Fate::SentAfter(delay)
        }
    }
}

/// A seed nobody can guess, from the operating system.
pub fn random_seed() -> Result<u64> {
    OsRng
        .try_next_u64()
        .map_err(|_| anyhow!("cannot get a random seed from the system: give --seed N"))
}

impl fmt::Display for Netem {
    /// The server's log line: what is simulated, and the seed that repeats it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "simulating loss {} and ", self.loss)?;
        if self.delays_replies() {
            write!(f, "delay {}", self.delay)?;
        } else {
            write!(f, "no delay")?;
        }
        write!(
            f,
            ", seed {} (the same --seed drops the same datagrams)",
            self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_a_fraction_from_0_to_1() {
        assert_eq!(parse_loss("0.3"), Ok(0.3));
        assert_eq!(parse_loss("1"), Ok(1.0));
        for bad in ["1.5", "-0.1", "NaN", "third", ""] {
            assert!(parse_loss(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn delay_is_one_value_or_a_rising_range() {
        let ms = Duration::from_millis;
        assert_eq!(
            "20".parse(),
            Ok(DelayRange {
                low: ms(20),
                high: ms(20)
            })
        );
        assert_eq!(
            "20..30".parse(),
            Ok(DelayRange {
                low: ms(20),
                high: ms(30)
            })
        );
        assert!(
            "50..10"
                .parse::<DelayRange>()
                .unwrap_err()
                .contains("goes down")
        );
        for bad in ["", "fast", "10..", "..10", "-5", "1.5"] {
            assert!(bad.parse::<DelayRange>().is_err(), "{bad}");
        }
        assert_eq!(
            "20..30".parse::<DelayRange>().unwrap().to_string(),
            "20..30 ms"
        );
    }

    fn fates(netem: &mut Netem, count: usize) -> Vec<Fate> {
        (0..count).map(|_| netem.next_fate()).collect()
    }

    #[test]
    fn the_same_seed_drops_the_same_datagrams() {
        let range = "20..30".parse().unwrap();
        let first = fates(&mut Netem::with_seed(0.3, range, 7), 1_000);
        assert_eq!(first, fates(&mut Netem::with_seed(0.3, range, 7), 1_000));
        assert_ne!(first, fates(&mut Netem::with_seed(0.3, range, 8), 1_000));
        let dropped = first.iter().filter(|&&fate| fate == Fate::Dropped).count();
        assert!((230..370).contains(&dropped), "{dropped} of 1000");
        for fate in first {
            if let Fate::SentAfter(delay) = fate {
                assert!((Duration::from_millis(20)..=Duration::from_millis(30)).contains(&delay));
            }
        }
    }

    #[test]
    fn a_delay_does_not_change_which_datagrams_are_dropped() {
        let is_dropped = |delay: &str| -> Vec<bool> {
            let mut netem = Netem::with_seed(0.3, delay.parse().unwrap(), 42);
            (0..500)
                .map(|_| netem.next_fate() == Fate::Dropped)
                .collect()
        };
        assert_eq!(is_dropped("0"), is_dropped("10..500"));
    }

    #[test]
    fn no_loss_and_full_loss() {
        let mut perfect = Netem::with_seed(0.0, DelayRange::NONE, 1);
        assert!(
            fates(&mut perfect, 100)
                .iter()
                .all(|&fate| fate == Fate::SentAfter(Duration::ZERO))
        );
        let mut black_hole = Netem::with_seed(1.0, DelayRange::NONE, 1);
        assert!(
            fates(&mut black_hole, 100)
                .iter()
                .all(|&fate| fate == Fate::Dropped)
        );
    }
}
