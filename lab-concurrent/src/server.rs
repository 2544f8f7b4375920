//! `lab-concurrent server --model M`: the listening socket, then the chosen model.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use common::cli::parse_seconds;
use common::connection::Settings;
use common::net;
use common::report::Log;
use common::shutdown::Shutdown;

use crate::Endpoint;
use common::admission::Admission;

use crate::models::{self, Config, Model};

/// Command-line options of `lab-concurrent server`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// How clients are served
    #[arg(long, value_enum, default_value = "thread")]
    pub model: Model,
    /// Threads of the pool model, processes of the prefork model (default: available
    /// parallelism x 4)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Event loops of the event model, runtime threads of the async model
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: u32,
    /// Sessions held at once, queued ones included; one more is told `server busy`
    /// (default: 10,000 for event and async, 1,024 for the others; iterative holds one
    /// and prefork --workers, and they leave the rest in the backlog)
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_clients: Option<usize>,
    /// Close a connection that neither sends nor reads for this many seconds (0: never)
    #[arg(long, value_parser = parse_seconds, default_value = "300")]
    pub idle_timeout: Duration,
    /// Print only the listening line, errors and the shutdown summary
    #[arg(short, long)]
    pub quiet: bool,
}

/// `lab-concurrent server`: listen, then serve with the chosen model until Ctrl-C.
pub fn run(options: &Options) -> Result<ExitCode> {
    raise_open_files_limit(Log::new(options.quiet));
    // Signals first, so that none is missed once the listening line is out. The
    // forking models must stay single-threaded, so they catch them themselves; the
    // others use the shared Ctrl-C handling (which runs on a thread of its own).
    let (shutdown, fork_signals) = if options.model.forks() {
        (Shutdown::new(), Some(models::fork::Signals::install()?))
    } else {
        (Shutdown::on_signals()?, None)
    };
    let listener = listen(options)?;
    let config = Config {
        settings: Settings::new(options.idle_timeout, options.quiet, shutdown),
        admission: Admission::new(
            options
                .max_clients
                .unwrap_or(options.model.default_max_clients()),
        ),
        workers: options
            .workers
            .map_or_else(default_workers, |workers| workers as usize),
        threads: options.threads as usize,
    };
    match (options.model, fork_signals) {
        (Model::Prefork, Some(signals)) => models::prefork::serve(listener, &config, signals)?,
        (_, Some(signals)) => models::fork::serve(listener, &config, signals)?,
        (model, None) => serve(model, listener, &config)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one model on a listening socket until shutdown.
pub fn serve(model: Model, listener: TcpListener, config: &Config) -> Result<()> {
    match model {
        Model::Iterative => models::iterative::serve(&listener, config),
        Model::Thread => models::thread::serve(&listener, config),
        Model::Pool => models::pool::serve(&listener, config),
        Model::Prefork => {
            models::prefork::serve(listener, config, models::fork::Signals::install()?)
        }
        Model::Fork => models::fork::serve(listener, config, models::fork::Signals::install()?),
        Model::Event => models::event::serve(listener, config),
        Model::Async => models::r#async::serve(listener, config),
    }
}

/// socket(), bind(), listen(), as in lab-tcp: one listening socket, whatever the
/// model (no `SO_REUSEPORT`: a second server on this port must fail, not share it).
pub fn listen(options: &Options) -> Result<TcpListener> {
    let address = options.endpoint.bind_address()?;
    let socket = net::tcp_socket(address)?;
    net::bind(&socket, address)?;
    let listener = net::listen(socket)?;
    net::announce(listener.local_addr()?, "tcp");
    Ok(listener)
}

/// Available parallelism x 4: workers of a pool may block on a slow client's write.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(4, |cores| cores.get() * 4)
}

/// Every connection is a file descriptor: the usual soft limit (1,024 on Linux, 256 on
/// macOS) would cap a server at fewer clients. Raise it as far as the system takes it
/// (the hard limit; `OPEN_MAX` on macOS), as C servers do.
fn raise_open_files_limit(log: Log) {
    if let Err(error) = common::platform::raise_open_files_limit() {
        log.warn(format_args!("{error:#}"));
    }
}
