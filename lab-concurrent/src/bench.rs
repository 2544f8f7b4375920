//! `lab-concurrent bench`: a load generator for any uppercase server, in the manner of
//! Stevens' `client.c` (UNP chapter 30): many clients, every reply checked, the rate
//! and latency reported.
//!
//! Persistent clients ping-pong: send a line, wait for its uppercase, send the next.
//! They are spread over `--threads` event loops (mio), so a thousand connections cost
//! the generator little. `--connect-per-message` is the textbook client instead:
//! connect, send, read, close, once per message, on `--clients` threads.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::cli::parse_seconds;
use common::net;
use common::outln;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

use crate::models::Model;

/// Command-line options of `lab-concurrent bench`.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// The server to load, as HOST:PORT (default: start each model in turn on loopback)
    #[arg(long)]
    target: Option<String>,
    /// Only these models, when no --target is given
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Vec<Model>,
    /// Concurrent connections
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Seconds of load
    #[arg(long, value_parser = parse_seconds, default_value = "5")]
    duration: Duration,
    /// Messages per client instead of a duration
    #[arg(long)]
    messages: Option<u64>,
    /// Bytes per message, newline included
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Connect, send one line, read the reply, close: once per message
    #[arg(long)]
    connect_per_message: bool,
    /// Keep one more client connected that never sends (the iterative model's weakness)
    #[arg(long)]
    slow_client: bool,
    /// Event-loop threads of the generator (persistent clients)
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON object per run instead of a table row
    #[arg(long)]
    json: bool,
}

/// A reply not complete within this long counts as an error.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What one run measured.
#[derive(Debug, Default)]
struct Tally {
    messages: u64,
    errors: u64,
    /// Round-trip times in microseconds.
    latencies: Vec<u32>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.messages += other.messages;
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
    }
}

/// What every client sends and expects back.
#[derive(Debug, Clone)]
struct Plan {
    message: Vec<u8>,
    reply: Vec<u8>,
    deadline: Instant,
    messages_per_client: Option<u64>,
}

/// `lab-concurrent bench`.
pub fn run(options: &Options) -> Result<ExitCode> {
    if options.size == 0 || options.clients == 0 {
        bail!("--size and --clients must be at least 1");
    }
    if !options.json {
        outln!(
            "{:<10} {:>7} {:>9} {:>10} {:>8} {:>8} {:>9} {:>6}",
            "server",
            "clients",
            "messages",
            "msgs/s",
            "p50 us",
            "p99 us",
            "max us",
            "errors"
        );
    }
    let mut all_clean = true;
    match &options.target {
        Some(target) => {
            let address = net::resolve_target(target)?[0];
            let (clean, row) = run_one(options, address, target)?;
            outln!("{row}");
            all_clean &= clean;
        }
        None => {
            let models = if options.models.is_empty() {
                Model::ALL.to_vec()
            } else {
                options.models.clone()
            };
            for model in models {
                let server = LocalServer::start(model)?;
                let (clean, row) = run_one(options, server.address, model.name())?;
                // Stop the server before printing: should stdout be closed, this
                // program ends at that write, and must leave no server behind.
                drop(server);
                outln!("{row}");
                all_clean &= clean;
            }
        }
    }
    Ok(if all_clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Loads one server; returns whether every client exchanged messages without error,
/// and the row to print.
fn run_one(options: &Options, address: SocketAddr, label: &str) -> Result<(bool, String)> {
    let message: Vec<u8> = b"abcdefghijklmnopqrstuvwxyz"
        .iter()
        .copied()
        .cycle()
        .take(options.size - 1)
        .chain([b'\n'])
        .collect();
    let reply = message.to_ascii_uppercase();
    let _slow = if options.slow_client {
        Some(TcpStream::connect(address)?)
    } else {
        None
    };
    let started = Instant::now();
    let plan = Plan {
        message,
        reply,
        deadline: started
            + if options.messages.is_some() {
                Duration::from_secs(3600)
            } else {
                options.duration
            },
        messages_per_client: options.messages,
    };
    let tally = if options.connect_per_message {
        connect_per_message(address, options.clients, &plan)
    } else {
        persistent(address, options.clients, options.threads.max(1), &plan)?
    };
    let elapsed = started.elapsed().as_secs_f64();
    // A run that exchanged nothing (`--duration 0`) measured nothing: not a success.
    let clean = tally.errors == 0 && tally.messages > 0;
    Ok((clean, report(options, label, &tally, elapsed)))
}

/// The run's row of the table, or its JSON object.
fn report(options: &Options, label: &str, tally: &Tally, elapsed: f64) -> String {
    let mut latencies = tally.latencies.clone();
    latencies.sort_unstable();
    let percentile = |p: f64| -> u32 {
        if latencies.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    let rate = tally.messages as f64 / elapsed;
    let (p50, p99, max) = (
        percentile(50.0),
        percentile(99.0),
        latencies.last().copied().unwrap_or(0),
    );
    if options.json {
        let key = if options.target.is_some() {
            "target"
        } else {
            "model"
        };
        format!(
            "{{\"{key}\":\"{label}\",\"clients\":{},\"duration_s\":{elapsed:.3},\"messages\":{},\"msgs_per_s\":{rate:.1},\"p50_us\":{p50},\"p99_us\":{p99},\"max_us\":{max},\"errors\":{},\"connect_per_message\":{}}}",
            options.clients, tally.messages, tally.errors, options.connect_per_message
        )
    } else {
        format!(
            "{label:<10} {:>7} {:>9} {rate:>10.0} {p50:>8} {p99:>8} {max:>9} {:>6}",
            options.clients, tally.messages, tally.errors
        )
    }
}

/// Persistent connections, ping-pong, spread over `threads` event loops.
fn persistent(address: SocketAddr, clients: usize, threads: usize, plan: &Plan) -> Result<Tally> {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        let stream =
            TcpStream::connect(address).with_context(|| format!("cannot connect to {address}"))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        connections.push(stream);
    }
    let mut shares: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (index, stream) in connections.into_iter().enumerate() {
        shares[index % threads].push(stream);
    }
    let workers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let plan = plan.clone();
            thread::spawn(move || ping_pong(share, &plan))
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        match worker.join() {
            Ok(outcome) => tally.merge(outcome?),
            Err(_) => bail!("a load thread crashed"),
        }
    }
    Ok(tally)
}

/// One persistent client: its socket and where its current exchange stands.
struct PingClient {
    stream: MioStream,
    sent_at: Instant,
    /// Bytes of the message not yet written.
    unsent: usize,
    /// Bytes of the reply received so far.
    received: usize,
    done: u64,
    alive: bool,
    /// Whether write readiness is asked for: only while a message is partly sent
    /// (else every ACK would wake the generator).
    write_interest: bool,
}

impl PingClient {
    /// Asks for write readiness exactly while part of the message waits.
    fn update_interest(&mut self, poll: &Poll, token: Token) -> std::io::Result<()> {
        let wanted = self.unsent > 0;
        if wanted != self.write_interest {
            let interest = if wanted {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            poll.registry()
                .reregister(&mut self.stream, token, interest)?;
            self.write_interest = wanted;
        }
        Ok(())
    }

    fn send(&mut self, plan: &Plan) -> std::io::Result<()> {
        while self.unsent > 0 {
            let from = plan.message.len() - self.unsent;
            match self.stream.write(&plan.message[from..]) {
                Ok(written) => self.unsent -= written,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    fn start(&mut self, plan: &Plan) -> std::io::Result<()> {
        self.sent_at = Instant::now();
        self.unsent = plan.message.len();
        self.received = 0;
        self.send(plan)
    }

    /// Reads what has arrived and checks it against the expected reply; a complete
    /// reply is recorded and the next message sent. Fails on wrong bytes, EOF or reset.
    fn receive(&mut self, buffer: &mut [u8], plan: &Plan, tally: &mut Tally) -> Result<()> {
        loop {
            match self.stream.read(buffer) {
                Ok(0) => bail!("the server closed the connection"),
                Ok(read) => {
                    let end = self.received + read;
                    if end > plan.reply.len() || buffer[..read] != plan.reply[self.received..end] {
                        bail!("wrong reply bytes");
                    }
                    self.received = end;
                    if self.received == plan.reply.len() {
                        let micros = self.sent_at.elapsed().as_micros();
                        tally
                            .latencies
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        tally.messages += 1;
                        self.done += 1;
                        let more = plan
                            .messages_per_client
                            .is_none_or(|limit| self.done < limit);
                        if !more || Instant::now() >= plan.deadline {
                            // Done: close at once, so a server that serves one client
                            // at a time moves on to the next.
                            self.alive = false;
                            let _ = self.stream.shutdown(std::net::Shutdown::Both);
                            return Ok(());
                        }
                        // One exchange per event, as loadgen does: reading on here
                        // would let a fast connection monopolise the generator while
                        // the others wait. The next reply's arrival is a new event.
                        return Ok(self.start(plan)?);
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }
}

fn ping_pong(share: Vec<TcpStream>, plan: &Plan) -> Result<Tally> {
    let mut poll = Poll::new()?;
    let mut clients = Vec::with_capacity(share.len());
    for (index, stream) in share.into_iter().enumerate() {
        let mut stream = MioStream::from_std(stream);
        poll.registry()
            .register(&mut stream, Token(index), Interest::READABLE)?;
        clients.push(PingClient {
            stream,
            sent_at: Instant::now(),
            unsent: 0,
            received: 0,
            done: 0,
            alive: true,
            write_interest: false,
        });
    }
    let mut tally = Tally::default();
    for (index, client) in clients.iter_mut().enumerate() {
        let started = client
            .start(plan)
            .and_then(|()| client.update_interest(&poll, Token(index)));
        if started.is_err() {
            client.alive = false;
            tally.errors += 1;
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0; 64 * 1024];
    let mut alive = clients.iter().filter(|client| client.alive).count();
    while alive > 0 {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for event in events.iter() {
            let client = &mut clients[event.token().0];
            if !client.alive {
                continue;
            }
            let outcome = client
                .send(plan)
                .map_err(anyhow::Error::from)
                .and_then(|()| client.receive(&mut buffer, plan, &mut tally))
                .and_then(|()| Ok(client.update_interest(&poll, event.token())?));
            if outcome.is_err() {
                client.alive = false;
                tally.errors += 1;
            }
        }
        let now = Instant::now();
        for client in clients.iter_mut().filter(|client| client.alive) {
            let late = now.duration_since(client.sent_at) > REPLY_TIMEOUT;
            if late || (now >= plan.deadline + REPLY_TIMEOUT) {
                client.alive = false;
                tally.errors += 1;
            }
        }
        alive = clients.iter().filter(|client| client.alive).count();
    }
    Ok(tally)
}

/// The textbook client, `clients` of them at once: connect, send, read, close.
fn connect_per_message(address: SocketAddr, clients: usize, plan: &Plan) -> Tally {
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let plan = plan.clone();
            thread::spawn(move || {
                let mut tally = Tally::default();
                let mut done = 0;
                while Instant::now() < plan.deadline
                    && plan.messages_per_client.is_none_or(|limit| done < limit)
                {
                    let started = Instant::now();
                    match one_connection(address, &plan) {
                        Ok(()) => {
                            let micros = started.elapsed().as_micros();
                            tally
                                .latencies
                                .push(u32::try_from(micros).unwrap_or(u32::MAX));
                            tally.messages += 1;
                        }
                        Err(_) => tally.errors += 1,
                    }
                    done += 1;
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        match worker.join() {
            Ok(part) => tally.merge(part),
            Err(_) => tally.errors += 1,
        }
    }
    tally
}

fn one_connection(address: SocketAddr, plan: &Plan) -> Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, REPLY_TIMEOUT)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream.write_all(&plan.message)?;
    let mut reply = vec![0; plan.reply.len()];
    stream.read_exact(&mut reply)?;
    if reply != plan.reply {
        bail!("wrong reply bytes");
    }
    // close() as `stream` is dropped: the client closes first, so the TIME_WAIT
    // state stays on its side, as with the textbook client.
    Ok(())
}

/// One of our models, started as a child process on a free loopback port.
struct LocalServer {
    child: Child,
    address: SocketAddr,
}

impl LocalServer {
    fn start(model: Model) -> Result<LocalServer> {
        let program =
            std::env::current_exe().context("cannot find this program to start a server")?;
        let mut child = Command::new(program)
            .args(["server", "--model", model.name(), "--port", "0", "--quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start a server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut first_line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first_line)?;
        let address = first_line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|address| address.parse().ok())
            .with_context(|| {
                format!("the {} server did not start: {first_line:?}", model.name())
            })?;
        Ok(LocalServer { child, address })
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        // SIGTERM, as a user's Ctrl-C would; the server exits cleanly.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = self.child.wait();
    }
}
