//! A thread per client (CPE 314's threaded server; Stevens' serv06). The main thread
//! only accepts; each client's session runs on a thread of its own, so a silent
//! client blocks only its own thread.
//!
//! Read it beside `examples/threaded_server.rs`, the slides' version: the same loop,
//! with what it lacks added where it belongs (accept errors survived, `--max-clients`,
//! the shared session loop `serve_client`, and a shutdown that ends every session).

use std::net::TcpListener;
use std::thread;

use anyhow::Result;
use common::connection::{self, Buffers, SessionThreads, survive_accept_error};
use common::net;

use super::{Config, THREAD_STACK, turn_away};

/// Accepts clients and starts a thread for each, until shutdown.
pub fn serve(listener: &TcpListener, config: &Config) -> Result<()> {
    let settings = &config.settings;
    settings.shutdown.wake_listener(listener)?;
    let mut sessions = SessionThreads::default();
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
        let for_thread = settings.clone();
        // A new thread runs the session; the main thread goes back to accept at once.
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || {
                connection::serve_client(conn, peer, &for_thread, &mut Buffers::new());
                drop(ticket);
            });
        match spawned {
            Ok(session) => sessions.push(session),
            // Out of threads: the connection (moved into the closure) is closed.
            Err(error) => settings.log.warn(format_args!(
                "cannot start a thread for {peer}: {error}",
                peer = net::shown(peer)
            )),
        }
    }
    // The shutdown has woken every session: let them end (and say so) first.
    sessions.join_all();
    settings.stats.print_summary();
    Ok(())
}
