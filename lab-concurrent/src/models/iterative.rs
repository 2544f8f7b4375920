//! Iterative: one client at a time, on the main thread (NIT IT-553's iterative server;
//! Stevens' serv00). While a client is served, the next ones wait in the listen
//! backlog: the kernel completes their handshakes, but nobody reads what they send.

use std::net::TcpListener;

use anyhow::Result;
use common::connection::{self, Buffers, survive_accept_error};
use common::net;

use super::Config;

/// Serves clients one after another until shutdown.
pub fn serve(listener: &TcpListener, config: &Config) -> Result<()> {
    let settings = &config.settings;
    settings.shutdown.wake_listener(listener)?;
    // One client at a time: every session can use the same buffers.
    let mut buffers = Buffers::new();
    while !settings.shutdown.is_requested() {
        // accept(): the next client, or wait for one.
        let accepted = net::accept(listener);
        if settings.shutdown.is_requested() {
            break;
        }
        match accepted {
            // Serve it to the end before accepting anyone else.
            Ok((conn, peer)) => connection::serve_client(conn, peer, settings, &mut buffers),
            Err(error) => survive_accept_error(&error, settings.log),
        }
    }
    settings.stats.print_summary();
    Ok(())
}
