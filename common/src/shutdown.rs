//! Stopping a server cleanly on Ctrl-C (SIGINT) or SIGTERM, even while it is blocked
//! in `accept`, `recv_from` or `read`.
//!
//! Setting a flag is not enough. The `ctrlc` crate runs our handler on a thread of its
//! own, so the main thread's blocked call is not interrupted at all; and even a signal
//! that did land on it would not help, since Rust's `accept` retries on `EINTR`. So
//! the server registers the sockets it may block on, and a shutdown request wakes each
//! one in a portable way:
//!
//! - a listening socket: connect to it, so `accept` returns (the server then sees the
//!   flag and stops instead of serving that connection);
//! - a UDP socket: send it an empty datagram, so `recv_from` returns;
//! - a connected TCP stream: `shutdown(SHUT_RDWR)`, so a blocked `read` returns 0;
//! - an event loop: its own wake-up call (e.g. a `mio::Waker`), registered as a callback.
//!
//! The flag is always set before the wake-up, so a server that checks it after every
//! blocking call can never miss a request.

use std::collections::HashMap;
use std::net::{Shutdown as Direction, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::socket;

use crate::net;

/// For clients: Ctrl-C (SIGINT) ends the program at once, printing nothing, with exit
/// status 130 (128 + SIGINT, what a shell reports for a program stopped by Ctrl-C),
/// whatever it waits for: a line of input, a `connect`, a reply, the pause between
/// two tries.
///
/// The handler calls `_exit(130)` inside the signal handler itself (signal-hook's
/// safe `register_conditional_shutdown`). A handler that only woke a thread (ctrlc's)
/// would race the main thread, whose blocked `recv` the signal interrupts: `recv`
/// fails with `EINTR` and the client would print `error: ...` and exit 1 first.
pub fn exit_quietly_on_ctrl_c() {
    let always = Arc::new(AtomicBool::new(true));
    // Should registering fail, SIGINT's default action ends the client just as quietly.
    let _ =
        signal_hook::flag::register_conditional_shutdown(signal_hook::consts::SIGINT, 130, always);
}

/// A shutdown request shared by a server's threads: set once, by a signal or by the
/// program itself (a `demo`, a test), and seen by every loop.
#[derive(Debug, Default)]
pub struct Shutdown {
    requested: AtomicBool,
    wakers: Mutex<Wakers>,
}

#[derive(Default)]
struct Wakers {
    listeners: Vec<SocketAddr>,
    datagram_sockets: Vec<SocketAddr>,
    /// Connections being served, by descriptor: shut down (not closed) on a request.
    streams: HashMap<u64, RawFd>,
    next_stream_id: u64,
    callbacks: Vec<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Wakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakers")
            .field("listeners", &self.listeners)
            .field("datagram_sockets", &self.datagram_sockets)
            .field("streams", &self.streams.len())
            .field("callbacks", &self.callbacks.len())
            .finish()
    }
}

impl Shutdown {
    /// A new, unrequested shutdown.
    pub fn new() -> Arc<Self> {
        Arc::new(Shutdown::default())
    }

    /// A shutdown requested by Ctrl-C (SIGINT) or SIGTERM.
    pub fn on_signals() -> Result<Arc<Self>> {
        let shutdown = Shutdown::new();
        let handle = Arc::clone(&shutdown);
        ctrlc::set_handler(move || handle.request())
            .context("cannot install the Ctrl-C handler")?;
        Ok(shutdown)
    }

    /// Has a shutdown been requested?
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Requests the shutdown and wakes every registered socket.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        for &address in &wakers.listeners {
            // Only the connection attempt matters: it makes `accept` return.
            let _ = TcpStream::connect_timeout(&address, Duration::from_millis(200));
        }
        for &address in &wakers.datagram_sockets {
            if let Ok(waker) = net::udp_connected(address) {
                let _ = waker.send(&[]);
            }
        }
        for &fd in wakers.streams.values() {
            // shutdown(SHUT_RDWR): a blocked recv on it returns 0 at once.
            let _ = socket::shutdown(fd, socket::Shutdown::Both);
        }
        for wake in &wakers.callbacks {
            wake();
        }
    }

    /// Registers a wake-up call (an event loop's waker), run when a shutdown is
    /// requested; run at once if it already was.
    pub fn on_request(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let mut wakers = self.lock();
        if self.is_requested() {
            wake();
        }
        wakers.callbacks.push(wake);
    }

    /// Registers a listening socket, so that a request wakes a blocked `accept`.
    pub fn wake_listener(&self, listener: &TcpListener) -> Result<()> {
        let address = net::reachable(listener.local_addr()?);
        self.lock().listeners.push(address);
        Ok(())
    }

    /// Registers a UDP socket, so that a request wakes a blocked `recv_from`.
    pub fn wake_datagram_socket(&self, socket: &UdpSocket) -> Result<()> {
        let address = net::reachable(socket.local_addr()?);
        self.lock().datagram_sockets.push(address);
        Ok(())
    }

    /// Registers a client's connection for as long as the returned guard lives, so
    /// that a request ends a blocked `read` on it. Drop the guard before the stream:
    /// only its descriptor number is kept (no `dup` per connection), and that number
    /// is reused once the stream is closed.
    pub fn guard_stream(self: &Arc<Self>, stream: &TcpStream) -> StreamGuard {
        let mut wakers = self.lock();
        let id = wakers.next_stream_id;
        wakers.next_stream_id += 1;
        wakers.streams.insert(id, stream.as_raw_fd());
        drop(wakers);
        if self.is_requested() {
            // The request came between `accept` and now: do not start serving.
            let _ = stream.shutdown(Direction::Both);
        }
        StreamGuard {
            shutdown: Arc::clone(self),
            id,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wakers> {
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps a connection registered with a [`Shutdown`]; unregisters it when dropped.
#[derive(Debug)]
pub struct StreamGuard {
    shutdown: Arc<Shutdown>,
    id: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.shutdown.lock().streams.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::spawn_bounded;
    use std::io::Read;

    #[test]
    fn request_wakes_a_blocked_accept() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shutdown = Shutdown::new();
        shutdown.wake_listener(&listener).unwrap();
        let requester = Arc::clone(&shutdown);
        let waiter = spawn_bounded(move || {
            let _ = listener.accept();
            requester.is_requested()
        });
        shutdown.request();
        assert!(waiter.join(), "accept returned with the flag set");
    }

    #[test]
    fn request_wakes_a_blocked_recv_from() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let shutdown = Shutdown::new();
        shutdown.wake_datagram_socket(&socket).unwrap();
        let waiter = spawn_bounded(move || socket.recv_from(&mut [0; 16]).map(|(n, _)| n).ok());
        shutdown.request();
        assert_eq!(waiter.join(), Some(0));
    }

    #[test]
    fn request_ends_a_blocked_read() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let shutdown = Shutdown::new();
        let guard = shutdown.guard_stream(&conn);
        let waiter = spawn_bounded(move || conn.read(&mut [0; 16]).ok());
        shutdown.request();
        assert_eq!(waiter.join(), Some(0));
        drop(guard);
        assert!(shutdown.lock().streams.is_empty());
    }
}
