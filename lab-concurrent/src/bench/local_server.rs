//! The server `bench` loads when no `--target` is given: one of our models, started
//! as a child process (`lab-concurrent server --port 0`), stopped after its run.
//!
//! It must never outlive the bench. Ctrl-C on a terminal reaches both (the whole
//! foreground process group gets SIGINT), but a `kill -INT` or `kill -TERM` of the
//! bench alone (a script, a timeout, a grader) would leave the server running and
//! holding its port. So the bench catches those two signals on a thread of its own,
//! stops the server it is running and waits for it to exit, and only then dies of
//! the signal as it would have (APUE 10.17, signal handling with cleanup).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::models::Model;

/// The process ID of the server running now, if any. Held locked from spawn to the
/// record, so a signal in between still finds the server to stop.
static RUNNING: Mutex<Option<Pid>> = Mutex::new(None);

/// One of our models, started as a child process on a free loopback port.
pub(super) struct LocalServer {
    child: Child,
    pub(super) address: SocketAddr,
}

impl LocalServer {
    /// Starts `model`, holding `clients` clients (and a slow one) below its bound.
    pub(super) fn start(model: Model, clients: usize) -> Result<LocalServer> {
        stop_the_server_on_a_signal();
        let program =
            std::env::current_exe().context("cannot find this program to start a server")?;
        let max_clients = model.default_max_clients().max(clients + 1).to_string();
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        let child = Command::new(program)
            .args(["server", "--model", model.name(), "--port", "0", "--quiet"])
            .args(["--max-clients", &max_clients])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start a server")?;
        let pid = i32::try_from(child.id()).map(Pid::from_raw).ok();
        *running = pid;
        drop(running);
        // Dropped on any error below: the server is stopped.
        let mut server = LocalServer {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stdout = server.child.stdout.take().context("no stdout")?;
        let mut first_line = String::new();
        BufReader::new(stdout).read_line(&mut first_line)?;
        server.address = first_line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|address| address.parse().ok())
            .with_context(|| {
                format!("the {} server did not start: {first_line:?}", model.name())
            })?;
        Ok(server)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pid) = running.take() {
            // SIGTERM, as a user's Ctrl-C would; the server exits cleanly.
            let _ = kill(pid, Signal::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Once per process: a thread that waits for SIGINT or SIGTERM, stops the running
/// server (if any), then ends the bench as that signal's default action would.
fn stop_the_server_on_a_signal() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Should registering fail, the signals keep their default action.
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Waits for a server being started: its PID is then recorded.
                let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(pid) = *running {
                    stop_and_reap(pid);
                }
                // Die of the signal (default action restored, raised again), so a
                // shell or script sees what it sent.
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
    });
}

/// How long the server gets to exit after SIGTERM before SIGKILL (it exits at once:
/// within a second, as every model must on SIGTERM).
const SERVER_GRACE: Duration = Duration::from_secs(2);

/// SIGTERM to the server, then waitpid() until it has exited (SIGKILL after
/// [`SERVER_GRACE`]): when the bench is gone, so is its server, port and all.
fn stop_and_reap(pid: Pid) {
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + SERVER_GRACE;
    loop {
        // waitpid(WNOHANG): reaped, or still running?
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                return;
            }
            // Exited and reaped, or already reaped by the main thread.
            _ => return,
        }
    }
}
