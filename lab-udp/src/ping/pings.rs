//! The pings sent and what became of each: when the next one is due, which deadline
//! comes next, which pings time out, and which ping a reply answers. No I/O: the
//! pinger's event loop (`pinger.rs`) asks, and does the socket calls.

use std::time::{Duration, Instant};

use super::Settings;

/// One ping sent, and what became of it.
struct Sent {
    /// The reply must be exactly this (the uppercase of the ping).
    expected_reply: Vec<u8>,
    at: Instant,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Answered,
    TimedOut,
}

/// What a datagram received is, for the ping it names.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The reply to ping `seq`, in time: its round-trip time.
    InTime { seq: usize, rtt: Duration },
    /// The reply to ping `seq`, after that ping timed out.
    Late { seq: usize },
    /// A second reply to ping `seq`.
    Duplicate { seq: usize },
    /// Not the uppercase of any ping sent.
    Unexpected,
}

/// The pings of one run, by sequence number: ping `SEQ` is `sent[SEQ - 1]`.
pub struct Pings {
    settings: Settings,
    sent: Vec<Sent>,
    /// Pings before this index are no longer waiting.
    oldest_waiting: usize,
}

impl Pings {
    /// None sent yet.
    pub fn new(settings: Settings) -> Self {
        Pings {
            settings,
            sent: Vec::new(),
            oldest_waiting: 0,
        }
    }

    /// The sequence number of the next ping (from 1).
    pub fn next_seq(&self) -> usize {
        self.sent.len() + 1
    }

    /// When the next ping is due, if one is left to send: ping 1 at once (`now`), ping N
    /// at ping 1's send time + (N - 1) × `--interval`. A fixed schedule, as ping(8)'s:
    /// a ping sent late (the wait overran, the machine was busy) does not push the
    /// later ones back, and a ping already due goes at once. (Counting from the last
    /// send instead adds every ping's lateness to all the pings after it.) With
    /// `--interval` equal to `--timeout`, ping 1 times out at the very instant ping 2
    /// is due, and is reported first (expiry comes first in the loop).
    pub fn next_send(&self, now: Instant) -> Option<Instant> {
        let seq = u32::try_from(self.next_seq()).ok()?;
        if seq > self.settings.count {
            return None;
        }
        let Some(first) = self.sent.first() else {
            return Some(now);
        };
        // Beyond what `Instant` can count (an absurd --interval): never due, so the run
        // ends once the pings sent are answered or timed out.
        first
            .at
            .checked_add(self.settings.interval.checked_mul(seq - 1)?)
    }

    /// Records the next ping, `ping`, sent `at`.
    pub fn sent(&mut self, ping: &str, at: Instant) {
        self.sent.push(Sent {
            expected_reply: ping.to_uppercase().into_bytes(),
            at,
            state: State::Waiting,
        });
    }

    /// The deadline of the oldest ping still waiting (pings go out in order, so it is
    /// the earliest).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sent[self.oldest_waiting..]
            .iter()
            .find(|sent| sent.state == State::Waiting)
            .map(|sent| sent.at + self.settings.timeout)
    }

    /// Times out every ping whose deadline has passed by `now`; returns their
    /// sequence numbers, oldest first.
    pub fn expire(&mut self, now: Instant) -> Vec<usize> {
        let mut timed_out = Vec::new();
        while let Some(sent) = self.sent.get_mut(self.oldest_waiting) {
            if sent.state == State::Waiting {
                if sent.at + self.settings.timeout > now {
                    break;
                }
                sent.state = State::TimedOut;
                timed_out.push(self.oldest_waiting + 1);
            }
            self.oldest_waiting += 1;
        }
        timed_out
    }

    /// Matches a reply to its ping by sequence number and exact text.
    pub fn take_reply(&mut self, reply: &[u8], received_at: Instant) -> Reply {
        let Some((seq, sent)) = reply_seq(reply)
            .and_then(|seq| Some((seq, self.sent.get_mut(seq.checked_sub(1)?)?)))
            .filter(|(_, sent)| sent.expected_reply == reply)
        else {
            return Reply::Unexpected;
        };
        match sent.state {
            State::Waiting => {
                sent.state = State::Answered;
                Reply::InTime {
                    seq,
                    rtt: received_at - sent.at,
                }
            }
            State::TimedOut => Reply::Late { seq },
            State::Answered => Reply::Duplicate { seq },
        }
    }

    /// When each ping was sent, in order.
    #[cfg(test)]
    pub fn send_times(&self) -> Vec<Instant> {
        self.sent.iter().map(|sent| sent.at).collect()
    }
}

/// The sequence number of a reply `PING SEQ TIME`, if it has that shape.
fn reply_seq(reply: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(reply).ok()?;
    let mut words = text.strip_prefix("PING ")?.split(' ');
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_sequence_numbers() {
        assert_eq!(reply_seq(b"PING 3 1795975807.213442"), Some(3));
        assert_eq!(reply_seq(b"Ping 3 1795975807.213442"), None);
        assert_eq!(reply_seq(b"PING x 1"), None);
        assert_eq!(reply_seq(b"\xff"), None);
    }

    /// The schedule is fixed by ping 1's send: however late pings 2 and 3 went out,
    /// ping N is due at ping 1's send time + (N - 1) intervals. (Counted from the last
    /// send, as it once was, ping 3 would be due 30 ms late and ping 4 60 ms.)
    #[test]
    fn late_sends_do_not_shift_the_schedule() {
        let interval = Duration::from_millis(200);
        let mut pings = Pings::new(Settings {
            count: 4,
            interval,
            timeout: Duration::from_secs(10),
        });
        let first = Instant::now();
        assert_eq!(pings.next_send(first), Some(first), "ping 1 at once");
        let late = Duration::from_millis(30);
        for seq in 1..=3 {
            let on_time = first + interval * (seq - 1);
            let at = if seq == 1 { on_time } else { on_time + late };
            pings.sent("", at);
            let due = pings.next_send(at + late);
            assert_eq!(due, Some(first + interval * seq), "ping {}", seq + 1);
        }
        pings.sent("", first + interval * 3);
        assert_eq!(pings.next_send(first + interval * 4), None, "all 4 sent");
    }

    /// A reply is matched by number and text: in time, late, twice, or not a ping's.
    #[test]
    fn replies_are_matched_to_their_ping() {
        let timeout = Duration::from_secs(1);
        let mut pings = Pings::new(Settings {
            count: 2,
            interval: Duration::ZERO,
            timeout,
        });
        let at = Instant::now();
        pings.sent("Ping 1 5.000000", at);
        pings.sent("Ping 2 5.000001", at);
        let rtt = Duration::from_millis(3);
        assert_eq!(
            pings.take_reply(b"PING 2 5.000001", at + rtt),
            Reply::InTime { seq: 2, rtt }
        );
        assert_eq!(
            pings.take_reply(b"PING 2 5.000001", at + rtt),
            Reply::Duplicate { seq: 2 }
        );
        assert_eq!(pings.take_reply(b"PING 1 4.0", at), Reply::Unexpected);
        assert_eq!(pings.next_deadline(), Some(at + timeout));
        assert_eq!(pings.expire(at + timeout), [1]);
        assert_eq!(pings.next_deadline(), None);
        assert_eq!(
            pings.take_reply(b"PING 1 5.000000", at + timeout * 2),
            Reply::Late { seq: 1 }
        );
    }
}
