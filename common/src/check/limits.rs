//! Limits and file confinement for one submission: what it may use, and where it may
//! write. They apply to the submission alone, never to the grader.
//!
//! A submission is started through two short-lived roles of our own executable (the
//! workspace forbids `unsafe`, so no code can run between `fork` and `exec`):
//!
//! 1. the **watcher** (what the runner starts, in the submission's process group):
//!    copies the current folder into a temporary one, starts step 2 there, and until
//!    it ends, adds up what the group uses (from `/proc`): more processes and threads
//!    than allowed, or more resident memory, and it stops the group, saying which limit
//!    was hit on the submission's stderr (the report shows its last lines). It then
//!    exits as the submission did, and removes the copy.
//! 2. the **starter**: sets the kernel's resource limits on itself (`setrlimit(2)`,
//!    inherited by everything it starts), gives itself a private `/tmp` where the
//!    grader runs in namespaces (an overlay in a mount namespace of its own), confines
//!    writes to the copy and that `/tmp` with Landlock, then `exec`s `sh -c CMD`.
//!
//! | limit (flag)                 | default | how                                                 |
//! |------------------------------|---------|-----------------------------------------------------|
//! | `--max-processes`            | 256     | the watcher; `RLIMIT_NPROC` a little above it, against a fork bomb faster than the watcher (root is exempt from it) |
//! | `--max-memory` (MiB)         | 1024    | the watcher, resident size: `RLIMIT_AS` would stop a JVM, which reserves far more address space than it uses |
//! | `--max-cpu` (s, per process) | 60      | `RLIMIT_CPU`: SIGXCPU, then SIGKILL a second later  |
//! | `--max-file-size` (MiB)      | 64      | `RLIMIT_FSIZE`: a larger write gets SIGXFSZ         |
//! | `--max-open-files`           | 1024    | `RLIMIT_NOFILE`                                     |
//!
//! The watcher counts every process of the grader's PID namespace where there is one
//! (a daemon that called `setsid` included), else the submission's process group. A cgroup
//! (`memory.max`, `pids.max`) would count every descendant, but an ordinary user can
//! seldom create one (cgroup v2 delegation) and many machines still mount v1; the
//! watcher works for anyone.
//!
//! Landlock (Linux 5.13 and later, any user, `landlock(7)`) restricts what a process
//! and its descendants may do to files: here, write only under the copy, its `/tmp`
//! and `/dev/null`-like devices; reading stays allowed.

use std::convert::Infallible;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};

use super::submission::Streams;

/// Set, for our executable, to `ROLE:LIMITS`: start (or watch) a submission. (Not
/// `submission::MARK`, which the submission's own processes carry, to be found by.)
const SUBMISSION: &str = "SOCKET_LABS_ROLE";

/// How often the watcher adds up what the submission uses.
#[cfg(target_os = "linux")]
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// The most entries and bytes of a folder copied for a submission: a larger one (an
/// instructor's home, by mistake) runs in place, writes allowed there.
const COPY_MAX_ENTRIES: usize = 5_000;
const COPY_MAX_BYTES: u64 = 256 << 20;

const MIB: u64 = 1 << 20;

/// Tasks the kernel's process limit allows beyond the watcher's (see [`start`]).
#[cfg(target_os = "linux")]
const NPROC_ROOM: u64 = 64;

/// The limits of a submission: options of every `check` and `check-client`.
#[derive(clap::Args, Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOptions {
    /// Most processes and threads a submission may run at once
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_processes: u64,
    /// Most memory (resident, all its processes together) a submission may use, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub max_memory: u64,
    /// Most CPU time each process of a submission may use, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub max_cpu: u64,
    /// Largest file a submission may write, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub max_file_size: u64,
    /// Most files each process of a submission may have open
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_open_files: u64,
}

/// The limits, and whether files are confined, for every submission started from now.
static CONFIG: OnceLock<(LimitOptions, bool)> = OnceLock::new();

/// From now on, submissions start under `limits`, their writes confined if `files`.
pub(crate) fn configure(limits: LimitOptions, files: bool) {
    let _ = CONFIG.set((limits, files));
}

/// The command that runs `command` as a submission: `sh -c command`, through our
/// watcher and starter when [`configure`]d.
pub(crate) fn shell(command: &str, streams: &Streams) -> Command {
    let Some((limits, files)) = CONFIG.get().copied() else {
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(command);
        return shell;
    };
    let role = match streams {
        Streams::Server => "server",
        Streams::Client(_) => "client",
    };
    // Our own executable; if it cannot be found, spawning "sh" with our arguments
    // would run the command without limits: fail to start instead.
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/nonexistent"));
    let mut watcher = Command::new(exe);
    let spec = Spec {
        stage: Stage::Watch,
        role: role.into(),
        limits,
        files,
    };
    watcher.arg(command).env(SUBMISSION, spec.encode());
    watcher
}

/// Can writes be confined here (Landlock present and enabled)?
pub(crate) fn files_can_be_confined() -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::landlock_ruleset(landlock::CompatLevel::HardRequirement).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Which of the two roles (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Watch,
    Start,
}

/// What the runner tells the watcher, and the watcher the starter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    stage: Stage,
    /// "server" or "client", to name it in a limit's message.
    role: String,
    limits: LimitOptions,
    files: bool,
}

impl Spec {
    /// `watch:server:256,1024,60,64,1024,1`.
    fn encode(&self) -> String {
        let l = &self.limits;
        format!(
            "{}:{}:{},{},{},{},{},{}",
            match self.stage {
                Stage::Watch => "watch",
                Stage::Start => "start",
            },
            self.role,
            l.max_processes,
            l.max_memory,
            l.max_cpu,
            l.max_file_size,
            l.max_open_files,
            u8::from(self.files)
        )
    }

    fn decode(text: &str) -> Result<Spec> {
        let mut parts = text.splitn(3, ':');
        let (Some(stage), Some(role), Some(numbers)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("malformed {SUBMISSION}");
        };
        let stage = match stage {
            "watch" => Stage::Watch,
            "start" => Stage::Start,
            _ => bail!("unknown stage in {SUBMISSION}"),
        };
        let numbers: Vec<u64> = numbers
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .context("malformed limits")?;
        let [processes, memory, cpu, file_size, open_files, files] = numbers[..] else {
            bail!("malformed limits in {SUBMISSION}");
        };
        Ok(Spec {
            stage,
            role: role.into(),
            limits: LimitOptions {
                max_processes: processes,
                max_memory: memory,
                max_cpu: cpu,
                max_file_size: file_size,
                max_open_files: open_files,
            },
            files: files == 1,
        })
    }
}

/// If this process was started as a submission's watcher or starter, plays that part
/// and never returns. Called first in every lab's `main` (see
/// [`super::isolation::play_role`]).
pub(crate) fn start_submission_if_asked() {
    let Some(spec) = std::env::var_os(SUBMISSION) else {
        return;
    };
    let command = std::env::args_os().nth(1).unwrap_or_default();
    let outcome = Spec::decode(&spec.to_string_lossy()).and_then(|spec| match spec.stage {
        Stage::Watch => watch(&spec, command),
        Stage::Start => start(&spec, command),
    });
    let Err(error) = outcome;
    let _ = writeln!(
        std::io::stderr(),
        "error: cannot start the submission: {error:#}"
    );
    std::process::exit(126)
}

/// The watcher (step 1 of the module's doc).
fn watch(spec: &Spec, command: OsString) -> Result<Infallible> {
    let scratch = Scratch::make(spec.files)?;
    // Stopping the submission (SIGTERM to its group) must not end the watcher before
    // it: it reports how the submission ended, then removes the copy.
    let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stopping))?;
    }
    let starter = Spec {
        stage: Stage::Start,
        ..spec.clone()
    };
    let exe = std::env::current_exe().context("cannot find our own executable")?;
    let mut submission = Command::new(exe)
        .arg(command)
        .current_dir(&scratch.work)
        .env(SUBMISSION, starter.encode())
        .env("TMPDIR", &scratch.tmp)
        .spawn()
        .context("cannot start the submission")?;
    #[cfg(target_os = "linux")]
    let status = linux::watch_usage(&mut submission, spec, &stopping)?;
    #[cfg(not(target_os = "linux"))]
    let status = {
        drop(stopping); // Only Linux's watcher reads it.
        submission.wait()?
    };
    let limit = match std::os::unix::process::ExitStatusExt::signal(&status) {
        Some(libc::SIGXCPU) => Some(format!(
            "it used more than {} s of CPU time (--max-cpu)",
            spec.limits.max_cpu
        )),
        Some(libc::SIGXFSZ) => Some(format!(
            "it wrote more than {} MiB to a file (--max-file-size)",
            spec.limits.max_file_size
        )),
        _ => None,
    };
    if let Some(limit) = limit {
        say_stopped(&spec.role, &limit);
    }
    drop(scratch);
    exit_as(status)
}

/// "the server was stopped: it used more than ...", on the submission's stderr.
fn say_stopped(role: &str, limit: &str) {
    // One write, so that the line is not interleaved with the submission's own.
    let line = format!("the {role} was stopped: {limit}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Ends this process as `status` says: the same exit code, or death by the same signal.
fn exit_as(status: ExitStatus) -> ! {
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
        std::process::exit(128 + signal);
    }
    std::process::exit(status.code().unwrap_or(1))
}

/// The starter (step 2 of the module's doc): limits, confinement, then `sh -c`.
fn start(spec: &Spec, command: OsString) -> Result<Infallible> {
    let limits = &spec.limits;
    let mut shell = Command::new("sh");
    set_limit(Resource::RLIMIT_NOFILE, limits.max_open_files, 0)?;
    set_limit(
        Resource::RLIMIT_FSIZE,
        limits.max_file_size.saturating_mul(MIB),
        0,
    )?;
    // SIGXCPU at the limit, SIGKILL a second later if it is caught.
    set_limit(Resource::RLIMIT_CPU, limits.max_cpu, 1)?;
    #[cfg(target_os = "linux")]
    {
        // The kernel counts every task of our user (the grader's threads too, which
        // come and go): those running now and some room come on top, so that the
        // watcher, which counts the submission's own, sees the limit passed, and the
        // kernel stops a fork bomb that outruns the watcher's rounds.
        let running = linux::tasks_of_our_user();
        let most = limits.max_processes + running + NPROC_ROOM;
        set_limit(Resource::RLIMIT_NPROC, most, 0)?;
        if spec.files {
            // "." and not the folder's name, which after the overlay on /tmp below
            // names the overlay's view of it, not the folder the process is in.
            let here = PathBuf::from(".");
            let mut tmp = std::env::var_os("TMPDIR")
                .map(PathBuf::from)
                .unwrap_or_default();
            if linux::private_tmp(&tmp).is_ok() {
                tmp = PathBuf::from("/tmp");
            }
            linux::confine_writes(&[here, tmp.clone()])?;
            shell.env("TMPDIR", tmp);
        }
    }
    let error = std::os::unix::process::CommandExt::exec(
        shell
            .arg("-c")
            .arg(command)
            .env_remove(SUBMISSION)
            .env_remove(super::isolation::ISOLATED),
    );
    Err(error).context("cannot run sh")
}

/// setrlimit: soft `value`, hard `value + slack`, never above the hard limit in force.
fn set_limit(resource: Resource, value: u64, slack: u64) -> Result<()> {
    // rlim_t is u64 on Linux and macOS, i64 on FreeBSD.
    let as_rlim = |count: u64| rlim_t::try_from(count).unwrap_or(rlim_t::MAX);
    let (value, slack) = (as_rlim(value), as_rlim(slack));
    let (_, hard) = getrlimit(resource)?;
    let hard = hard.min(value.saturating_add(slack));
    setrlimit(resource, value.min(hard), hard).with_context(|| format!("cannot set {resource:?}"))
}

/// The submission's own folders: a copy of the current one (`work`), and `tmp`.
/// Removed when dropped.
struct Scratch {
    root: PathBuf,
    work: PathBuf,
    tmp: PathBuf,
}

impl Scratch {
    /// Makes the folders, copying the current one into `work` if `copy` (and it is not
    /// too large: then `work` is the current folder itself).
    fn make(copy: bool) -> Result<Scratch> {
        let here = std::env::current_dir().context("no current folder")?;
        let root = std::env::temp_dir().join(format!("socket-labs-{}", std::process::id()));
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut scratch = Scratch {
            work: here.clone(),
            root,
            tmp,
        };
        if copy {
            let work = scratch.root.join("work");
            // Measured first: a folder too large is not half-copied for nothing at
            // every start (`check` run from a folder of many submissions, say).
            let budget = (COPY_MAX_ENTRIES, COPY_MAX_BYTES);
            let (mut to_measure, mut to_copy) = (budget, budget);
            let fits = copy_folder(&here, None, &mut to_measure).is_ok();
            match fits && copy_folder(&here, Some(&work), &mut to_copy).is_ok() {
                true => scratch.work = work,
                false => {
                    let _ = std::fs::remove_dir_all(&work);
                }
            }
        }
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `line` (of the submission's output) with the path of the copy of its folder that it
/// runs in (see [`Scratch`]) shown as that folder: a student's `can't open file
/// '/tmp/socket-labs-7/work/server.py'` then names the folder they handed in.
pub(super) fn in_original_folder(line: &str) -> String {
    let copies = format!("{}/socket-labs-", std::env::temp_dir().display());
    let Ok(here) = std::env::current_dir() else {
        return line.to_owned();
    };
    let mut shown = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(&copies) {
        let after = &rest[at + copies.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        match after[digits..].strip_prefix("/work") {
            Some(tail) if digits > 0 => {
                shown.push_str(&rest[..at]);
                shown.push_str(&here.display().to_string());
                rest = tail;
            }
            _ => {
                shown.push_str(&rest[..at + copies.len()]);
                rest = after;
            }
        }
    }
    shown.push_str(rest);
    shown
}

/// Copies `from` into `to` (files, folders, symbolic links as links), within `budget`
/// (entries, bytes): an error past it. With no `to`, only measures against `budget`.
fn copy_folder(from: &Path, to: Option<&Path>, budget: &mut (usize, u64)) -> Result<()> {
    if let Some(to) = to {
        std::fs::create_dir_all(to)?;
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.map(|to| to.join(entry.file_name()));
        budget.0 = budget.0.checked_sub(1).context("too many files to copy")?;
        if kind.is_dir() {
            copy_folder(&entry.path(), target.as_deref(), budget)?;
        } else if kind.is_symlink() {
            if let Some(target) = target {
                std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, target)?;
            }
        } else if kind.is_file() {
            budget.1 = budget
                .1
                .checked_sub(entry.metadata()?.len())
                .context("too large to copy")?;
            if let Some(target) = target {
                std::fs::copy(entry.path(), target)?;
            }
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::process::{Child, ExitStatus};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use anyhow::Result;
    use landlock::{
        ABI, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated,
        RulesetCreatedAttr, RulesetError, path_beneath_rules,
    };
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::{Pid, getpgrp};

    use super::{MIB, Spec, WATCH_EVERY, say_stopped};

    /// The newest Landlock ABI whose write rights we handle (V3: truncation too).
    const WRITES: ABI = ABI::V3;

    /// A Landlock ruleset that handles every write right of [`WRITES`].
    pub(super) fn landlock_ruleset(level: CompatLevel) -> Result<RulesetCreated, RulesetError> {
        Ruleset::default()
            .set_compatibility(level)
            .handle_access(AccessFs::from_write(WRITES))?
            .create()
    }

    /// From now on, this process and all it starts may write only under `folders`
    /// and to the harmless devices.
    pub(super) fn confine_writes(folders: &[PathBuf]) -> Result<()> {
        let devices = ["/dev/null", "/dev/zero", "/dev/full"];
        landlock_ruleset(CompatLevel::BestEffort)?
            .add_rules(path_beneath_rules(folders, AccessFs::from_write(WRITES)))?
            .add_rules(path_beneath_rules(devices, AccessFs::from_write(WRITES)))?
            .restrict_self()?;
        Ok(())
    }

    /// Gives this process and all it starts a `/tmp` of their own, where the grader has
    /// made namespaces: in a mount namespace of ours, an overlay (`overlayfs(5)`) on
    /// `/tmp` whose lower layer is the machine's `/tmp` (what is there stays readable)
    /// and whose upper layer, where every write goes, is a small tmpfs mounted on
    /// `scratch`, gone with the namespace. Fails (and nothing changes) without the
    /// capability to mount, as for an ordinary user whose namespaces were refused.
    pub(super) fn private_tmp(scratch: &Path) -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNS)?;
        crate::check::isolation::linux::mounts_made_private()?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        mount(
            Some("tmpfs"),
            scratch,
            Some("tmpfs"),
            flags,
            Some("size=256m"),
        )?;
        let (upper, work) = (scratch.join("upper"), scratch.join("work"));
        std::fs::create_dir(&upper)?;
        std::fs::create_dir(&work)?;
        // As /tmp is: anyone may write, each removes only their own (the sticky bit).
        std::fs::set_permissions(&upper, std::fs::Permissions::from_mode(0o1777))?;
        let layers = format!(
            "lowerdir=/tmp,upperdir={},workdir={}",
            upper.display(),
            work.display()
        );
        mount(
            Some("overlay"),
            "/tmp",
            Some("overlay"),
            flags,
            Some(layers.as_str()),
        )?;
        Ok(())
    }

    /// How many tasks (processes and threads) of our user are running (RLIMIT_NPROC
    /// counts them all).
    pub(super) fn tasks_of_our_user() -> u64 {
        let us = nix::unistd::getuid().as_raw();
        processes()
            .filter(|process| process.uid == us)
            .map(|process| process.threads)
            .sum()
    }

    /// Waits for `submission` to end; meanwhile, stops its group if it passes its
    /// process or memory limit (unless the grader is stopping it).
    pub(super) fn watch_usage(
        submission: &mut Child,
        spec: &Spec,
        stopping: &AtomicBool,
    ) -> Result<ExitStatus> {
        let ours = submission_processes();
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|size| u64::try_from(size).ok())
            .unwrap_or(4096);
        loop {
            if let Some(status) = submission.try_wait()? {
                return Ok(status);
            }
            if !stopping.load(Ordering::SeqCst) {
                let members: Vec<Process> = processes().filter(&ours).collect();
                let tasks: u64 = members.iter().map(|process| process.threads).sum();
                let resident: u64 = members.iter().map(|process| process.pages).sum::<u64>() * page;
                let limits = &spec.limits;
                let passed = if tasks > limits.max_processes {
                    Some(format!(
                        "it used more than {} processes and threads (--max-processes)",
                        limits.max_processes
                    ))
                } else if resident > limits.max_memory * MIB {
                    Some(format!(
                        "it used more than {} MiB of memory (--max-memory)",
                        limits.max_memory
                    ))
                } else {
                    None
                };
                if let Some(limit) = passed {
                    say_stopped(&spec.role, &limit);
                    kill_all(&ours);
                    return Ok(submission.wait()?);
                }
            }
            std::thread::sleep(WATCH_EVERY);
        }
    }

    /// Which processes are the submission's (never us, the watcher). In the grader's
    /// PID namespace, where it is graded alone, every one but the grader (PID 1), so
    /// that a daemon that left the process group (`setsid`) is counted too; elsewhere,
    /// those of its process group.
    fn submission_processes() -> impl Fn(&Process) -> bool {
        let us = nix::unistd::getpid().as_raw();
        let group = getpgrp().as_raw();
        // This /proc shows our PID namespace (the grader mounted it) if its "self" is us.
        let whole_namespace = std::env::var_os(crate::check::isolation::ISOLATED).is_some()
            && nix::unistd::getppid().as_raw() == 1
            && std::fs::read_link("/proc/self")
                .is_ok_and(|link| link.as_os_str() == us.to_string().as_str());
        move |process| {
            process.pid != us
                && if whole_namespace {
                    process.pid != 1
                } else {
                    process.group == group
                }
        }
    }

    /// SIGKILL to each of `ours`, again until none is left (a fork bomb forks between
    /// two rounds), bounded.
    fn kill_all(ours: &impl Fn(&Process) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let mut left = false;
            for process in processes().filter(ours) {
                left = true;
                let _ = kill(Pid::from_raw(process.pid), Signal::SIGKILL);
            }
            if !left {
                break;
            }
        }
    }

    /// One process, as /proc shows it.
    struct Process {
        pid: i32,
        uid: u32,
        group: i32,
        threads: u64,
        /// Resident pages.
        pages: u64,
    }

    /// The processes in /proc (those that end while read are left out).
    fn processes() -> impl Iterator<Item = Process> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
                let uid = entry.metadata().ok()?.uid();
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                // proc(5): the fields after the command name (which may hold spaces):
                // state, ppid, pgrp (3rd), ..., num_threads (18th), ..., rss (22nd).
                let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                Some(Process {
                    pid,
                    uid,
                    group: fields.get(2)?.parse().ok()?,
                    threads: fields.get(17)?.parse().ok()?,
                    pages: fields.get(21)?.parse().ok()?,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_runner_tells_the_watcher_reads_back_the_same() {
        let spec = Spec {
            stage: Stage::Watch,
            role: "client".into(),
            limits: LimitOptions {
                max_processes: 7,
                max_memory: 2048,
                max_cpu: 3,
                max_file_size: 1,
                max_open_files: 99,
            },
            files: false,
        };
        assert_eq!(spec.encode(), "watch:client:7,2048,3,1,99,0");
        assert_eq!(Spec::decode(&spec.encode()).unwrap(), spec);
        assert!(Spec::decode("watch:server:1,2").is_err());
    }

    #[test]
    fn the_copy_of_the_folder_is_named_as_the_folder_itself() {
        let tmp = std::env::temp_dir().display().to_string();
        let here = std::env::current_dir().unwrap().display().to_string();
        assert_eq!(
            in_original_folder(&format!(
                "python3: can't open file '{tmp}/socket-labs-3/work/TCPServr.py': [Errno 2]"
            )),
            format!("python3: can't open file '{here}/TCPServr.py': [Errno 2]")
        );
        // Only the copy's own path: no digits, or another folder, stay as they are.
        for line in [
            format!("{tmp}/socket-labs-x/work/a.py"),
            format!("{tmp}/socket-labs-3/other/a.py"),
            "no path at all".to_owned(),
        ] {
            assert_eq!(in_original_folder(&line), line);
        }
    }

    #[test]
    fn a_folder_is_copied_whole_or_found_too_large_without_a_copy() {
        let root = std::env::temp_dir().join(format!("copy-folder-{}", std::process::id()));
        let from = root.join("submission");
        std::fs::create_dir_all(from.join("src")).unwrap();
        std::fs::write(from.join("server.py"), "print('hi')").unwrap();
        std::fs::write(from.join("src/util.py"), "x = 1").unwrap();
        std::os::unix::fs::symlink("server.py", from.join("main.py")).unwrap();
        // 4 entries, 16 bytes: measured, then copied.
        let to = root.join("copy");
        copy_folder(&from, None, &mut (4, 16)).unwrap();
        assert!(!to.exists());
        copy_folder(&from, Some(&to), &mut (4, 16)).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("src/util.py")).unwrap(),
            "x = 1"
        );
        assert_eq!(
            std::fs::read_link(to.join("main.py")).unwrap(),
            Path::new("server.py")
        );
        // One entry or one byte too many: too large, found by measuring alone.
        assert!(copy_folder(&from, None, &mut (3, 16)).is_err());
        assert!(copy_folder(&from, None, &mut (4, 15)).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
