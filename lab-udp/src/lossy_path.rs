//! The bad network a reply crosses under `server --loss --delay` (the Kurose & Ross
//! UDPPingerServer's simulated loss, plus delay): each reply is dropped, held back in
//! the delay line, or passed on to be sent at once. Kept out of the server's loop,
//! which only asks [`LossyPath::pass`] whether to send now.

use std::net::SocketAddr;

use common::net;
use common::report::{Log, Stats};

use crate::delay_line::DelayLine;
use crate::netem::{Fate, Netem};
use crate::server::Reply;

/// Where each reply goes: out at once, into the delay line, or nowhere (a simulated loss).
pub struct LossyPath<'a> {
    netem: Netem,
    /// Present when `--delay` is given.
    delay_line: Option<&'a DelayLine<Reply>>,
    log: Log,
    stats: &'a Stats,
}

impl<'a> LossyPath<'a> {
    /// Replies meet `netem`; the delayed ones wait in `delay_line`.
    pub fn new(
        netem: Netem,
        delay_line: Option<&'a DelayLine<Reply>>,
        log: Log,
        stats: &'a Stats,
    ) -> Self {
        LossyPath {
            netem,
            delay_line,
            log,
            stats,
        }
    }

    /// The server's log.
    pub fn log(&self) -> Log {
        self.log
    }

    /// The reply back, to be sent now; or `None` when it was dropped (logged and
    /// counted) or is held in the delay line, whose thread sends it later.
    pub fn pass(&mut self, reply: Reply) -> Option<Reply> {
        let client = reply.request.client;
        match (self.netem.next_fate(), self.delay_line) {
            (Fate::Dropped, _) => self.dropped(client, "simulated loss"),
            (Fate::SentAfter(delay), Some(line)) if !delay.is_zero() => {
                if line.hold(delay, reply).is_err() {
                    self.dropped(client, "delay queue full");
                }
            }
            (Fate::SentAfter(_), _) => return Some(reply),
        }
        None
    }

    /// A reply not sent, on purpose: logged as `dropped` and counted in the summary.
    fn dropped(&self, client: SocketAddr, why: &str) {
        self.log.line(format_args!(
            "{client}: dropped ({why})",
            client = net::shown(client)
        ));
        self.stats.datagram_dropped();
    }
}
