//! `lab-concurrent bench`: a load generator for any uppercase server, in the manner of
//! Stevens' `client.c` (UNP chapter 30): many clients, every reply checked, the rate
//! and latency reported, one row per run.
//!
//! # Layout
//!
//! - this file: the options, the runs (each model, or `--target`, at each client
//!   count of `--sweep`), the rows, the progress line;
//! - [`load`]: the clients themselves and what they measure;
//! - [`local_server`]: each model's server, a child process, never left behind;
//! - [`plot`]: the chart of a sweep (`--plot FILE.svg`).

mod load;
mod local_server;
mod plot;

use std::io::{IsTerminal, Write, stderr};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use common::cli::parse_seconds;
use common::net;
use common::outln;
use serde::Serialize;

use crate::models::Model;
use load::{Plan, Tally};
use local_server::LocalServer;

/// Command-line options of `lab-concurrent bench`.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// The server to load, as HOST:PORT (default: start each model in turn on loopback)
    #[arg(long, value_name = "HOST:PORT", value_parser = net::target_argument)]
    target: Option<String>,
    /// Only these models, when no --target is given
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Vec<Model>,
    /// Concurrent connections
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Run at each of these client counts instead of --clients (example: 1,10,100,1000)
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    sweep: Vec<u32>,
    /// Draw msgs/s and p99 latency against clients, a line per model, into this SVG file
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
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

/// One run's figures: a table row, or with `--json` one JSON object per line.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The model started for this run (no `--target`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The server loaded (`--target`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Concurrent clients.
    pub clients: usize,
    /// Seconds from the first connection to the last reply.
    pub duration_s: f64,
    /// Replies received complete and correct.
    pub messages: u64,
    /// `messages` per second of `duration_s`.
    pub msgs_per_s: f64,
    /// Median round-trip time, microseconds.
    pub p50_us: u64,
    /// 99th percentile round-trip time, microseconds.
    pub p99_us: u64,
    /// Longest round-trip time, microseconds.
    pub max_us: u64,
    /// Wrong bytes, a closed or reset connection, a reply that never came.
    pub errors: u64,
    /// Clients never answered at all within the run.
    pub starved: u64,
    /// Whether each message had a connection of its own.
    pub connect_per_message: bool,
}

impl Row {
    /// What the chart calls this run's server.
    pub fn label(&self) -> &str {
        self.model
            .as_deref()
            .or(self.target.as_deref())
            .unwrap_or("server")
    }
}

/// `lab-concurrent bench`.
pub fn run(options: &Options) -> Result<ExitCode> {
    if options.size == 0 || options.clients == 0 {
        bail!("--size and --clients must be at least 1");
    }
    let counts: Vec<usize> = if options.sweep.is_empty() {
        vec![options.clients]
    } else {
        options.sweep.iter().map(|&count| count as usize).collect()
    };
    // The servers to load: the target, or each chosen model in turn.
    let servers: Vec<Option<Model>> = match (&options.target, options.models.is_empty()) {
        (Some(_), _) => vec![None],
        (None, true) => Model::ALL.map(Some).to_vec(),
        (None, false) => options.models.iter().copied().map(Some).collect(),
    };
    if !options.json {
        let width = label_width(options);
        outln!(
            "{:<width$} {:>7} {:>9} {:>10} {:>8} {:>8} {:>9} {:>6} {:>7}",
            "server",
            "clients",
            "messages",
            "msgs/s",
            "p50 us",
            "p99 us",
            "max us",
            "errors",
            "starved"
        );
    }
    let mut rows = Vec::new();
    for &server in &servers {
        for &clients in &counts {
            let run_number = (rows.len() + 1, servers.len() * counts.len());
            let row = match (server, &options.target) {
                (Some(model), _) => {
                    let local = LocalServer::start(model, clients)?;
                    // The server stops (at the end of this arm) before the row is
                    // printed: should stdout be closed, this program ends at that
                    // write, and must leave no server behind.
                    run_one(options, local.address, clients, run_number, model.name())?
                }
                (None, Some(target)) => {
                    let address = net::resolve_target(target)?[0];
                    run_one(options, address, clients, run_number, target)?
                }
                (None, None) => bail!("no server to load"),
            };
            print_row(options, &row)?;
            rows.push(row);
        }
    }
    if let Some(path) = &options.plot {
        plot::draw(path, &rows)?;
        // On stderr: stdout holds the results (a table, or --json lines).
        let _ = writeln!(stderr(), "chart written to {}", path.display());
    }
    // A run with errors, or one that exchanged nothing (`--duration 0`, every client
    // starved), measured nothing sound: not a success, and the user is told why.
    let failed: Vec<String> = rows
        .iter()
        .filter(|row| row.errors > 0 || row.messages == 0)
        .map(|row| match row.errors {
            0 => format!("{}: no message was answered", row.label()),
            errors => format!("{}: {errors} errors", row.label()),
        })
        .collect();
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    bail!("{}", failed.join("; "))
}

/// Loads one server with `clients` clients; its row.
fn run_one(
    options: &Options,
    address: SocketAddr,
    clients: usize,
    (run, runs): (usize, usize),
    label: &str,
) -> Result<Row> {
    let _slow = if options.slow_client {
        Some(TcpStream::connect(address)?)
    } else {
        None
    };
    let started = Instant::now();
    let plan = Plan::new(options.size, started, options.duration, options.messages);
    let _progress = Progress::start(
        format!("bench: {label}, {clients} clients (run {run} of {runs})"),
        options.messages.is_none().then_some(options.duration),
    );
    let tally = if options.connect_per_message {
        load::connect_per_message(address, clients, &plan)?
    } else {
        load::persistent(address, clients, options.threads.max(1), &plan)?
    };
    let elapsed = started.elapsed().as_secs_f64();
    Ok(row(options, label, clients, &tally, elapsed))
}

fn row(options: &Options, label: &str, clients: usize, tally: &Tally, elapsed: f64) -> Row {
    let latencies = &tally.latencies;
    let (p50, p99) = if latencies.is_empty() {
        (0, 0)
    } else {
        (
            latencies.value_at_quantile(0.5),
            latencies.value_at_quantile(0.99),
        )
    };
    let (model, target) = match options.target {
        Some(_) => (None, Some(label.to_string())),
        None => (Some(label.to_string()), None),
    };
    Row {
        model,
        target,
        clients,
        duration_s: (elapsed * 1000.0).round() / 1000.0,
        messages: tally.messages,
        msgs_per_s: (tally.messages as f64 / elapsed * 10.0).round() / 10.0,
        p50_us: p50,
        p99_us: p99,
        max_us: latencies.max(),
        errors: tally.errors,
        starved: tally.starved,
        connect_per_message: options.connect_per_message,
    }
}

/// The width of the table's first column: a model's name, or the whole `--target`.
fn label_width(options: &Options) -> usize {
    options
        .target
        .as_ref()
        .map_or(10, |target| target.len().max(10))
}

fn print_row(options: &Options, row: &Row) -> Result<()> {
    if options.json {
        outln!("{}", serde_json::to_string(row)?);
    } else {
        let width = label_width(options);
        outln!(
            "{:<width$} {:>7} {:>9} {:>10.0} {:>8} {:>8} {:>9} {:>6} {:>7}",
            row.label(),
            row.clients,
            row.messages,
            row.msgs_per_s,
            row.p50_us,
            row.p99_us,
            row.max_us,
            row.errors,
            row.starved
        );
    }
    Ok(())
}

/// A progress line on stderr while a run goes on, when stderr is a terminal: the
/// seconds so far, redrawn every second, erased at the end.
struct Progress {
    stop: Option<mpsc::Sender<()>>,
    drawer: Option<thread::JoinHandle<()>>,
}

impl Progress {
    fn start(what: String, duration: Option<Duration>) -> Progress {
        if !stderr().is_terminal() {
            return Progress {
                stop: None,
                drawer: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let drawer = thread::spawn(move || {
            // Wakes once a second; the sender's drop ends the wait at once.
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_secs(1))
            {
                let so_far = started.elapsed().as_secs();
                // A terminal that went away is no reason to stop measuring.
                let _ = match duration {
                    Some(total) => {
                        write!(stderr(), "\r{what}: {so_far} s of {} s", total.as_secs())
                    }
                    None => write!(stderr(), "\r{what}: {so_far} s"),
                };
            }
            // Erase the line: the row goes to stdout, on the same terminal.
            let _ = write!(stderr(), "\r\x1b[K");
        });
        Progress {
            stop: Some(stop),
            drawer: Some(drawer),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
    }
}
