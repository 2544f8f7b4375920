//! `lab-udp demo`: a server on a free loopback port and a client talking to it, in one
//! process, printing the exchange; then the UDP Pinger against a server that loses
//! datagrams on purpose.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Result, bail};
use common::outln;
use common::report::{Log, printable};
use common::shutdown::Shutdown;
use common::udp_client::UdpClient;
use common::upper::uppercase;

use crate::netem::{DelayRange, Netem};
use crate::ping::{self, Settings, Tally};
use crate::{Endpoint, server};

/// The pinger part's seed: with `--loss 0.3` it drops four of the ten pings.
const PINGER_SEED: u64 = 1;

/// Runs the demo; exits 0 only if every reply was right and the pinger heard back.
pub fn run() -> Result<ExitCode> {
    let server = DemoServer::start(Netem::none())?;
    let address = server.address;
    outln!("server: waiting for datagrams on {address} (udp)");
    let mut client = UdpClient::new(vec![address], Duration::from_secs(1), 4);
    let mut all_right = true;
    for message in [
        "hello, udp",
        "straße café ﬁsh",
        "",
        "each datagram is a message",
    ] {
        outln!(
            "client: sends   \"{}\" ({} bytes)",
            printable(message.as_bytes()),
            message.len()
        );
        let reply = client.request(message.as_bytes())?;
        outln!("client: receives \"{}\"", printable(&reply));
        all_right &= reply == uppercase(message.as_bytes());
    }
    server.stop()?;
    if !all_right {
        bail!("a reply was not the uppercase of its message");
    }
    outln!("demo: every datagram came back uppercased");
    outln!();
    pinger()
}

/// The UDP Pinger part: ten pings to a server that drops about a third of them.
fn pinger() -> Result<ExitCode> {
    let server = DemoServer::start(Netem::with_seed(0.3, DelayRange::NONE, PINGER_SEED))?;
    let address = server.address;
    outln!(
        "pinger: a server on {address} drops datagrams at random (server --loss 0.3 --seed {PINGER_SEED}); \
         ten pings, 0.15 s apart, each waited for 0.1 s"
    );
    let settings = Settings {
        count: 10,
        interval: Duration::from_millis(150),
        timeout: Duration::from_millis(100),
    };
    let tally = Mutex::new(Tally::new(address));
    ping::ping(&[address], settings, &tally)?;
    let tally = tally
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    outln!("{}", tally.summary());
    server.stop()?;
    if tally.transmitted() != settings.count || tally.received() == 0 {
        bail!(
            "the pinger sent {} pings and heard no reply",
            tally.transmitted()
        );
    }
    outln!("demo: the lost pings timed out; the others show their round-trip times");
    Ok(ExitCode::SUCCESS)
}

/// A server on a free loopback port, on a thread of this process.
struct DemoServer {
    address: SocketAddr,
    shutdown: Arc<Shutdown>,
    thread: JoinHandle<Result<()>>,
}

impl DemoServer {
    fn start(netem: Netem) -> Result<Self> {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 0,
        };
        let socket = server::bind(&endpoint)?;
        let address = socket.local_addr()?;
        let shutdown = Shutdown::new();
        let server_shutdown = Arc::clone(&shutdown);
        let thread = thread::spawn(move || {
            server::serve(&socket, false, netem, Log::new(true), &server_shutdown)
        });
        Ok(DemoServer {
            address,
            shutdown,
            thread,
        })
    }

    fn stop(self) -> Result<()> {
        self.shutdown.request();
        match self.thread.join() {
            Ok(outcome) => outcome,
            Err(_) => bail!("the demo server crashed"),
        }
    }
}
