//! Isolation: a submission (untrusted code on the instructor's machine), with the
//! checks that talk to it, runs in namespaces of its own, where Linux allows it.
//!
//! A namespace gives a process its own copy of one kind of system resource
//! (`man 7 namespaces`); `unshare(2)` moves the calling process into new ones:
//!
//! - **network** (`CLONE_NEWNET`): a network stack of its own, with only a loopback
//!   interface (down until we bring it up, as `ip link set lo up` does). No other host,
//!   and no service of this machine, can be reached; port 12000 here is not port 12000 of the machine, so submissions with the
//!   same fixed port are graded at the same time, and nothing one leaves (TIME_WAIT, a
//!   stray server) is seen by the next.
//! - **processes** (`CLONE_NEWPID`): process ids of its own. The first process started
//!   in it is its PID 1, its `init`: our grader. When PID 1 ends, the kernel kills
//!   every other process of the namespace, so nothing a submission started (a daemon
//!   that double-forked and called `setsid` included) outlives its grading.
//! - **mounts** (`CLONE_NEWNS`): a mount table of its own, invisible to the rest of the
//!   system: there a fresh `/proc` shows the processes of the new PID namespace, and
//!   each submission gets a private `/tmp` (see [`super::limits`]).
//! - **user** (`CLONE_NEWUSER`): lets an ordinary user create the others. Inside, our
//!   user id is mapped to root (`/proc/self/uid_map`), with capabilities over the new
//!   namespaces only, never over the machine. Root needs none.
//!
//! The workspace forbids `unsafe`, and `unshare(CLONE_NEWUSER)` needs a process with
//! one thread; so the grader, still single-threaded when `check --server` starts,
//! calls `unshare` itself and starts its own executable again (the same arguments,
//! `SOCKET_LABS_ISOLATED` set): that second grader is PID 1 of the new namespace, does
//! the whole grading, and the first one waits for it and exits as it did.
//!
//! Files and limits are set for the submission alone, in the process that starts it:
//! see [`super::limits`].
//!
//! Where namespaces are refused (Ubuntu 24.04 restricts unprivileged user namespaces
//! through AppArmor, Docker's default seccomp profile blocks `unshare`, macOS has
//! none), one `warning:` line says so and how to allow them, and grading goes on with
//! what works there: the submission's files and limits, and the runner's following of
//! every process it started.

use std::fmt::Write as _;
use std::io::Write as _;

use super::Checks;
use super::limits::{self, LimitOptions};
use super::report::Format;

/// Set, to the isolation in force (`network,processes,...`), for the grader that runs
/// inside the namespaces.
pub(super) const ISOLATED: &str = "SOCKET_LABS_ISOLATED";

/// `--no-isolation` and the limits: options of every `check` and `check-client`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct IsolationOptions {
    /// Run the submission without namespaces, file confinement or limits
    #[arg(long)]
    pub no_isolation: bool,
    #[command(flatten)]
    limits: LimitOptions,
}

/// What isolated a submission: a list of `network`, `processes`, `files`, `limits`,
/// and why the rest could not be had.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Isolation {
    /// What was in force.
    pub in_force: Vec<String>,
    /// Why some (or all) of it was not, in a few words.
    pub missing: Option<String>,
}

impl Isolation {
    /// The first line of a text report: `isolation: network, processes, files,
    /// limits`, or `isolation: none (WHY)`.
    pub fn text_line(&self) -> String {
        let mut line = String::from("isolation: ");
        if self.in_force.is_empty() {
            line.push_str("none");
        } else {
            line.push_str(&self.in_force.join(", "));
        }
        if let Some(why) = &self.missing {
            let _ = write!(line, " ({why})");
        }
        line
    }
}

impl Checks {
    /// Records what isolated the submission in the report, and prints it first in text.
    pub(crate) fn isolated(mut self, isolation: Isolation) -> Self {
        self.report.isolation = Some(isolation.in_force);
        self.report.isolation_missing = isolation.missing;
        if let (Format::Text, Some(line)) = (self.format, self.report.isolation_line()) {
            super::say(&format!("{line}\n"));
        }
        self
    }
}

/// Called first in every lab's `main` (by [`crate::cli::parse`]): plays the part this
/// process was started for, if it is one of ours. The submission's starter ([`limits`]) never returns; the
/// grader inside the namespaces mounts its `/proc` and goes on as `main` says.
pub fn play_role() {
    limits::start_submission_if_asked();
    #[cfg(target_os = "linux")]
    if std::env::var_os(ISOLATED).is_some() && std::process::id() == 1 {
        linux::mount_proc();
    }
}

/// Isolates the grading of a `--server` or `--client` command as far as `options`
/// and the system allow, and says what is in force. Where namespaces can be created
/// this does not return: the grading goes on in a new process inside them, and this
/// one exits as it does.
pub fn enter(options: &IsolationOptions) -> Isolation {
    if options.no_isolation {
        return Isolation {
            in_force: Vec::new(),
            missing: Some("--no-isolation".into()),
        };
    }
    let files = limits::files_can_be_confined();
    limits::configure(options.limits, files);
    let mut in_force = Vec::new();
    if let Some(list) = std::env::var_os(ISOLATED) {
        in_force.extend(list.to_string_lossy().split(',').map(str::to_owned));
        return Isolation {
            in_force,
            missing: None,
        };
    }
    #[cfg(target_os = "linux")]
    let refusal = linux::isolate(files);
    #[cfg(not(target_os = "linux"))]
    let refusal = Refusal {
        short: "this system has no namespaces".into(),
        advice: "grade on Linux for network, process and file isolation".into(),
    };
    // Not `eprintln!`, which panics if stderr is a closed pipe.
    let _ = writeln!(
        std::io::stderr(),
        "warning: the submission runs without namespaces: {}; {}. Grading goes on with {}",
        refusal.short,
        refusal.advice,
        if files {
            "its files confined, its limits, and every process it starts followed"
        } else {
            "its limits, and every process it starts followed"
        }
    );
    if files {
        in_force.push("files".into());
    }
    in_force.push("limits".into());
    Isolation {
        in_force,
        missing: Some(refusal.short),
    }
}

/// Why namespaces could not be had, and what would allow them.
struct Refusal {
    short: String,
    advice: String,
}

#[cfg(target_os = "linux")]
pub(super) mod linux {
    use std::fs;
    use std::process::Command;

    use anyhow::{Context, Result, bail};
    use nix::errno::Errno;
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::signal::{Signal, kill};
    use nix::sys::socket::{
        AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto,
        socket,
    };
    use nix::unistd::{Pid, getegid, geteuid};
    use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    use super::{ISOLATED, Refusal};

    /// Creates the namespaces and grades inside them (never returns), or says why not.
    pub(super) fn isolate(files: bool) -> Refusal {
        match create_namespaces() {
            Ok(()) => {
                let mut in_force = vec!["network", "processes"];
                if files {
                    in_force.push("files");
                }
                in_force.push("limits");
                grade_inside(&in_force.join(","))
            }
            Err(refusal) => refusal,
        }
    }

    /// unshare(2) into new network, mount and PID namespaces (and a user namespace
    /// first, for an ordinary user), then loopback up.
    fn create_namespaces() -> Result<(), Refusal> {
        let threads = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|line| line.starts_with("Threads:"))?;
                line.split_whitespace().nth(1)?.parse::<u32>().ok()
            });
        if threads.is_some_and(|threads| threads > 1) {
            return Err(Refusal {
                short: "the grader already runs several threads".into(),
                advice: "report this as a bug of the labs".into(),
            });
        }
        let root = geteuid().is_root();
        let (uid, gid) = (geteuid(), getegid());
        let flags = CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID;
        // Root needs no user namespace (and root without its capabilities, in a
        // container, cannot map itself into one: Linux 5.12 asks CAP_SETFCAP for that).
        let through_user = !root;
        let unshared = if through_user {
            unshare(flags | CloneFlags::CLONE_NEWUSER)
        } else {
            unshare(flags)
        };
        if let Err(errno) = unshared {
            return Err(refusal(errno, root));
        }
        let setup = || -> Result<()> {
            if through_user {
                // Our ids become root's inside; "deny" setgroups first, as the kernel
                // requires of an unprivileged gid_map.
                let maps = [
                    ("setgroups", "deny".to_owned()),
                    ("uid_map", format!("0 {uid} 1")),
                    ("gid_map", format!("0 {gid} 1")),
                ];
                for (file, map) in maps {
                    fs::write(format!("/proc/self/{file}"), map)
                        .with_context(|| format!("cannot write /proc/self/{file}"))?;
                }
            }
            mounts_made_private().context("cannot make the mounts private")?;
            loopback_up()
        };
        // Once in the namespaces there is no way back (no thread can even be started
        // now): grading here, without loopback, would fail every submission.
        if let Err(error) = setup() {
            crate::cli::finish(Err(error.context(
                "cannot set up the namespaces for the submission (grade it with \
                 --no-isolation, and report this as a bug of the labs)",
            )));
            std::process::exit(1)
        }
        Ok(())
    }

    /// In a new mount namespace, makes every mount private: what is mounted in it from
    /// now on (a /proc, a /tmp) does not spread back to the table it was copied from,
    /// which a mount shared with it (systemd's default, `mount --make-rshared /`) would.
    pub(in crate::check) fn mounts_made_private() -> nix::Result<()> {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
    }

    /// What a refused `unshare` means here, and what would allow it.
    fn refusal(errno: Errno, root: bool) -> Refusal {
        let advice = if fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .is_ok_and(|value| value.trim() == "0")
        {
            "user namespaces are disabled: sudo sysctl user.max_user_namespaces=15000, \
             or grade as root"
        } else if root {
            "root here lacks CAP_SYS_ADMIN or a seccomp profile forbids unshare(2), \
             as in a container: run it with --privileged (Docker: or --cap-add \
             SYS_ADMIN --security-opt seccomp=unconfined)"
        } else if fs::read_to_string("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
            .is_ok_and(|value| value.trim() == "1")
        {
            "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04): \
             sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0, or grade as root"
        } else {
            "unprivileged user namespaces are not allowed here (a container's seccomp \
             profile, or the kernel's settings): grade as root, or allow them"
        };
        let why = match errno {
            Errno::ENOSPC => "no user namespace left (user.max_user_namespaces)",
            errno => errno.desc(),
        };
        Refusal {
            short: format!("unshare(2) refused: {why}"),
            advice: advice.into(),
        }
    }

    /// Brings the namespace's loopback interface up, as `ip link set lo up` does: an
    /// RTM_NEWLINK request over a netlink socket (rtnetlink(7)), setting IFF_UP. The
    /// kernel then gives it 127.0.0.1/8 and ::1 on its own.
    fn loopback_up() -> Result<()> {
        let index = nix::net::if_::if_nametoindex("lo").context("no loopback interface")?;
        let netlink = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        const HEADER: usize = 16; // struct nlmsghdr
        const LINK: usize = 16; // struct ifinfomsg
        let up = libc::IFF_UP as u32;
        let mut request = Vec::with_capacity(HEADER + LINK);
        request.extend(((HEADER + LINK) as u32).to_ne_bytes()); // nlmsg_len
        request.extend(libc::RTM_NEWLINK.to_ne_bytes()); // nlmsg_type
        request.extend(((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
        request.extend(1u32.to_ne_bytes()); // nlmsg_seq
        request.extend(0u32.to_ne_bytes()); // nlmsg_pid: the kernel
        request.extend([libc::AF_UNSPEC as u8, 0]); // ifi_family, padding
        request.extend(0u16.to_ne_bytes()); // ifi_type
        request.extend(i32::try_from(index)?.to_ne_bytes()); // ifi_index
        request.extend(up.to_ne_bytes()); // ifi_flags
        request.extend(up.to_ne_bytes()); // ifi_change: only IFF_UP changes
        sendto(
            std::os::fd::AsRawFd::as_raw_fd(&netlink),
            &request,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )?;
        // The answer: an NLMSG_ERROR message whose error field is 0 (done) or -errno.
        let mut answer = [0u8; 256];
        let length = recv(
            std::os::fd::AsRawFd::as_raw_fd(&netlink),
            &mut answer,
            MsgFlags::empty(),
        )?;
        if length < HEADER + 4 {
            bail!("a short answer from netlink");
        }
        let error = i32::from_ne_bytes([answer[16], answer[17], answer[18], answer[19]]);
        if error != 0 {
            bail!("cannot bring lo up: {}", Errno::from_raw(-error).desc());
        }
        Ok(())
    }

    /// Starts this executable again, with the same arguments, as PID 1 of the new PID
    /// namespace; forwards Ctrl-C and SIGTERM as its end (SIGKILL, which ends every
    /// process of the namespace); exits as it did.
    fn grade_inside(in_force: &str) -> ! {
        // The submissions' copies of their folders go in here, removed at the end even
        // when the grader is killed (Ctrl-C), which leaves its watchers no time to.
        let scratch =
            std::env::temp_dir().join(format!("socket-labs-grading-{}", std::process::id()));
        let _ = fs::create_dir_all(&scratch);
        let grader = std::env::current_exe()
            .context("cannot find the grader's own executable")
            .and_then(|exe| {
                Command::new(exe)
                    .args(std::env::args_os().skip(1))
                    .env(ISOLATED, in_force)
                    .env("TMPDIR", &scratch)
                    .spawn()
                    .context("cannot start the grader inside its namespaces")
            });
        let mut grader = match grader {
            Ok(grader) => grader,
            Err(error) => {
                let _ = fs::remove_dir_all(&scratch);
                crate::cli::finish(Err(error));
                std::process::exit(2)
            }
        };
        let pid = Pid::from_raw(i32::try_from(grader.id()).unwrap_or(i32::MAX));
        // No thread can be started here (clone(2) refuses CLONE_THREAD once the PID
        // namespace for children differs from ours): wait for signals, the end of the
        // grader (SIGCHLD) among them, on this thread.
        let mut stopped_by = None;
        let status = match Signals::new([SIGINT, SIGTERM, SIGHUP, SIGCHLD]) {
            Ok(mut signals) => loop {
                match grader.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) => {}
                    Err(error) => break Err(error),
                }
                if let Some(signal) = signals.wait().next() {
                    if signal != SIGCHLD {
                        stopped_by = Some(signal);
                        let _ = kill(pid, Signal::SIGKILL);
                    }
                }
            },
            Err(_) => grader.wait(),
        };
        let signal = stopped_by.or_else(|| {
            status
                .as_ref()
                .ok()
                .and_then(std::os::unix::process::ExitStatusExt::signal)
        });
        let _ = fs::remove_dir_all(&scratch);
        if stopped_by == Some(SIGINT) {
            // Ctrl-C: status 130, as `check` without isolation ends (and as `grade`
            // tells an interrupted check from a finished one).
            std::process::exit(130);
        }
        if let Some(signal) = signal {
            // Die of the same signal, as a shell would see it (SIGPIPE included).
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
        std::process::exit(status.ok().and_then(|status| status.code()).unwrap_or(1))
    }

    /// The grader, PID 1 of its namespace, mounts a `/proc` that shows that namespace's
    /// processes (and their ids as it knows them). Without it (refused in some
    /// containers) the old one stays, and the grading goes on.
    pub(super) fn mount_proc() {
        let _ = mount(
            Some("proc"),
            "/proc",
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_line_names_what_was_in_force_or_why_none() {
        let all = Isolation {
            in_force: ["network", "processes", "files", "limits"]
                .map(String::from)
                .to_vec(),
            missing: None,
        };
        assert_eq!(
            all.text_line(),
            "isolation: network, processes, files, limits"
        );
        let none = Isolation {
            in_force: Vec::new(),
            missing: Some("--no-isolation".into()),
        };
        assert_eq!(none.text_line(), "isolation: none (--no-isolation)");
    }
}
