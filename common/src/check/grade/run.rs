//! Running the class: one child process per submission, this very binary's `check`
//! (or `check-client`) with `--format json`, in the submission's folder; `--jobs` of
//! them at a time; and nothing left running afterwards.
//!
//! - Each child runs its submission as `check` alone would (its own process group,
//!   stopped for certain), so a score is the one `check` gives that folder alone.
//! - Ctrl-C (or SIGTERM): SIGTERM to every child, whose own handler stops its
//!   submission; then [`sweep`] ends whatever is left.
//! - We are a subreaper (Linux): a process that outlives the child that started it
//!   (a daemon that escaped its group, a submission whose `check` was killed before
//!   it could stop it) becomes ours, and [`sweep`] ends it.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::Outcome;
use super::options::Plan;
use crate::check::report::Report;

/// The children (`check` runs) now running, by process id.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Set once grading is being stopped: what the children report from then on is our
/// doing, not the submissions'.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Set by [`interrupt`]: the process is about to exit (status 130) on another thread.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How long the children have, after SIGTERM, to stop their submissions and exit
/// (`check` kills its submission's group at once, then waits at most 2 s).
const CHILD_GRACE: Duration = Duration::from_secs(5);

/// What a child's run came to.
enum Ran {
    /// The submission was graded, or could not be.
    Outcome(Outcome),
    /// The child refused its options (exit status 2): the grading command is wrong,
    /// for every submission alike. Its stderr.
    UsageError(String),
    /// Stopped by us.
    Stopped,
    /// Ended by a Ctrl-C (or SIGTERM) that reached it before it reached us (a
    /// terminal's Ctrl-C goes to the whole process group, and we may hear of ours
    /// later): not graded.
    /// Set aside until the class is done; reported then only if we were not stopped.
    Interrupted,
}

/// Grades every submission of `plan`, `--jobs` at a time, and hands each outcome to
/// `done` (on this thread) as it comes. A usage error in a child (a `--server`
/// without `{port}`) stops everything: its message, and exit status 2, as for
/// `check`. An error from `done` stops everything and is returned.
/// `warn` says a `warning:` line (above a progress bar).
pub fn grade_all(
    plan: &Plan,
    warn: &dyn Fn(&str),
    mut done: impl FnMut(usize, Outcome) -> Result<()>,
) -> Result<()> {
    adopt_orphans();
    // Submissions sharing a fixed port go one at a time until a report shows that
    // each has a network of its own.
    let shared_port = plan.fixed_port.is_some() && plan.jobs > 1;
    let pool = Pool::new(
        if shared_port { 1 } else { plan.jobs },
        plan.submissions.len(),
    );
    let (sender, finished) = mpsc::channel();
    thread::scope(|scope| {
        for _ in 0..plan.jobs.min(plan.submissions.len()) {
            let sender = sender.clone();
            let pool = &pool;
            scope.spawn(move || {
                while let Some(index) = pool.take() {
                    let ran = grade_one(plan, &plan.submissions[index]);
                    let _ = sender.send((index, ran));
                    pool.done();
                }
            });
        }
        drop(sender);
        let mut told = !shared_port;
        let mut interrupted = Vec::new();
        let mut report = |index, outcome| {
            let reported = done(index, outcome);
            if reported.is_err() {
                pool.stop();
                stop_children();
                sweep();
            }
            reported
        };
        for (index, ran) in finished {
            let outcome = match ran {
                Ran::Outcome(outcome) => outcome,
                Ran::Stopped => continue,
                Ran::Interrupted => {
                    interrupted.push(index);
                    continue;
                }
                Ran::UsageError(stderr) => {
                    pool.stop();
                    stop_children();
                    sweep();
                    eprint!("{stderr}");
                    std::process::exit(2);
                }
            };
            if let (false, Outcome::Graded { isolation, .. }) = (told, &outcome) {
                told = true;
                if isolation.iter().any(|kind| kind == "network") {
                    pool.allow(plan.jobs);
                } else if let Some(port) = &plan.fixed_port {
                    warn(&format!(
                        "warning: every submission uses the same port ({port}) and none has \
                         a network of its own here: they are graded one at a time, not {} at once",
                        plan.jobs
                    ));
                }
            }
            report(index, outcome)?;
        }
        // Interrupted, and grading went on: someone stopped those checks alone.
        for index in interrupted {
            if STOPPING.load(Ordering::SeqCst) {
                break;
            }
            let why = "its check was stopped (Ctrl-C or SIGTERM) before it ended: grade it again";
            report(index, Outcome::Ungraded(why.to_owned()))?;
        }
        Ok::<(), anyhow::Error>(())
    })?;
    while INTERRUPTED.load(Ordering::SeqCst) {
        // Ctrl-C's handler is stopping everything and ends the process: the class
        // was not all graded, so nothing more is said or written here.
        thread::park();
    }
    sweep();
    Ok(())
}

/// Runs `check` (or `check-client`) on the submission in `dir`.
fn grade_one(plan: &Plan, dir: &Path) -> Ran {
    if !dir.is_dir() {
        let why = if dir.exists() {
            "it is not a folder"
        } else {
            "no such folder"
        };
        return Ran::Outcome(Outcome::Ungraded(why.to_owned()));
    }
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(error) => return ungraded(format!("cannot find the grader's own program: {error}")),
    };
    let mut command = Command::new(program);
    command
        .arg(plan.subcommand)
        .args(&plan.forwarded)
        .args(["--format", "json"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = {
        // Spawned and listed under the lock: a Ctrl-C sees every child, or stops
        // this one from being started.
        let mut children = children();
        if STOPPING.load(Ordering::SeqCst) {
            return Ran::Stopped;
        }
        match command.spawn() {
            Ok(child) => {
                children.push(child.id());
                child
            }
            Err(error) => return ungraded(format!("cannot run the grader: {error}")),
        }
    };
    let id = child.id();
    let output = child.wait_with_output();
    children().retain(|&child| child != id);
    if STOPPING.load(Ordering::SeqCst) {
        return Ran::Stopped;
    }
    // Ctrl-C on a terminal reaches the children too: one may end (status 130, as its
    // handler exits on SIGINT or SIGTERM) before our own handler starts stopping.
    let interrupted = output.as_ref().is_ok_and(|output| {
        output.status.code() == Some(130) || output.status.signal() == Some(libc::SIGINT)
    });
    if interrupted {
        return Ran::Interrupted;
    }
    match output {
        Ok(output) => read(&output, plan.subcommand),
        Err(error) => ungraded(format!("lost the grader's run: {error}")),
    }
}

fn ungraded(why: String) -> Ran {
    Ran::Outcome(Outcome::Ungraded(why))
}

/// A child's output (`subcommand`'s): its JSON report, or why there is none.
fn read(output: &Output, subcommand: &str) -> Ran {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last_error = || {
        stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("(nothing on its stderr)")
            .to_owned()
    };
    match output.status.code() {
        Some(2) => return Ran::UsageError(stderr.into_owned()),
        Some(0 | 1) => {}
        _ => {
            return ungraded(format!(
                "the grader failed ({}): {}",
                output.status,
                last_error()
            ));
        }
    }
    let report = serde_json::from_slice::<serde_json::Value>(&output.stdout).and_then(|json| {
        let isolation = json
            .get("isolation")
            .and_then(|kinds| serde_json::from_value::<Vec<String>>(kinds.clone()).ok())
            .unwrap_or_default();
        let mut report = serde_json::from_value::<Report>(json)?;
        if subcommand == "check-client" {
            report.subject = report.subject.run_by_check_client();
        }
        Ok((report, isolation))
    });
    match report {
        Ok((report, isolation)) => Ran::Outcome(Outcome::Graded {
            report: Box::new(report),
            isolation,
            warnings: stderr
                .lines()
                .filter(|line| line.starts_with("warning:"))
                .map(str::to_owned)
                .collect(),
        }),
        // No report (an error before any check: the scripted servers' port is taken).
        Err(_) => ungraded(last_error()),
    }
}

fn children() -> MutexGuard<'static, Vec<u32>> {
    CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// For Ctrl-C or SIGTERM: stops grading as [`stop_children`] does, and holds the
/// grading thread so that only the caller, which then exits, says anything more.
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    stop_children();
}

/// Stops grading at once: no submission starts any more, each child gets SIGTERM
/// (its handler stops its submission, then it exits) and, if it is still there after
/// a grace of 5 s, SIGKILL. Returns once no child is left running.
pub fn stop_children() {
    STOPPING.store(true, Ordering::SeqCst);
    for &child in children().iter() {
        let _ = signal::kill(pid(child), Signal::SIGTERM);
    }
    let deadline = Instant::now() + CHILD_GRACE;
    while !children().is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    for &child in children().iter() {
        let _ = signal::kill(pid(child), Signal::SIGKILL);
    }
}

fn pid(id: u32) -> Pid {
    Pid::from_raw(i32::try_from(id).unwrap_or(i32::MAX))
}

/// Which submission comes next, and how many may run at once.
struct Pool {
    state: Mutex<PoolState>,
    turn: Condvar,
}

struct PoolState {
    next: usize,
    total: usize,
    running: usize,
    limit: usize,
}

impl Pool {
    fn new(limit: usize, total: usize) -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                next: 0,
                total,
                running: 0,
                limit,
            }),
            turn: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next submission to grade, once there is room; `None` when all are taken.
    fn take(&self) -> Option<usize> {
        let state = self.lock();
        let mut state = self
            .turn
            .wait_while(state, |state| {
                state.running >= state.limit && state.next < state.total
            })
            .unwrap_or_else(PoisonError::into_inner);
        if state.next >= state.total {
            return None;
        }
        state.next += 1;
        state.running += 1;
        Some(state.next - 1)
    }

    fn done(&self) {
        self.lock().running -= 1;
        self.turn.notify_all();
    }

    /// Lets `limit` run at once.
    fn allow(&self, limit: usize) {
        self.lock().limit = limit;
        self.turn.notify_all();
    }

    /// Starts no more.
    fn stop(&self) {
        let mut state = self.lock();
        state.next = state.total;
        drop(state);
        self.turn.notify_all();
    }
}

/// Makes us the subreaper of every process our children leave behind (Linux).
fn adopt_orphans() {
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// Ends every process left to us: each child of ours still there once grading is
/// over (a submission's process that outlived its `check`), with its process group,
/// until none is left (bounded). Linux; elsewhere nothing is adopted.
pub fn sweep() {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::wait::{WaitPidFlag, waitpid};
        let ours = nix::unistd::getpgrp();
        let deadline = Instant::now() + CHILD_GRACE;
        loop {
            let left = orphans();
            if left.is_empty() || Instant::now() >= deadline {
                return;
            }
            for (orphan, group) in left {
                if group != ours {
                    let _ = signal::killpg(group, Signal::SIGKILL);
                }
                let _ = signal::kill(orphan, Signal::SIGKILL);
            }
            while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                if status == nix::sys::wait::WaitStatus::StillAlive {
                    break;
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Our children not listed as running `check`s, with their process groups, from
/// `/proc/PID/stat` (fields after the command's closing parenthesis: state, parent,
/// group).
#[cfg(target_os = "linux")]
fn orphans() -> Vec<(Pid, Pid)> {
    let me = nix::unistd::getpid().as_raw();
    let running = children().clone();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let process: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{process}/stat")).ok()?;
            let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(1);
            let parent: i32 = fields.next()?.parse().ok()?;
            let group: i32 = fields.next()?.parse().ok()?;
            let listed = running.iter().any(|&child| child as i32 == process);
            (parent == me && !listed).then(|| (Pid::from_raw(process), Pid::from_raw(group)))
        })
        .collect()
}
