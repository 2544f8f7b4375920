//! `lab-concurrent demo`: an iterative, a threaded and a pool server side by side. A
//! silent client connects to each; then a second client asks something. The
//! iterative server cannot answer while it waits on the silent one; the threaded one
//! can; the pool, given one worker, cannot until the silent client leaves and frees
//! its worker (the pool's trade-off).

use std::io::Write;
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};
use common::connection::Settings;
use common::outln;
use common::shutdown::Shutdown;
use common::tcp_checks::read_len;

use common::admission::Admission;

use crate::models::{Config, Model};
use crate::server;

/// The models shown, each with whether it serves client B while client A is silent.
const MODELS: [(Model, bool); 3] = [
    (Model::Iterative, false),
    (Model::Thread, true),
    (Model::Pool, false),
];
/// How long client B waits where it should not be served: that wait is the point
/// (it runs out), long enough to show it, short enough not to bore.
const PATIENCE: Duration = Duration::from_millis(500);
/// How long client B waits where it should get its reply: only a bound, generous,
/// since the reply ends it (a loaded machine may be slow to start B's thread).
const REPLY_WAIT: Duration = Duration::from_secs(5);

/// Runs the demo; exits 0 if the models behaved as they should.
pub fn run() -> Result<ExitCode> {
    let mut outcomes = Vec::new();
    for (model, serves_b) in MODELS {
        // A shutdown of its own: each server's summary closes its part of the demo.
        let shutdown = Shutdown::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let config = Config {
            settings: Settings::new(Duration::from_secs(30), true, shutdown.clone()),
            admission: Admission::new(model.default_max_clients()),
            workers: 1,
            threads: 1,
        };
        let server = thread::spawn(move || server::serve(model, listener, &config));
        match model {
            Model::Pool => outln!("-- pool server with one worker on {address}"),
            _ => outln!("-- {} server on {address}", model.name()),
        }

        let silent = TcpStream::connect(address)?;
        outln!("client A: connects and says nothing");
        let mut second = TcpStream::connect(address)?;
        let wait = if serves_b { REPLY_WAIT } else { PATIENCE };
        second.set_read_timeout(Some(wait))?;
        second.write_all(b"hello?\n")?;
        outln!("client B: connects and sends \"hello?\"");
        match read_len(&mut second, 7) {
            Ok(reply) => {
                outln!(
                    "client B: receives {:?} at once",
                    String::from_utf8_lossy(&reply)
                );
                outcomes.push((model, true));
            }
            Err(_) => {
                let busy = match model {
                    Model::Pool => "the pool's only worker is busy with client A",
                    _ => "the server is busy waiting on client A",
                };
                outln!("client B: no reply after {} ms: {busy}", wait.as_millis());
                outcomes.push((model, false));
                if model == Model::Pool {
                    // close(): client A leaves, which frees the worker for B.
                    drop(silent);
                    second.set_read_timeout(Some(REPLY_WAIT))?;
                    let reply = read_len(&mut second, 7)?;
                    outln!(
                        "client A: leaves; client B: receives {:?} from the freed worker",
                        String::from_utf8_lossy(&reply)
                    );
                }
            }
        }
        shutdown.request();
        match server.join() {
            Ok(outcome) => outcome?,
            Err(_) => bail!("the demo's {} server crashed", model.name()),
        }
    }
    if outcomes != MODELS {
        bail!("the models did not behave as expected: {outcomes:?}");
    }
    outln!(
        "demo: one silent client stalls the iterative server and a pool with every worker held, not the threaded one"
    );
    Ok(ExitCode::SUCCESS)
}
