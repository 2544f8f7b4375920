//! lab-tcp grading end to end: `check --server` running a submission (ours, and the
//! course's TCPServer.py, which dies on bytes that are not UTF-8), and `check-client`
//! grading our client, the course's, and clients wrong in one way each.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use common::testkit::{
    COURSE_TCP_SERVER, ServerProcess, Signal, WAIT, assert_check_mistakes_are_usage_errors,
    assert_client_without_port_is_a_usage_error, assert_formats_agree,
    assert_refusing_target_fails_every_check, assert_unstartable_server_fails_every_check,
    group_members, passed, run_check_client, run_check_server, temp_file, text_verdicts,
    tool_available, with_fixed_port,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-tcp");

#[test]
fn check_server_passes_our_server_and_leaves_no_process() {
    let server = format!("{BIN} server --host {{host}} --port {{port}}");
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert!(run.output.status.success(), "{stdout}");
    assert!(stdout.ends_with("13 passed, 0 failed\n"), "{stdout}");
    run.assert_group_gone();
}

#[test]
fn check_server_with_a_fixed_port_given_by_target() {
    // A submission whose port is written in its code: --target says where it listens.
    // The port is a fixed one (below the ephemeral range, never handed to another
    // test's socket); if some other program holds it by number, another port.
    let run = with_fixed_port(|port| {
        let server = format!("{BIN} server --port {port}");
        let target = format!("127.0.0.1:{port}");
        let run = run_check_server(BIN, &server, &["--target", &target]);
        (!run.stdout().contains("already in use")).then_some(run)
    });
    assert!(run.output.status.success(), "{}", run.stdout());
    run.assert_group_gone();
}

/// A server that accepts every connection and never answers.
const SILENT_SERVER: &str = r#"
import sys
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(50)
held = []
while True:
    held.append(s.accept())
"#;

/// Runs `args` (a `check` or `check-client` whose command notes its process group in
/// `group_file`), waits for its first check's line, then sends `signal` in the middle of
/// the next check (the callers' `--timeout 3`: the signal must land within 3 s of the
/// first line, before the second check fails too; 1 s was tight on a loaded machine). Our own kill of the submission must not be reported as its failure:
/// no more output, exit status 130 (SIGINT) or non-zero, no process left.
fn interrupt_mid_check(args: &[&str], group_file: &std::path::Path, signal: Signal) {
    let check = ServerProcess::start(BIN, args, 0);
    let mut first = check.next_line().expect("the isolation line");
    if first.starts_with("isolation: ") {
        first = check.next_line().expect("the first check's line");
    }
    assert!(first.starts_with("FAIL "), "{first}");
    // The submission of the check now running (check-client starts one per check).
    let deadline = std::time::Instant::now() + WAIT;
    let group = loop {
        let group: i32 = std::fs::read_to_string(group_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap_or(0);
        if group > 0 && !group_members(group).is_empty() {
            break group;
        }
        assert!(std::time::Instant::now() < deadline, "the submission runs");
        std::thread::sleep(Duration::from_millis(10));
    };
    let (status, _, rest) = check.stop_with(signal);
    assert_eq!(
        rest,
        Vec::<String>::new(),
        "{signal:?}: nothing after the signal"
    );
    match signal {
        Signal::SIGINT => assert_eq!(status.code(), Some(130)),
        _ => assert!(!status.success(), "{status:?}"),
    }
    assert_eq!(group_members(group), Vec::<u32>::new());
}

#[test]
fn ctrl_c_or_sigterm_on_check_stops_the_server_and_blames_it_for_nothing() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("silent.py", SILENT_SERVER);
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let group_file = temp_file("group", "");
        let command = format!(
            "echo $$ > {}; exec python3 {} {{port}}",
            group_file.display(),
            script.display()
        );
        // The runner's own stopping (its group file and /proc), not isolated.
        let args = [
            "check",
            "--server",
            &command,
            "--timeout",
            "3",
            "--no-isolation",
        ];
        interrupt_mid_check(&args, &group_file, signal);
    }
}

#[test]
fn ctrl_c_or_sigterm_on_check_client_stops_the_client_and_blames_it_for_nothing() {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let group_file = temp_file("group", "");
        // A client that never ends: each check stops it at the 3 s time limit.
        let command = format!(
            "echo $$ > {}; exec sleep 30 # {{port}}",
            group_file.display()
        );
        let args = [
            "check-client",
            "--client",
            &command,
            "--timeout",
            "3",
            "--no-isolation",
        ];
        interrupt_mid_check(&args, &group_file, signal);
    }
}

#[test]
fn a_target_that_refuses_fails_every_check_in_plain_words() {
    assert_refusing_target_fails_every_check(BIN, &[], 13);
}

#[test]
fn grading_command_mistakes_are_usage_errors_not_a_score_of_0() {
    assert_check_mistakes_are_usage_errors(BIN);
    assert_client_without_port_is_a_usage_error(BIN, &[]);
}

#[test]
fn a_server_that_never_comes_up_fails_every_check_in_every_format() {
    assert_unstartable_server_fails_every_check(BIN, &[], 13);
}

/// A server that serves one client at a time and decodes each read strictly: a
/// character split between reads crashes it. It passed that check: still busy with
/// the check before's connection (which ends gracefully, after a moment), it found
/// both halves queued and read them at once. Each half is now read before the next
/// is sent.
const ONE_AT_A_TIME_STRICT: &str = r#"
import sys
from socket import *
serverSocket = socket(AF_INET, SOCK_STREAM)
serverSocket.bind(('127.0.0.1', int(sys.argv[1])))
serverSocket.listen(1)
while True:
    connectionSocket, addr = serverSocket.accept()
    while True:
        data = connectionSocket.recv(1024)
        if not data:
            break
        connectionSocket.send(data.decode().upper().encode())
    connectionSocket.close()
"#;

#[test]
fn a_split_character_reaches_a_one_at_a_time_server_split() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("TCPServer.py", ONE_AT_A_TIME_STRICT);
    let run = run_check_server(BIN, &format!("python3 {} {{port}}", script.display()), &[]);
    let stdout = run.stdout();
    assert!(
        stdout.contains(
            "FAIL a character split between segments is one character: the server exited \
             with status 1 during this check"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS a line split over several segments"),
        "{stdout}"
    );
    assert!(stdout.ends_with("8 passed, 5 failed\n"), "{stdout}");
    run.assert_group_gone();
}

#[test]
fn a_course_server_that_crashes_loses_that_check_only_and_fails_the_quit_checks() {
    // Kurose & Ross's TCPServer.py dies on bytes that are not UTF-8: that check fails
    // with the crash, and the server is started again for the next one. It closes
    // after every reply, so it must not pass for obeying `quit`.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("TCPServer.py", COURSE_TCP_SERVER);
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    let crash = stdout
        .lines()
        .find(|line| line.starts_with("FAIL bytes that are not UTF-8 pass through: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        crash.contains("the server exited with status 1 during this check")
            && crash.contains("UnicodeDecodeError")
            && crash.ends_with("the next check starts it again"),
        "{crash}"
    );
    // Checks after the crash run on the server started again.
    assert!(
        passed(&stdout, "after a half-close, every reply still arrives"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "FAIL `quit\\n` ends the session without a reply: the session must go on after \
             an ordinary message (message 2 of 2)"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("6 passed, 7 failed\n"), "{stdout}");
    assert!(
        stdout.contains("the server exited with status 1 during 'bytes that are not UTF-8"),
        "{stdout}"
    );
    run.assert_group_gone();
    let verdicts = assert_formats_agree(BIN, &["check", "--server", &server], WAIT * 3);
    assert_eq!(verdicts, text_verdicts(&stdout));
}

/// Runs `check --server CMD extra...` with a bound of `limit` (servers that make
/// checks wait out their timeouts take long); returns its stdout.
fn check_slowly(server: &str, extra: &[&str], limit: Duration) -> (bool, String) {
    let mut args = vec!["check", "--server", server];
    args.extend_from_slice(extra);
    let output = common::testkit::run_within(BIN, &args, b"", limit);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), stdout)
}

/// Kurose & Ross's TCPServer.java (section 2.7.2) as a student hands it in, the port
/// from its command line: one line read, answered, and the connection never closed;
/// a connection closed before a line makes `readLine` return null, and the server
/// dies of a NullPointerException.
const JAVA_SERVER: &str = r#"
import java.io.*;
import java.net.*;

class TCPServer {
    public static void main(String argv[]) throws Exception {
        String clientSentence;
        String capitalizedSentence;
        ServerSocket welcomeSocket = new ServerSocket(Integer.parseInt(argv[0]));
        while (true) {
            Socket connectionSocket = welcomeSocket.accept();
            BufferedReader inFromClient = new BufferedReader(
                new InputStreamReader(connectionSocket.getInputStream()));
            DataOutputStream outToClient =
                new DataOutputStream(connectionSocket.getOutputStream());
            clientSentence = inFromClient.readLine();
            capitalizedSentence = clientSentence.toUpperCase() + '\n';
            outToClient.writeBytes(capitalizedSentence);
        }
    }
}
"#;

#[test]
fn the_textbook_java_server_is_never_killed_by_the_grader() {
    // Before: check's startup probe (a connection closed without a line) killed it,
    // and every check failed.
    if !tool_available("javac") || !tool_available("java") {
        return;
    }
    let source = temp_file("TCPServer.java", JAVA_SERVER);
    let folder = source.parent().unwrap();
    let compiled = std::process::Command::new("javac")
        .arg(&source)
        .status()
        .unwrap();
    assert!(compiled.success(), "javac failed");
    let server = format!("java -cp {} TCPServer {{port}}", folder.display());
    let (_, stdout) = check_slowly(&server, &[], Duration::from_secs(120));
    for earned in [
        "a line comes back uppercased with its newline",
        "a line split over several segments",
        "a character split between segments is one character",
    ] {
        assert!(passed(&stdout, earned), "{earned}: {stdout}");
    }
    assert!(!stdout.contains("exited"), "the grader killed it: {stdout}");
}

/// CPE 314's TCP server as a student hands it in (the port from its command line):
/// one client at a time, `quit` ends its session; a client that closes without
/// `quit` leaves it spinning on `recv` returning b'' for ever, and it prints every
/// message decoded, dying on bytes that are not UTF-8.
const CPE314_SERVER: &str = r#"
import sys
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(1)
print('TCP server started ...')
while True:
    sckt, addr = s.accept()
    print('New client connected ..')
    while True:
        txtin = sckt.recv(1024)
        print('Client> %s' % (txtin).decode('utf-8'))
        if txtin == b'quit':
            print('Client disconnected ..')
            break
        else:
            txtout = txtin.upper()
            sckt.send(txtout)
    sckt.close()
"#;

#[test]
fn a_server_that_spins_on_a_closed_connection_gets_the_checks_it_passes() {
    // Before: check's startup probe left it spinning before any check: 0 passed.
    // Then its first client, served, left it spinning for every check after: 1
    // passed. Now a check that finds it spinning starts it again and runs once more,
    // and it fails only what it does wrong.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("cpe314_server.py", CPE314_SERVER);
    let server = format!("python3 {} {{port}}", script.display());
    let (_, stdout) = check_slowly(&server, &["--timeout", "1"], Duration::from_secs(120));
    for earned in [
        "a bare message (no newline) gets its reply at once",
        "a line comes back uppercased with its newline",
        "many lines in one segment come back in order",
        "a line split over several segments",
        "a bare `quit` (the course client's) ends the session",
        "a 1 MiB line with no newline streams through",
    ] {
        assert!(passed(&stdout, earned), "{earned}: {stdout}");
    }
    // A new client after one that closed without `quit` finds it spinning: that
    // check is about surviving the one before, and is not run again.
    assert!(
        stdout.contains("FAIL the server serves a new client afterwards: "),
        "{stdout}"
    );
    assert!(stdout.ends_with("6 passed, 7 failed\n"), "{stdout}");
}

/// A student's server with no error handling: each connection served until its
/// client closes or says `quit`; ASCII-only uppercasing (`bytes.upper`), so some
/// replies are longer or shorter than the checks expect; no `try` around `recv` or
/// `send`: a reset connection kills it.
const UNGUARDED_SERVER: &str = r#"
import sys
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(5)
while True:
    conn, addr = s.accept()
    while True:
        data = conn.recv(4096)
        if not data or data.strip() == b'quit':
            break
        conn.send(data.upper())
    conn.close()
"#;

#[test]
fn a_server_with_no_error_handling_is_not_reset_by_the_grader() {
    // Before: the Unicode check read the 17 bytes it expected of an 18-byte reply and
    // closed: a reset, the server died, and it scored 3 where it earns 11.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("unguarded_server.py", UNGUARDED_SERVER);
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert!(stdout.ends_with("11 passed, 2 failed\n"), "{stdout}");
    assert!(!stdout.contains("exited"), "the grader killed it: {stdout}");
    run.assert_group_gone();
}

/// A C server as the textbook's (one `recv`, one reply, close), on a fixed port with
/// no `SO_REUSEADDR`.
const C_SERVER: &str = r#"
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons(atoi(argv[1]));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) {
        perror("bind");
        return 1;
    }
    listen(listener, 5);
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        char buffer[1024];
        ssize_t got = recv(conn, buffer, sizeof buffer, 0);
        for (ssize_t i = 0; i < got; i++)
            buffer[i] = toupper((unsigned char)buffer[i]);
        if (got > 0)
            send(conn, buffer, got, 0);
        close(conn);
    }
}
"#;

#[test]
fn three_copies_of_a_server_on_a_fixed_port_get_the_same_score() {
    // Before: 9, 0, 0: TIME_WAIT left on the port by the first run's closes kept the
    // next copies from binding it.
    if !tool_available("gcc") {
        return;
    }
    let source = temp_file("server.c", C_SERVER);
    let binary = source.with_extension("");
    let compiled = std::process::Command::new("gcc")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .unwrap();
    assert!(compiled.success(), "gcc failed");
    let runs = with_fixed_port(|port| {
        let server = format!("{} {port}", binary.display());
        let target = format!("127.0.0.1:{port}");
        let runs: Vec<String> = (0..3)
            .map(|_| run_check_server(BIN, &server, &["--target", &target]).stdout())
            .collect();
        (!runs[0].contains("already in use")).then_some(runs)
    });
    let verdicts: Vec<_> = runs.iter().map(|run| text_verdicts(run)).collect();
    assert!(runs[0].contains(" passed, "), "{}", runs[0]);
    assert!(!runs[0].starts_with("0 passed"), "{}", runs[0]);
    assert_eq!(verdicts[0], verdicts[1], "{}\n{}", runs[0], runs[1]);
    assert_eq!(verdicts[0], verdicts[2], "{}\n{}", runs[0], runs[2]);
}

#[test]
fn check_client_right_after_check_on_the_same_port_works() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("TCPServer.py", COURSE_TCP_SERVER);
    let (check, stdout) = with_fixed_port(|port| {
        let server = format!("python3 {} {port}", script.display());
        let target = format!("127.0.0.1:{port}");
        let check = run_check_server(BIN, &server, &["--target", &target]).stdout();
        let client = format!("{BIN} client --port {port}");
        let (_, stdout) = run_check_client(BIN, &client, &["--port", &port.to_string()]);
        (!check.contains("already in use")).then_some((check, stdout))
    });
    assert!(check.ends_with("6 passed, 7 failed\n"), "{check}");
    assert!(stdout.ends_with("4 passed, 0 failed\n"), "{stdout}");
}

/// What turns a server into a daemon (fork, `setsid`, fork again: Stevens APUE
/// 13.3), which then writes its process id to the file given second.
const DAEMONIZE: &str = r#"
import os, sys
if os.fork() > 0:
    sys.exit(0)
os.setsid()
if os.fork() > 0:
    os._exit(0)
with open(sys.argv[2], 'w') as pid:
    pid.write(str(os.getpid()))
"#;

#[test]
fn a_daemon_is_graded_where_it_listens_and_stopped_at_the_end() {
    // Before: the command's exit before it answered broke the run, and the daemon
    // kept running after check had ended.
    if !tool_available("python3") {
        return;
    }
    // The careful student's server, daemonized.
    let script = temp_file("daemon.py", &format!("{DAEMONIZE}{UNGUARDED_SERVER}"));
    let pid_file = script.with_file_name("daemon.pid");
    let server = format!(
        "python3 {} {{port}} {}",
        script.display(),
        pid_file.display()
    );
    assert_graded_in_the_background_and_stopped(&server, &pid_file);
    let json = common::testkit::run_within(
        BIN,
        &["check", "--server", &server, "--format", "json"],
        b"",
        WAIT * 3,
    );
    let json = String::from_utf8_lossy(&json.stdout);
    assert!(json.contains("\"server_exit\": 0,"), "{json}");
    assert!(
        json.contains("\"note\": \"the server left the foreground"),
        "{json}"
    );
}

/// A daemon (as [`DAEMONIZE`]) whose first parent ends only once the daemon has
/// accepted its first client: during the first check, well after the server was
/// ready. The daemon writes its process id to the file given second.
const DAEMON_LEAVING_LATE: &str = r#"
import os, sys
from socket import *
taken_r, taken_w = os.pipe()
if os.fork() > 0:
    os.close(taken_w)
    os.read(taken_r, 1)
    sys.exit(0)
os.setsid()
if os.fork() > 0:
    os._exit(0)
os.close(taken_r)
with open(sys.argv[2], 'w') as pid:
    pid.write(str(os.getpid()))
s = socket(AF_INET, SOCK_STREAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(5)
while True:
    conn, addr = s.accept()
    if taken_w is not None:
        os.write(taken_w, b'x')
        os.close(taken_w)
        taken_w = None
    while True:
        data = conn.recv(4096)
        if not data or data.strip() == b'quit':
            break
        conn.send(data.upper())
    conn.close()
"#;

#[test]
fn a_daemon_whose_first_parent_ends_during_a_check_is_graded_in_the_background() {
    // Before: the command's exit was taken for a daemon's only within 300 ms of the
    // server being ready; after that, as a crash in the check it came in, and the
    // daemon scored 8 where it earns 11.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("late_daemon.py", DAEMON_LEAVING_LATE);
    let pid_file = script.with_file_name("daemon.pid");
    let server = format!(
        "python3 {} {{port}} {}",
        script.display(),
        pid_file.display()
    );
    assert_graded_in_the_background_and_stopped(&server, &pid_file);
}

#[test]
fn a_daemon_that_empties_its_environment_is_stopped_too() {
    // setsid: a session and process group of its own; env -i: nothing inherited from
    // the grader. Adopted by the grader when its sh ends, and found there.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("unguarded_server.py", UNGUARDED_SERVER);
    let pid_file = script.with_file_name("daemon.pid");
    let server = format!(
        "setsid env -i python3 {} {{port}} & echo $! > {}",
        script.display(),
        pid_file.display()
    );
    assert_graded_in_the_background_and_stopped(&server, &pid_file);
}

/// Runs `check --server SERVER` on a command that leaves the unguarded server running
/// in the background (its process id in `pid_file`): it earns its 11 points there,
/// the report says it left the foreground, and it is not running afterwards.
fn assert_graded_in_the_background_and_stopped(server: &str, pid_file: &std::path::Path) {
    let run = run_check_server(BIN, server, &[]);
    let stdout = run.stdout();
    assert!(stdout.ends_with("11 passed, 2 failed\n"), "{stdout}");
    assert!(
        stdout.contains("the server left the foreground: its command exited with status 0"),
        "{stdout}"
    );
    let pid: i32 = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Gone, or a zombie waiting for init to reap it: not running.
    let deadline = std::time::Instant::now() + WAIT;
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.contains(") Z "))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check_client(client: &str) -> (bool, String) {
    run_check_client(BIN, client, &["--timeout", "5"])
}

const PLAIN: &str = "the reply is printed, and it exits 0";
const SEGMENTS: &str = "a reply in several segments, with pauses, is read whole";
const IN_ORDER: &str = "each line is answered, in order";
const CLOSED: &str =
    "a server that closes mid-session is noticed (an error on stderr, a non-zero exit)";

#[test]
fn check_client_passes_our_client_in_every_format() {
    let client = format!("{BIN} client --host {{host}} --port {{port}}");
    let (ok, stdout) = check_client(&client);
    assert!(ok, "{stdout}");
    assert!(stdout.ends_with("4 passed, 0 failed\n"), "{stdout}");
    assert_formats_agree(
        BIN,
        &["check-client", "--client", &client, "--timeout", "5"],
        WAIT * 3,
    );
}

/// The course's TCPClient.py: one message, bare, one `recv(1024)` for the reply. With
/// `slow` as its third argument, slow to call `recv` (as on a loaded machine).
const COURSE_CLIENT: &str = r#"
import sys, time
from socket import *
clientSocket = socket(AF_INET, SOCK_STREAM)
clientSocket.connect((sys.argv[1], int(sys.argv[2])))
sentence = input('Input lowercase sentence:')
clientSocket.send(sentence.encode())
if sys.argv[3:] == ['slow']:
    time.sleep(1)
modifiedSentence = clientSocket.recv(1024)
print('From Server: ', modifiedSentence.decode())
clientSocket.close()
"#;

#[test]
fn the_course_client_passes_the_plain_check_and_fails_the_segments_check() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("TCPClient.py", COURSE_CLIENT);
    let (ok, stdout) = check_client(&format!("python3 {} {{host}} {{port}}", script.display()));
    assert!(!ok);
    assert!(passed(&stdout, PLAIN), "{stdout}");
    assert!(!passed(&stdout, SEGMENTS), "{stdout}");
    // Slow to call recv, it finds the whole reply there if the stand-in only pauses
    // between the pieces; it waits until each piece is read.
    let (_, stdout) = check_client(&format!(
        "python3 {} {{host}} {{port}} slow",
        script.display()
    ));
    assert!(!passed(&stdout, SEGMENTS), "{stdout}");
}

/// The course's client sends one message, the first line: the in-order check names
/// the first line our server missed ("two"), not the last ("three").
#[test]
fn the_in_order_check_names_the_first_line_the_client_did_not_send() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("TCPClient.py", COURSE_CLIENT);
    let (_, stdout) = check_client(&format!("python3 {} {{host}} {{port}}", script.display()));
    assert!(
        stdout.contains(&format!(
            "FAIL {IN_ORDER}: our server received \"two\" 0 time(s), not 1 (all it \
             received: \"one\")"
        )),
        "{stdout}"
    );
}

/// A line client (a line out, a line back, in a loop) wrong in one way, chosen by
/// its third argument.
const WRONG_CLIENT: &str = r#"
import sys
from socket import *
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket(AF_INET, SOCK_STREAM)
s.connect((host, port))
replies = s.makefile('rb')
for line in sys.stdin:
    message = line.rstrip('\n').encode()
    s.sendall(message + b'\n')
    if mode == 'first-segment-only':
        reply = s.recv(2048)
    else:
        reply = replies.readline()
    if not reply.endswith(b'\n'):
        sys.exit(0 if mode == 'exits-0-on-close' else 'the server closed the connection')
    print((message if mode == 'uppercases-nothing' else reply.rstrip(b'\n')).decode())
"#;

#[test]
fn check_client_fails_a_wrong_client_for_each_check() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("wrong_client.py", WRONG_CLIENT);
    for (mode, fails) in [
        ("uppercases-nothing", PLAIN),
        ("first-segment-only", SEGMENTS),
        ("exits-0-on-close", CLOSED),
    ] {
        let (ok, stdout) = check_client(&format!(
            "python3 {} {{host}} {{port}} {mode}",
            script.display()
        ));
        assert!(!ok, "{mode}: {stdout}");
        assert!(
            !passed(&stdout, fails),
            "{mode} must fail {fails:?}: {stdout}"
        );
        if mode != "uppercases-nothing" {
            // Wrong in that one way only: every other check passes.
            assert!(stdout.ends_with("3 passed, 1 failed\n"), "{mode}: {stdout}");
        }
    }
    // One reply read for several lines: the course client, one message per run.
    let course = temp_file("TCPClient.py", COURSE_CLIENT);
    let (_, stdout) = check_client(&format!("python3 {} {{host}} {{port}}", course.display()));
    assert!(!passed(&stdout, IN_ORDER), "{stdout}");
}

#[test]
fn check_client_serves_a_client_with_its_port_in_its_code_on_that_port() {
    // A fixed port (below the ephemeral range, never handed to another test's
    // socket); if some other program holds it by number, another port.
    let (ok, stdout) = with_fixed_port(|port| {
        let client = format!("{BIN} client --port {port}");
        let (ok, stdout) = run_check_client(BIN, &client, &["--port", &port.to_string()]);
        (!stdout.contains("already in use")).then_some((ok, stdout))
    });
    assert!(ok, "{stdout}");
    assert!(stdout.ends_with("4 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn a_server_gone_after_the_first_connection_is_a_refusal_in_plain_words() {
    // Accepts the first check's connection, then closes it and its listener: every
    // later connect is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = common::testkit::spawn_bounded(move || drop(listener.accept().unwrap()));
    let (ok, stdout) = common::testkit::run_check(BIN, address, &[]);
    server.join();
    assert!(!ok, "{stdout}");
    assert!(!stdout.contains("os error"), "{stdout}");
    let refusal =
        format!("cannot connect: connection refused: is the server running on {address}?");
    let results: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("FAIL "))
        .collect();
    assert_eq!(results.len(), 13, "{stdout}");
    let refused = results[1..]
        .iter()
        .filter(|line| line.ends_with(&refusal))
        .count();
    assert_eq!(refused, 12, "{stdout}");
}
