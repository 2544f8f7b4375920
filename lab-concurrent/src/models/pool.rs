//! A thread pool (the Rust Book's ThreadPool; Stevens' prethreaded serv08). The
//! `--workers` threads are made once, at start; the main thread only accepts, and
//! hands each connection over a bounded queue to an idle worker, which serves that
//! client's whole session with blocking I/O, then takes the next from the queue.
//!
//! No client pays for a thread. The trade-off: a pool serves only as many clients at
//! once as it has workers. While every worker is held (by a slow or silent client),
//! new clients wait in the queue, connected but unanswered, until a worker is free.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use anyhow::{Result, bail};
use common::admission::Ticket;
use common::connection::{self, Buffers, Settings, survive_accept_error};
use common::net;

use super::{Config, THREAD_STACK, turn_away};

/// A connection waiting for a worker, with its place among `--max-clients`.
type Job = (TcpStream, SocketAddr, Ticket);

/// Starts the workers, then accepts clients and queues them, until shutdown.
pub fn serve(listener: &TcpListener, config: &Config) -> Result<()> {
    let settings = &config.settings;
    settings.shutdown.wake_listener(listener)?;
    let workers = config.workers.max(1);
    // The queue: `--max-clients` counts the clients served and queued, so it holds
    // the rest. Admission never lets more in, so `send` below does not wait (but for
    // the instant a worker that finished takes to come back to `recv`).
    let (queue, jobs) = sync_channel::<Job>(config.admission.limit().saturating_sub(workers));
    // One receiver, shared: an idle worker locks it and waits for the next job.
    let jobs = Arc::new(Mutex::new(jobs));
    let pool: Vec<_> = (0..workers)
        .map(|index| {
            let jobs = Arc::clone(&jobs);
            let settings = settings.clone();
            thread::Builder::new()
                .name(format!("worker-{index}"))
                .stack_size(THREAD_STACK)
                .spawn(move || work(&jobs, &settings))
        })
        .collect::<std::io::Result<_>>()?;
    while !settings.shutdown.is_requested() {
        // accept(): the next client.
        let accepted = net::accept(listener);
        if settings.shutdown.is_requested() {
            break;
        }
        let (conn, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                survive_accept_error(&error, settings.log);
                continue;
            }
        };
        let Some(ticket) = config.admission.try_admit() else {
            turn_away(conn, peer, settings.log);
            continue;
        };
        // Hand the connection to the pool; the main thread goes back to accept at once.
        if queue.send((conn, peer, ticket)).is_err() {
            bail!("every worker of the pool has stopped");
        }
    }
    // Closing the queue tells the workers to stop once they are idle.
    drop(queue);
    for worker in pool {
        if worker.join().is_err() {
            bail!("a worker thread crashed");
        }
    }
    settings.stats.print_summary();
    Ok(())
}

/// A worker's life: take a connection from the queue, serve it to the end, repeat,
/// until the queue is closed.
fn work(jobs: &Mutex<Receiver<Job>>, settings: &Settings) {
    // One session at a time per worker: it reuses its buffers for every client.
    let mut buffers = Buffers::new();
    loop {
        // The lock is held only while waiting for a job, not while serving it.
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((conn, peer, ticket)) = job else {
            return;
        };
        if settings.shutdown.is_requested() {
            // Still queued at shutdown: closed without being served.
            continue;
        }
        connection::serve_client(conn, peer, settings, &mut buffers);
        drop(ticket);
    }
}
