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
    let first = check.next_line().expect("the first check's line");
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
        let args = ["check", "--server", &command, "--timeout", "3"];
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
        let args = ["check-client", "--client", &command, "--timeout", "3"];
        interrupt_mid_check(&args, &group_file, signal);
    }
}

#[test]
fn a_target_that_refuses_is_said_once_and_fails_every_check() {
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

#[test]
fn check_server_names_the_check_a_course_server_dies_on_and_fails_the_rest_fast() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("TCPServer.py", COURSE_TCP_SERVER);
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert!(!run.output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "FAIL bytes that are not UTF-8 pass through: the server exited with status 1 \
             during this check"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "FAIL the server serves a new client afterwards: not run: the server exited \
             with status 1 during 'bytes that are not UTF-8 pass through'"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("UnicodeDecodeError"),
        "stderr tail: {stdout}"
    );
    // Well under 13 checks x 2 s (--timeout): failing fast.
    assert!(run.took < Duration::from_secs(13), "{:?}", run.took);
    run.assert_group_gone();
    let verdicts = assert_formats_agree(BIN, &["check", "--server", &server], WAIT * 3);
    assert_eq!(verdicts, text_verdicts(&stdout));
}

fn check_client(client: &str) -> (bool, String) {
    run_check_client(BIN, client, &["--timeout", "5"])
}

const PLAIN: &str = "the reply is printed, and it exits 0";
const SEGMENTS: &str = "a reply in several segments, with pauses, is read whole";
const IN_ORDER: &str = "each line is answered, in order";
const CLOSED: &str =
    "a server that closes mid-session is noticed: an error on stderr, a non-zero exit";

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
fn a_server_gone_after_the_probe_is_a_refusal_in_plain_words() {
    // Accepts the probe's connection, then closes its listener: every later connect
    // is refused. The kernel completes the probe's connect before accept() returns
    // here, so the first check may connect while the listener is still open; its
    // connection is then reset when the listener closes. Nothing outside the check
    // can close that race, so the first check may fail either way; the rest are
    // refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || drop(listener.accept().unwrap()));
    let (ok, stdout) = common::testkit::run_check(BIN, address, &[]);
    server.join().unwrap();
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
