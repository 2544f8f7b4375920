//! Peer to peer over UDP: no server and no client, two equals.
//!
//! Each peer `bind`s its own address (like a server) and sends to the other (like a
//! client). Neither can assume the other is up, so each sends `hi` every 200 ms until
//! it hears `hello`, and answers every `hi` with `hello`; whichever starts first just
//! waits longer. Then each line typed on one is printed on the other.
//!
//! On the wire, one datagram each: `hi`, `hello`, `bye`, and `say <line>` for a line.

use std::io::{BufRead, ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::cli::parse_timeout;
use common::input::strip_line_ending;
use common::net;
use common::outln;
use common::report::escaped;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Command-line options of `lab-hi-hello peer`.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// This peer's address, e.g. 127.0.0.1:6001 (port 0: any free port)
    #[arg(long, value_name = "HOST:PORT", value_parser = net::target_argument)]
    bind: String,
    /// The other peer's address, e.g. 127.0.0.1:6002
    #[arg(long, value_name = "HOST:PORT", value_parser = net::target_argument)]
    peer: String,
    /// Seconds to wait for the other peer to answer before giving up
    #[arg(long, value_parser = parse_timeout, default_value = "60")]
    wait: Duration,
}

const HI: &[u8] = b"hi";
const HELLO: &[u8] = b"hello";
const BYE: &[u8] = b"bye";
const SAY: &[u8] = b"say ";

/// How often `hi` is resent while the other peer has not answered.
const RESEND_EVERY: Duration = Duration::from_millis(200);

/// `lab-hi-hello peer`: greet, then chat until `bye`, end of input, or the other side leaves.
pub fn run(options: &Options) -> Result<ExitCode> {
    let local = net::resolve_target(&options.bind)?[0];
    let remote = net::resolve_target(&options.peer)?[0];
    let mut peer = Peer::bind(local)?;
    outln!("{}", net::listening_line(peer.local_address()?, "udp"));
    peer.connect(remote)?;
    say_bye_on_signals(peer.socket.try_clone()?)?;

    peer.greet(options.wait)?;
    outln!("connected to {remote}", remote = net::shown(remote));

    // Typing happens on a thread of its own, so lines from the other side print at once.
    // It ends with the end of input or `bye` (Ok), or a send that failed for good (Err).
    let (typing_ended, typing) = mpsc::channel();
    let typist = Peer {
        socket: peer.socket.try_clone()?,
        remote,
    };
    thread::spawn(move || {
        let typed = typist.type_lines();
        let _ = typist.socket.send(BYE);
        let _ = typing_ended.send(typed);
    });

    loop {
        match typing.try_recv() {
            Ok(typed) => {
                typed?;
                break;
            }
            Err(mpsc::TryRecvError::Empty) => {}
            // The thread cannot end without saying how: its panic, already printed.
            Err(mpsc::TryRecvError::Disconnected) => bail!("the typing thread crashed"),
        }
        match peer.receive(RESEND_EVERY)? {
            Event::Line(line) => outln!(
                "{remote}: {}",
                String::from_utf8_lossy(&line),
                remote = net::shown(remote)
            ),
            Event::Bye => {
                outln!("{remote} said bye", remote = net::shown(remote));
                break;
            }
            Event::Nothing => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C (SIGINT), SIGTERM or SIGHUP: tell the other peer `bye`, then exit at once,
/// printing nothing, with status 128 + the signal (130 for Ctrl-C), as a client does.
/// The handler only wakes a thread of ours; the main thread, whose `recv` the signal
/// may interrupt, just waits again ([`Peer::recv`]), so it prints nothing meanwhile.
fn say_bye_on_signals(farewell: UdpSocket) -> Result<()> {
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install the Ctrl-C handler")?;
    thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let _ = farewell.send(BYE);
            // _exit: no at-exit hooks, nothing flushed, the other threads stopped at once.
            signal_hook::low_level::exit(128 + signal);
        }
    });
    Ok(())
}

/// One end of a peer-to-peer conversation.
#[derive(Debug)]
pub struct Peer {
    socket: UdpSocket,
    /// The other peer's address.
    pub remote: SocketAddr,
}

/// What came from the other peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A line it typed.
    Line(Vec<u8>),
    /// It left.
    Bye,
    /// Nothing to show (a greeting, answered if needed, or nothing within the wait).
    Nothing,
}

impl Peer {
    /// socket() + bind(): this peer's own address, where the other one sends.
    pub fn bind(local: SocketAddr) -> Result<Peer> {
        let socket = net::udp_socket(local)?;
        net::bind(&socket, local)?;
        Ok(Peer {
            socket: socket.into(),
            remote: local,
        })
    }

    /// The address this peer is bound to.
    pub fn local_address(&self) -> Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    /// connect(): from now on only the other peer's datagrams are received, and
    /// `send` needs no address.
    pub fn connect(&mut self, remote: SocketAddr) -> Result<()> {
        self.socket
            .connect(net::in_family_of(self.local_address()?, remote))
            .with_context(|| format!("cannot reach {remote}", remote = net::shown(remote)))?;
        self.remote = remote;
        Ok(())
    }

    /// Sends `hi` until the other peer answers `hello` (answering its `hi`s meanwhile).
    pub fn greet(&self, give_up_after: Duration) -> Result<()> {
        let deadline = Instant::now() + give_up_after;
        while Instant::now() < deadline {
            // send(): may fail with "connection refused" while the other peer is not
            // up yet (an ICMP port unreachable came back): expected, try again.
            match self.socket.send(HI) {
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {}
                Err(error) => return Err(error.into()),
            }
            // Wait out the pause before the next `hi`, whatever comes meanwhile: a
            // refusal ends a `recv` early, and resending at once would be a busy loop.
            let resend_at = Instant::now() + RESEND_EVERY;
            while let Some(left) = resend_at.checked_duration_since(Instant::now()) {
                match self.recv(left)? {
                    Some(datagram) if datagram == HELLO => return Ok(()),
                    Some(datagram) if datagram == HI => {
                        self.socket.send(HELLO).map(drop).or_else(ignore_refused)?
                    }
                    Some(_) | None => {}
                }
            }
        }
        bail!(
            "no answer from the peer at {} within {:.0} s: start it with --bind {} --peer {}",
            self.remote,
            give_up_after.as_secs_f64(),
            self.remote,
            self.local_address()?
        )
    }

    /// Sends each line typed on stdin until its end or `bye`. A line that cannot go
    /// (too long for a datagram; refused, the other peer being down for now) is a
    /// warning on stderr, and the chat goes on; any other failure to send ends it.
    fn type_lines(&self) -> Result<()> {
        for line in std::io::stdin().lock().split(b'\n') {
            let line = strip_line_ending(line.context("cannot read stdin")?);
            if line == BYE {
                break;
            }
            if let Err(problem) = self.try_say(&line) {
                match problem {
                    Unsent::Warning(warning) => {
                        let _ = writeln!(std::io::stderr(), "warning: {warning}");
                    }
                    Unsent::Error(error) => return Err(error),
                }
            }
        }
        Ok(())
    }

    /// Sends one typed line, `say <line>`, in one datagram.
    pub fn say(&self, line: &[u8]) -> Result<()> {
        self.try_say(line).map_err(|unsent| match unsent {
            Unsent::Warning(warning) => anyhow::anyhow!(warning),
            Unsent::Error(error) => error,
        })
    }

    /// [`Peer::say`], telling a line that cannot go now from a failure to send at all.
    fn try_say(&self, line: &[u8]) -> Result<(), Unsent> {
        let datagram = [SAY, line].concat();
        let largest = net::max_udp_payload(self.remote);
        if datagram.len() > largest {
            return Err(Unsent::Warning(format!(
                "line not sent: {} bytes, one datagram holds at most {} bytes of text; \
                 split it into shorter lines",
                line.len(),
                largest - SAY.len()
            )));
        }
        // send(): one datagram to the other peer (connected: no address needed).
        match self.socket.send(&datagram) {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                Err(Unsent::Warning(format!(
                    "line not delivered: the peer at {} is not running (connection refused)",
                    net::shown(self.remote)
                )))
            }
            Err(error) => Err(Unsent::Error(
                anyhow::Error::new(error)
                    .context(format!("cannot send to {}", net::shown(self.remote))),
            )),
        }
    }

    /// Waits up to `wait` for the other peer; answers its `hi` with `hello`.
    pub fn receive(&self, wait: Duration) -> Result<Event> {
        let Some(datagram) = self.recv(wait)? else {
            return Ok(Event::Nothing);
        };
        if datagram == HI {
            // It has not heard our hello yet: say it again.
            self.socket.send(HELLO).map(drop).or_else(ignore_refused)?;
            return Ok(Event::Nothing);
        }
        if datagram == BYE {
            return Ok(Event::Bye);
        }
        match datagram.strip_prefix(SAY) {
            Some(line) => Ok(Event::Line(line.to_vec())),
            None => {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: ignored an unknown datagram \"{}\"",
                    escaped(&datagram)
                );
                Ok(Event::Nothing)
            }
        }
    }

    /// recv() with a timeout: `None` if nothing came (or only an ICMP refusal, or a
    /// signal).
    fn recv(&self, wait: Duration) -> Result<Option<Vec<u8>>> {
        self.socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let mut datagram = vec![0; 65_536];
        match self.socket.recv(&mut datagram) {
            Ok(length) => {
                datagram.truncate(length);
                Ok(Some(datagram))
            }
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock
                        | ErrorKind::TimedOut
                        | ErrorKind::ConnectionRefused
                        // A signal (Ctrl-C) came: its thread ends the program.
                        | ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// A typed line that did not go: a warning (the chat goes on) or an error (it ends).
enum Unsent {
    Warning(String),
    Error(anyhow::Error),
}

/// A send refused because the other peer is (still, or no longer) down is not an error.
fn ignore_refused(error: std::io::Error) -> std::io::Result<()> {
    if error.kind() == ErrorKind::ConnectionRefused {
        Ok(())
    } else {
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nix::time::{ClockId, clock_gettime};

    /// CPU time (user + system) this thread has used so far (POSIX's per-thread clock:
    /// macOS has no getrusage(RUSAGE_THREAD)).
    fn thread_cpu() -> Duration {
        Duration::from(clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap())
    }

    #[test]
    fn greeting_a_peer_that_is_not_up_waits_between_tries() {
        let dead = common::testkit::Refusing::new();
        let remote = dead.address();
        let mut peer = Peer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        peer.connect(remote).unwrap();
        let before = thread_cpu();
        assert!(peer.greet(Duration::from_secs(1)).is_err());
        // Every `hi` is refused at once (ICMP port unreachable); resending at once
        // spun a whole core (about 1 s of CPU in this second), waiting costs nothing.
        let used = thread_cpu() - before;
        assert!(used < Duration::from_millis(300), "{used:?} of CPU in 1 s");
    }
}
