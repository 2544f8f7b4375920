//! A pool: a fixed set of `--workers` threads, made once at start (Stevens'
//! prethreaded serv07-09), so no client pays for a thread.
//!
//! A pool of *blocking* workers serves only as many clients at once as it has
//! workers: the rest wait, which is fine for short requests and wrong for the
//! long-lived connections of this protocol. So each worker here runs the event loop
//! of `event.rs` over its own share of the clients. Each has its own listening socket
//! on the same port (`SO_REUSEPORT`), and the kernel spreads new connections over
//! them: no thread hands work to another (a hand-off per message costs a cross-CPU
//! wake-up), and the workers use every core.

use std::net::TcpListener;
use std::thread;

use anyhow::{Result, bail};
use common::net;

use super::{Config, event};

/// Starts the workers and waits for them to finish (at shutdown).
pub fn serve(listener: TcpListener, config: &Config) -> Result<()> {
    let address = listener.local_addr()?;
    let mut listeners = vec![listener];
    for _ in 1..config.workers.max(1) {
        // socket(), SO_REUSEPORT, bind(), listen(): one more listener on the same port.
        let socket = net::tcp_socket(address)?;
        socket.set_reuse_port(true)?;
        net::bind(&socket, address)?;
        listeners.push(net::listen(socket)?);
    }
    let workers: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(index, listener)| {
            let config = config.clone();
            thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || event::run_loop(listener, &config))
        })
        .collect::<std::io::Result<_>>()?;
    for worker in workers {
        match worker.join() {
            Ok(outcome) => outcome?,
            Err(_) => bail!("a worker thread crashed"),
        }
    }
    config.settings.stats.print_summary();
    Ok(())
}
