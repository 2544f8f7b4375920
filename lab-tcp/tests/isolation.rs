//! `check --server` runs a submission isolated (its own network, processes and files)
//! and under limits, and says so. End to end: the real binary grading small shell
//! submissions that misbehave, each on purpose. As root (CI) and, where the machine
//! allows it, as an ordinary user (`setpriv`), which needs a user namespace.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use common::testkit::{
    Signal, WAIT, run_within, send_signal, spawn_answering_server, temp_file, tool_available,
    wait_for_exit,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-tcp");

/// `setpriv`'s arguments that run a command as nobody.
const AS_NOBODY: [&str; 5] = ["--reuid", "65534", "--regid", "65534", "--clear-groups"];

/// Asserts that `check --server SERVER extra...` fails, the server stopped by a limit
/// (`the server was stopped: {limit}` in its stderr's tail or the error line).
fn assert_stopped(server: &str, extra: &[&str], limit: &str) -> String {
    let (output, report) = check(server, extra, false);
    assert!(!output.status.success(), "{report}");
    let seen = stderr_seen(&report);
    assert!(
        seen.contains(&format!("the server was stopped: {limit}")),
        "{seen}"
    );
    seen
}

/// `lab-tcp check --server SERVER extra... --format json`, as root or as nobody.
fn check(server: &str, extra: &[&str], as_nobody: bool) -> (Output, serde_json::Value) {
    let mut args = vec!["check", "--server", server, "--format", "json"];
    args.extend_from_slice(extra);
    let output = if as_nobody {
        let mut all = AS_NOBODY.to_vec();
        all.push(BIN);
        all.extend_from_slice(&args);
        run_within("setpriv", &all, b"", WAIT * 6)
    } else {
        run_within(BIN, &args, b"", WAIT * 6)
    };
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, report)
}

/// What the report holds of the server's stderr (its tail, and the error line).
fn stderr_seen(report: &serde_json::Value) -> String {
    format!("{} {}", report["stderr_tail"], report["error"])
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().unwrap().stdout == b"0\n"
}

/// Can nobody create a user namespace here? (Else the as-nobody runs are skipped, said.)
fn nobody_can_isolate() -> bool {
    let can = is_root()
        && tool_available("setpriv")
        && run_within(
            "setpriv",
            &[&AS_NOBODY[..], &["unshare", "--user", "--net", "true"]].concat(),
            b"",
            WAIT,
        )
        .status
        .success()
        && Path::new(BIN).ancestors().all(|folder| {
            std::fs::metadata(folder).is_ok_and(|m| {
                std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o005 == 0o005
            })
        });
    if !can {
        eprintln!(
            "SKIPPED (as nobody): not root, no setpriv, no user namespaces, or BIN unreadable"
        );
    }
    can
}

/// Who runs `check` in a test: this user (`false`), then nobody (`true`) where root can
/// make it.
fn users() -> Vec<bool> {
    let mut users = vec![false];
    if nobody_can_isolate() {
        users.push(true);
    }
    users
}

/// The server a misbehaving submission runs in the end, so that its checks can pass.
fn our_server() -> String {
    format!("exec {BIN} server --port {{port}}")
}

#[test]
fn a_submission_reaches_nothing_beyond_its_own_loopback() {
    // A service on this machine's loopback: a submission not isolated reaches it.
    let outside = spawn_answering_server(b"OUTSIDE\n");
    let server = format!(
        "{BIN} client --port {} hello >&2 || echo unreachable >&2; {}",
        outside.port(),
        our_server()
    );
    let runs = users();
    for as_nobody in runs {
        let (output, report) = check(&server, &[], as_nobody);
        assert!(output.status.success(), "{report}");
        assert_eq!(
            report["isolation"],
            serde_json::json!(["network", "processes", "files", "limits"])
        );
        let seen = stderr_seen(&report);
        assert!(
            seen.contains("unreachable") && !seen.contains("OUTSIDE"),
            "{seen}"
        );
    }
    // The same without isolation reaches it: the test can tell.
    let (_, report) = check(&server, &["--no-isolation"], false);
    assert_eq!(report["isolation"], serde_json::json!([]));
    assert!(stderr_seen(&report).contains("OUTSIDE"), "{report}");
}

#[test]
fn two_submissions_on_the_same_fixed_port_are_graded_at_once_even_if_it_is_taken_here() {
    // The machine's own 127.0.0.1:PORT is held by a program that answers wrongly.
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let target = format!("127.0.0.1:{port}");
    let server = format!("exec {BIN} server --port {port}");
    let graders: Vec<_> = (0..2)
        .map(|_| {
            let (server, target) = (server.clone(), target.clone());
            std::thread::spawn(move || check(&server, &["--target", &target], false))
        })
        .collect();
    for grader in graders {
        let (output, report) = grader.join().unwrap();
        assert!(output.status.success(), "{report}");
        assert_eq!(report["failed"], 0, "{report}");
    }
    drop(squatter);
}

#[test]
fn a_daemon_started_by_a_submission_is_gone_when_its_grading_ends() {
    // A double fork and setsid: the daemon leaves the submission's process group.
    let marker = format!("1000.{}", std::process::id());
    let server = format!(
        "(setsid sleep {marker} >/dev/null 2>&1 &); {}",
        our_server()
    );
    let (output, report) = check(&server, &[], false);
    assert!(output.status.success(), "{report}");
    let left = running_with(&marker);
    assert!(left.is_empty(), "left running: {left:?}");
}

/// The processes whose arguments are exactly `sleep MARKER`.
fn running_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.trim_end() == format!("sleep {marker}"))
        .collect()
}

#[test]
fn ctrl_c_on_an_isolated_check_leaves_no_process_and_no_copy() {
    let marker = format!("2000.{}", std::process::id());
    let server = format!("sleep {marker} & exec sleep {marker} # {{port}}");
    let mut grader = Command::new(BIN)
        .args(["check", "--server", &server, "--startup-timeout", "30"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while running_with(&marker).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the submission never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let scratch = std::env::temp_dir().join(format!("socket-labs-grading-{}", grader.id()));
    assert!(scratch.exists(), "{}", scratch.display());
    send_signal(grader.id(), Signal::SIGINT);
    let status = wait_for_exit(&mut grader);
    // 130, as a check without isolation ends on Ctrl-C (and as grade expects).
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(running_with(&marker), Vec::<String>::new());
    assert!(!scratch.exists(), "{} is left", scratch.display());
}

/// Forks without end, whatever a fork's failure: each child sleeps. The server (its
/// arguments) starts only after 50 forks, past the limit the test sets: without the
/// limit it would pass every check.
const FORKER: &str = "import os, sys, time
forks = 0
while True:
    try:
        if os.fork() == 0:
            if forks == 50:
                os.execvp(sys.argv[1], sys.argv[1:])
            time.sleep(100)
            os._exit(0)
        forks += 1
    except OSError:
        pass
";

#[test]
fn a_submission_that_forks_without_end_is_stopped_at_its_process_limit() {
    if !tool_available("python3") {
        assert!(std::env::var_os("CI").is_none(), "CI must have python3");
        return;
    }
    let forker = temp_file("forker.py", FORKER);
    let runs = users();
    // In its own process group, and in a session of its own (setsid): counted too.
    for start in ["exec", "exec setsid"] {
        let server = format!(
            "{start} python3 {} {BIN} server --port {{port}}",
            forker.display()
        );
        for &as_nobody in &runs {
            let (output, report) = check(&server, &["--max-processes", "40"], as_nobody);
            let run = format!("{start}, as nobody: {as_nobody}");
            assert!(!output.status.success(), "{run}: {report}");
            let seen = stderr_seen(&report);
            let limit = "the server was stopped: it used more than 40 processes and threads";
            assert!(seen.contains(limit), "{run}: {seen}");
        }
    }
}

#[test]
fn a_cpu_spinner_is_stopped_at_its_cpu_limit() {
    let spinner = ": {port}; while :; do :; done";
    let seen = assert_stopped(
        spinner,
        &["--max-cpu", "1"],
        "it used more than 1 s of CPU time",
    );
    assert!(seen.contains("SIGXCPU"), "{seen}");
}

#[test]
fn a_file_writer_is_stopped_at_its_file_size_limit() {
    let writer = ": {port}; exec head -c 3000000 /dev/zero > big";
    let limit = "it wrote more than 1 MiB to a file";
    assert_stopped(writer, &["--max-file-size", "1"], limit);
}

#[test]
fn a_memory_hog_is_stopped_at_its_memory_limit() {
    if !tool_available("python3") {
        assert!(std::env::var_os("CI").is_none(), "CI must have python3");
        return;
    }
    let hog = ": {port}; exec python3 -c 'import time; x = b\"x\" * (300 << 20); time.sleep(30)'";
    let limit = "it used more than 100 MiB of memory";
    assert_stopped(hog, &["--max-memory", "100"], limit);
}

#[test]
fn a_submission_writes_only_in_its_copy_of_its_folder_and_its_own_tmp() {
    // A file of this machine's /tmp, and the real folder by its absolute path.
    let outside = temp_file("outside", "untouched");
    let folder = std::env::current_dir().unwrap();
    let inside = format!("written-by-a-submission-{}", std::process::id());
    let server = format!(
        "echo changed > {outside}; echo here > {real}; \
         echo here > {inside} && echo wrote-inside >&2; \
         echo here > /tmp/{inside} && echo wrote-tmp >&2; {server}",
        outside = outside.display(),
        real = folder.join(format!("{inside}-real")).display(),
        server = our_server()
    );
    let runs = users();
    for as_nobody in runs {
        let (output, report) = check(&server, &[], as_nobody);
        assert!(output.status.success(), "{report}");
        let seen = stderr_seen(&report);
        assert!(
            seen.contains("wrote-inside") && seen.contains("wrote-tmp"),
            "{seen}"
        );
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
        for written in [
            folder.join(&inside),
            folder.join(format!("{inside}-real")),
            Path::new("/tmp").join(&inside),
        ] {
            assert!(!written.exists(), "it wrote {}", written.display());
        }
    }
    // Not isolated, it writes there: the test can tell.
    let (_, report) = check(&server, &["--no-isolation"], false);
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "changed\n",
        "{report}"
    );
    for written in [
        folder.join(&inside),
        folder.join(format!("{inside}-real")),
        Path::new("/tmp").join(&inside),
    ] {
        let _ = std::fs::remove_file(written);
    }
}

#[test]
fn where_namespaces_are_refused_one_warning_says_so_and_grading_goes_on() {
    // Root in a user namespace, without its capabilities (setpriv drops them), as in
    // a container: unshare(2) is refused by the kernel itself.
    let container = [
        "--user",
        "--map-root-user",
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ];
    let possible = tool_available("unshare")
        && run_within("unshare", &[&container[..], &["true"]].concat(), b"", WAIT)
            .status
            .success();
    if !possible {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root: unshare works"
        );
        eprintln!("SKIPPED: this user cannot create a user namespace to be refused in");
        return;
    }
    let check = ["check", "--server", &our_server(), "--timeout", "3"];
    let output = run_within(
        "unshare",
        &[&container[..], &[BIN], &check[..]].concat(),
        b"",
        WAIT * 3,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("isolation: files, limits (unshare(2) refused"),
        "{first}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("without namespaces"), "{stderr}");
}
