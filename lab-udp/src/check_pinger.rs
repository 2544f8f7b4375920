//! `lab-udp check-client --pinger --client CMD`: grades a UDP Pinger (Kurose & Ross
//! chapter 2, programming assignment 2), in any language.
//!
//! The pinger runs once, with nothing on its stdin, against a lossy server of ours that
//! answers each datagram with its uppercase except three of the ten pings, drawn
//! afresh for each run by the generator behind `server --loss` (`netem.rs`), so no
//! submission can know them in advance. What it sent and printed is then graded: ten
//! pings `Ping SEQ TIME` in order; one line per ping, its RTT or `Request timed out`,
//! the timeouts exactly for the dropped pings; a loss figure that matches (30%); and
//! an end of its own, with status 0.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use common::check::client::{ClientRun, ClientUnderTest, Received, recv_datagram};
use common::check::{Checks, shown, wording};
use common::upper::uppercase;

use crate::netem::{self, DelayRange, Fate, Netem};

/// The pings the assignment sends.
const PINGS: usize = 10;
/// How many of them our server drops: the assignment's "about 30%".
const DROPPED: usize = 3;

/// Runs the pinger once against our lossy server, then grades that run.
pub fn run(mut checks: Checks, client: ClientUnderTest) -> ExitCode {
    let graded = Arc::new(if checks.is_broken() {
        Graded::not_run()
    } else {
        Graded::of(&client)
    });

    let pinger = Arc::clone(&graded);
    checks.run(
        "ten pings 'Ping SEQ TIME', SEQ 1 to 10 in order",
        move || pinger.expect_ten_pings(),
    );
    let pinger = Arc::clone(&graded);
    checks.run(
        "one line per ping, its RTT or 'Request timed out' for exactly the dropped ones",
        move || pinger.expect_a_line_per_ping(),
    );
    let pinger = Arc::clone(&graded);
    checks.run("the loss it reports is what was dropped (30%)", move || {
        pinger.expect_loss_figure()
    });
    let pinger = graded;
    checks.run("it ends on its own, with status 0", move || {
        let run = pinger.run()?;
        run.expect_ended()?;
        run.expect_success()
    });
    checks.finish()
}

/// One run of the pinger, graded by each check.
struct Graded {
    run: Result<ClientRun, String>,
    /// The pings our server dropped.
    dropped: BTreeSet<usize>,
}

impl Graded {
    /// Runs the pinger against our lossy server.
    fn of(client: &ClientUnderTest) -> Self {
        let dropped = pings_to_drop();
        let run = dropped
            .as_ref()
            .map_err(|error| anyhow!("{}", wording::detail(error, None)))
            .and_then(|dropped| {
                let dropped = dropped.clone();
                let server = client.scripted_udp(move |socket, received| {
                    drop_some_answer_the_rest(socket, received, &dropped);
                })?;
                client.run(server, b"")
            })
            .map_err(|error| wording::detail(&error, None));
        Graded {
            run,
            dropped: dropped.unwrap_or_default(),
        }
    }

    /// No run: the checks are not run either ([`Checks::broken`]).
    fn not_run() -> Self {
        Graded {
            run: Err("not run".to_owned()),
            dropped: BTreeSet::new(),
        }
    }

    fn run(&self) -> Result<&ClientRun> {
        self.run
            .as_ref()
            .map_err(|error| anyhow!("the pinger could not be run: {error}"))
    }

    fn expect_ten_pings(&self) -> Result<()> {
        let sent = self.run()?.received.all();
        let seqs: Vec<Option<usize>> = sent.iter().map(|datagram| ping_seq(datagram)).collect();
        if seqs == (1..=PINGS).map(Some).collect::<Vec<_>>() {
            return Ok(());
        }
        let shown: Vec<String> = sent
            .iter()
            .map(|datagram| format!("\"{}\"", shown(datagram)))
            .collect();
        bail!(
            "expected ten datagrams 'Ping 1 TIME' to 'Ping 10 TIME', in order; our server \
             received {}: {}",
            sent.len(),
            if shown.is_empty() {
                "nothing".into()
            } else {
                shown.join(", ")
            }
        )
    }

    fn expect_a_line_per_ping(&self) -> Result<()> {
        let stdout = String::from_utf8_lossy(&self.run()?.stdout).into_owned();
        let lines: Vec<PingLine> = stdout
            .lines()
            .filter_map(PingLine::of)
            .take(PINGS)
            .collect();
        if lines.len() < PINGS {
            bail!(
                "found {} lines with an RTT or 'Request timed out', expected one for each of \
                 the {PINGS} pings",
                lines.len()
            );
        }
        // Which ping a line is about: its own number if every line gives one (a pinger
        // that reports replies as they come), else its place (one ping at a time).
        let numbered = lines.iter().all(|line| line.seq.is_some());
        let timed_out: BTreeSet<usize> = (1..)
            .zip(&lines)
            .filter(|(_, line)| line.timed_out)
            .map(|(place, line)| {
                if numbered {
                    line.seq.unwrap_or(place)
                } else {
                    place
                }
            })
            .collect();
        if timed_out != self.dropped {
            let said = match timed_out.is_empty() {
                true => "no line says 'Request timed out'".to_owned(),
                false => format!("'Request timed out' for pings {}", listed(&timed_out)),
            };
            bail!(
                "{said}, but our server dropped pings {}",
                listed(&self.dropped)
            );
        }
        Ok(())
    }

    fn expect_loss_figure(&self) -> Result<()> {
        let stdout = String::from_utf8_lossy(&self.run()?.stdout).into_owned();
        let expected = (DROPPED * 100 / PINGS) as f64;
        let figures = percentages(&stdout);
        if figures.iter().any(|figure| (figure - expected).abs() < 0.5) {
            return Ok(());
        }
        match figures.first() {
            None => bail!(
                "no loss figure such as '{expected}%' in its output ({DROPPED} of {PINGS} \
                 pings were dropped)"
            ),
            Some(figure) => bail!(
                "it reports {figure}%, but {DROPPED} of {PINGS} pings were dropped ({expected}%)"
            ),
        }
    }
}

/// The pings our server drops this time: [`DROPPED`] of 1 to [`PINGS`], drawn by
/// `server --loss 0.3` with a fresh seed.
fn pings_to_drop() -> Result<BTreeSet<usize>> {
    let mut netem = Netem::with_seed(0.3, DelayRange::NONE, netem::random_seed()?);
    let mut dropped = BTreeSet::new();
    for seq in (1..=PINGS).cycle() {
        if dropped.len() == DROPPED {
            break;
        }
        if netem.next_fate() == Fate::Dropped {
            dropped.insert(seq);
        }
    }
    Ok(dropped)
}

/// Our lossy pinger server: recvfrom(), then sendto() of the uppercase, unless the
/// datagram is a ping to drop: the Nth to come for each N in `dropped`, whatever its
/// form, so that pings in a wrong form (`PING 1 TIME`) cost the check of their form,
/// not the checks of the loss too.
fn drop_some_answer_the_rest(socket: &UdpSocket, received: &Received, dropped: &BTreeSet<usize>) {
    let mut arrived = 0;
    while let Some((datagram, client)) = recv_datagram(socket, received) {
        arrived += 1;
        if dropped.contains(&arrived) {
            continue;
        }
        let _ = socket.send_to(&uppercase(&datagram), client);
    }
}

/// SEQ of a datagram `Ping SEQ TIME` (TIME in any form: the assignment leaves it open).
fn ping_seq(datagram: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(datagram).ok()?;
    let (seq, time) = text.strip_prefix("Ping ")?.split_once(' ')?;
    if time.trim().is_empty() {
        return None;
    }
    seq.parse().ok()
}

/// A line a pinger printed about one ping.
struct PingLine {
    timed_out: bool,
    /// The ping's number, if the line gives it (`seq=3`, `PING 3 ...`).
    seq: Option<usize>,
}

impl PingLine {
    /// A line is about a ping if it says `timed out`, or gives a number and says
    /// `RTT`, `time` or `ms`, or shows the reply `PING N ...`.
    fn of(line: &str) -> Option<Self> {
        let lower = line.to_lowercase();
        let timed_out = lower.contains("timed out");
        let about_a_reply = line.chars().any(|c| c.is_ascii_digit())
            && (line.contains("PING ") || ["rtt", "time", "ms"].iter().any(|w| lower.contains(w)));
        (timed_out || about_a_reply).then(|| PingLine {
            timed_out,
            seq: number_after(&lower, "seq=")
                .or_else(|| number_after(&lower, "seq "))
                .or_else(|| number_after(line, "PING ")),
        })
    }
}

/// The number right after the first `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<usize> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Every number written right before a `%` (`30%`, `30.0 %`).
fn percentages(text: &str) -> Vec<f64> {
    let mut chunks: Vec<&str> = text.split('%').collect();
    chunks.pop(); // what follows the last `%`
    chunks
        .iter()
        .filter_map(|chunk| {
            let chunk = chunk.trim_end();
            let start = chunk
                .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
                .map_or(0, |at| at + 1);
            chunk[start..].parse().ok()
        })
        .collect()
}

fn listed(seqs: &BTreeSet<usize>) -> String {
    if seqs.is_empty() {
        return "none".into();
    }
    let seqs: Vec<String> = seqs.iter().map(usize::to_string).collect();
    seqs.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_and_their_numbers() {
        assert_eq!(ping_seq(b"Ping 3 1795975807.213442"), Some(3));
        assert_eq!(ping_seq(b"Ping 10 Sun Nov 29 19:00:00 2026"), Some(10));
        assert_eq!(ping_seq(b"Ping 3"), None);
        assert_eq!(ping_seq(b"ping 3 1"), None);
    }

    #[test]
    fn lines_about_pings() {
        let line = |text| PingLine::of(text).map(|line| (line.timed_out, line.seq));
        assert_eq!(line("Request timed out"), Some((true, None)));
        assert_eq!(line("Request timed out (seq=4)"), Some((true, Some(4))));
        assert_eq!(
            line("reply from 127.0.0.1:1: seq=2 time=0.1 ms"),
            Some((false, Some(2)))
        );
        assert_eq!(
            line("PING 7 1795975807.21 RTT 0.000120"),
            Some((false, Some(7)))
        );
        assert_eq!(line("Round trip 0.12 ms"), Some((false, None)));
        assert_eq!(line("Pinging the server"), None);
    }

    #[test]
    fn loss_figures() {
        assert_eq!(percentages("3 lost, 30% packet loss"), [30.0]);
        assert_eq!(percentages("loss: 30.0 %, 70% ok"), [30.0, 70.0]);
        assert!(percentages("no loss figure").is_empty());
    }

    #[test]
    fn three_pings_of_ten_are_dropped() {
        let dropped = pings_to_drop().unwrap();
        assert_eq!(dropped.len(), DROPPED);
        assert!(dropped.iter().all(|seq| (1..=PINGS).contains(seq)));
    }
}
