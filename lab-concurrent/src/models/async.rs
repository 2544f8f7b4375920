//! Async: a task per client on a tokio runtime (CPE 314's "asynchronous server", as
//! most Rust network code is written today; mini-redis is the model).
//!
//! Read it beside `thread.rs` and `event.rs`. The accept loop and the session read
//! like the thread model's: accept, start something per client, loop over read,
//! protocol, write. But a task is not a thread: `.await` on a socket that is not
//! ready suspends the task, and the runtime's thread serves other tasks meanwhile.
//! Underneath, the runtime is `event.rs`: non-blocking sockets and epoll/kqueue
//! (through mio), each task a state machine that the compiler writes from the
//! `async fn`. `--threads 1` (the default) runs everything on this thread, as the
//! event loop does; more threads make a multi-thread runtime that moves tasks
//! between its threads.

use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use common::admission::Ticket;
use common::connection::{Ending, READ_BUFFER, Settings, log_ending, on_received};
use common::net;
use common::session::{Next, Session};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Config, turn_away};

/// After a shutdown request, how long the sessions get to end before they are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// After `accept` fails for lack of file descriptors, wait this long before trying again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// A reply buffer grown past this by a long read is given back once it is sent.
const REPLY_KEPT: usize = 4 * 1024;

thread_local! {
    /// One read buffer per runtime thread, as `event.rs` has one per loop: a task
    /// reads into it only once its socket is readable, so an idle client holds none.
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUFFER]);
}

/// Runs the runtime and the accept loop until shutdown.
pub fn serve(listener: std::net::TcpListener, config: &Config) -> Result<()> {
    let mut builder = if config.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(config.threads);
        builder
    };
    let runtime = builder.enable_io().enable_time().build()?;
    runtime.block_on(accept_loop(listener, config))?;
    // Dropping the runtime drops the sessions that outlived the grace period.
    drop(runtime);
    config.settings.stats.print_summary();
    Ok(())
}

/// Accepts clients and spawns a task for each, until shutdown; then lets the
/// sessions end.
async fn accept_loop(listener: std::net::TcpListener, config: &Config) -> Result<()> {
    let settings = &config.settings;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    // A shutdown request comes from a signal, on another thread: a watch channel
    // carries it to every task.
    let (stop, stopped) = watch::channel(false);
    settings.shutdown.on_request(Box::new(move || {
        stop.send_replace(true);
    }));
    let mut sessions = JoinSet::new();
    let mut stop_accepting = stopped.clone();
    loop {
        // accept(): wait for a client, a shutdown, or a session's end (to forget it).
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop_accepting.wait_for(|&stop| stop) => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            // The client's address as people read it (IPv4, not IPv4-mapped IPv6).
            Ok((stream, peer)) => (stream, net::plain(peer)),
            Err(error) if error.kind() == ErrorKind::ConnectionAborted => continue,
            Err(error) => {
                settings.log.warn(format_args!(
                    "accept failed: {error}; pausing accepts for 100 ms"
                ));
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let Some(ticket) = config.admission.try_admit() else {
            if let Ok(stream) = stream.into_std() {
                turn_away(stream, peer, settings.log);
            }
            continue;
        };
        settings.log.line(format_args!(
            "New client connected from {peer}",
            peer = net::shown(peer)
        ));
        settings.stats.client();
        // A new task runs the session; the loop goes back to accept at once.
        sessions.spawn(serve_client(
            stream,
            peer,
            settings.clone(),
            stopped.clone(),
            ticket,
        ));
    }
    // close(): stop accepting; each session ends at its next wait for the client.
    drop(listener);
    let all_ended = async { while sessions.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, all_ended).await;
    Ok(())
}

/// One client's task: the session, then its last log line.
async fn serve_client(
    mut stream: TcpStream,
    peer: SocketAddr,
    settings: Settings,
    mut stop: watch::Receiver<bool>,
    _ticket: Ticket,
) {
    let ending = session(&mut stream, peer, &settings, &mut stop).await;
    log_ending(peer, ending, settings.log);
    // close(): `stream` is dropped here.
}

/// The session loop, as in `common::connection`, with `.await` where that one blocks.
async fn session(
    stream: &mut TcpStream,
    peer: SocketAddr,
    settings: &Settings,
    stop: &mut watch::Receiver<bool>,
) -> io::Result<Ending> {
    let mut session = Session::new();
    let mut reply = Vec::new();
    loop {
        // Wait until the client has sent something: the task sleeps, the thread
        // serves others. A shutdown or the idle timeout ends the wait.
        tokio::select! {
            ready = within(settings.idle_timeout, stream.readable()) => match ready {
                Some(ready) => ready?,
                None => return Ok(Ending::Idle),
            },
            _ = stop.wait_for(|&stop| stop) => return Ok(Ending::Closed),
        }
        // recv(): what has arrived, into this thread's buffer; 0 bytes: EOF.
        let next = BUFFER.with_borrow_mut(|buffer| match stream.try_read(buffer) {
            Ok(0) => {
                // EOF (or a half-close): send what is still owed, then close.
                session.on_eof(&mut reply);
                Ok(None)
            }
            Ok(received) => Ok(Some(on_received(
                &buffer[..received],
                peer,
                settings,
                &mut session,
                &mut reply,
            ))),
            // Readiness can be stale: nothing to read after all, wait again.
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
            {
                Ok(Some(Next::KeepOpen))
            }
            Err(error) => Err(error),
        })?;
        // send(): every byte of the reply, suspending while the socket is full.
        match within(settings.idle_timeout, stream.write_all(&reply)).await {
            Some(written) => written?,
            None => return Ok(Ending::Idle),
        }
        if reply.capacity() > REPLY_KEPT {
            reply = Vec::new();
        }
        reply.clear();
        match next {
            None => return Ok(Ending::Closed),
            Some(Next::Close) => return Ok(Ending::Quit),
            Some(Next::KeepOpen) => {}
        }
    }
}

/// `work`, bounded by the idle timeout if there is one; `None` if it ran out.
async fn within<F: Future>(idle_timeout: Option<Duration>, work: F) -> Option<F::Output> {
    match idle_timeout {
        Some(idle) => tokio::time::timeout(idle, work).await.ok(),
        None => Some(work.await),
    }
}
