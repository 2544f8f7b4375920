//! lab-hi-hello grading end to end: `check --server` running a submission (ours, one
//! that never listens, a course-style UDP server that dies on invalid UTF-8), and
//! `check-client` grading our client and clients wrong in one way each.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use common::testkit::{
    WAIT, assert_check_mistakes_are_usage_errors, assert_client_without_port_is_a_usage_error,
    assert_formats_agree, assert_refusing_target_fails_every_check,
    assert_unstartable_server_fails_every_check, passed, run_check_client, run_check_server,
    temp_file, text_verdicts, tool_available,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-hi-hello");

#[test]
fn check_server_passes_our_server_over_both_transports_and_leaves_no_process() {
    for (transport, checks) in [("tcp", 8), ("udp", 7)] {
        let server =
            format!("{BIN} server --transport {transport} --host {{host}} --port {{port}}");
        let run = run_check_server(BIN, &server, &["--transport", transport]);
        let stdout = run.stdout();
        assert!(run.output.status.success(), "{transport}: {stdout}");
        assert!(
            stdout.ends_with(&format!("{checks} passed, 0 failed\n")),
            "{stdout}"
        );
        run.assert_group_gone();
    }
}

#[test]
fn a_target_that_refuses_fails_every_check_in_plain_words() {
    assert_refusing_target_fails_every_check(BIN, &[], 8);
    assert_refusing_target_fails_every_check(BIN, &["--transport", "udp"], 7);
}

#[test]
fn grading_command_mistakes_are_usage_errors_not_a_score_of_0() {
    assert_check_mistakes_are_usage_errors(BIN);
    assert_client_without_port_is_a_usage_error(BIN, &[]);
}

#[test]
fn a_server_that_never_comes_up_fails_every_check_in_every_format() {
    assert_unstartable_server_fails_every_check(BIN, &[], 8);
    assert_unstartable_server_fails_every_check(BIN, &["--transport", "udp"], 7);
}

/// A hi-hello TCP server as the textbook's TCPServer.py is written: one request, one
/// answer, then it closes, whatever the request was.
const ONE_ANSWER_SERVER: &str = r#"
import sys
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(5)
while True:
    c, addr = s.accept()
    request = c.recv(1024).decode().strip().lower()
    answers = {'hi': 'hello', 'bye': 'goodbye'}
    c.send((answers.get(request, 'unknown greeting: ' + request) + '\n').encode())
    c.close()
"#;

#[test]
fn a_server_that_closes_after_every_answer_does_not_pass_for_obeying_bye() {
    // Before: `bye` was sent first, and its close after the answer passed the check.
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("one_answer_server.py", ONE_ANSWER_SERVER);
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert!(
        stdout.contains(
            "FAIL `bye` is answered `goodbye` and ends the session: the session must go on \
             after `hi`"
        ),
        "{stdout}"
    );
    assert!(passed(&stdout, "`hi` is answered `hello`"), "{stdout}");
    run.assert_group_gone();
}

/// A hi-hello UDP server as a student writes it: `decode()` raises on bytes that are
/// not UTF-8, and the server dies.
const STUDENT_SERVER: &str = r#"
import sys
from socket import *
s = socket(AF_INET, SOCK_DGRAM)
s.bind(('127.0.0.1', int(sys.argv[1])))
while True:
    data, addr = s.recvfrom(1024)
    text = data.decode()
    word = text.strip()
    if word.lower() == 'hi':
        answer = 'hello'
    elif word.lower() == 'bye':
        answer = 'goodbye'
    else:
        answer = 'unknown greeting: ' + word
    s.sendto((answer + text[len(text.rstrip('\r\n')):]).encode(), addr)
"#;

#[test]
fn check_server_names_the_check_a_student_server_dies_on() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("hi_server.py", STUDENT_SERVER);
    let server = format!("python3 {} {{port}}", script.display());
    let args = ["--transport", "udp"];
    let run = run_check_server(BIN, &server, &args);
    let stdout = run.stdout();
    assert!(!run.output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "FAIL bytes that are not UTF-8 do not stop the server: the server exited with \
             status 1 during this check"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("6 passed, 1 failed\n"), "{stdout}");
    // Well under 7 checks x 2 s (--timeout): the dying check ends when the server does.
    assert!(run.took < Duration::from_secs(7), "{:?}", run.took);
    run.assert_group_gone();
    let mut all = vec!["check", "--server", &server];
    all.extend(args);
    assert_eq!(
        assert_formats_agree(BIN, &all, WAIT * 3),
        text_verdicts(&stdout)
    );
}

const HELLO: &str = "`hi` is sent and the `hello` answer printed, and it exits 0";
const RUDE: &str = "a rude answer to `hi` is reported by a non-zero exit";

#[test]
fn check_client_passes_our_client_over_both_transports() {
    for transport in ["tcp", "udp"] {
        // The client's default timeout (2 s): no check here needs it to give up, and a
        // short one only raced our stand-in's answer on a loaded machine.
        let client =
            format!("{BIN} client --transport {transport} --host {{host}} --port {{port}}");
        let args = ["--transport", transport, "--timeout", "5"];
        let (ok, stdout) = run_check_client(BIN, &client, &args);
        assert!(ok, "{transport}: {stdout}");
        assert!(stdout.ends_with("2 passed, 0 failed\n"), "{stdout}");
        if transport == "udp" {
            let mut all = vec!["check-client", "--client", &client];
            all.extend(args);
            assert_formats_agree(BIN, &all, WAIT * 3);
        }
    }
}

/// A course-style hi-hello client: sends its third argument, prints the answer, and
/// exits 0 whatever the answer was.
const TRUSTING_CLIENT: &str = r#"
import sys
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(sys.argv[3].encode())
print(s.recv(1024).decode())
s.close()
"#;

#[test]
fn check_client_fails_a_wrong_client_for_each_check() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file("hi_client.py", TRUSTING_CLIENT);
    let trusting = |greeting: &str| {
        run_check_client(
            BIN,
            &format!("python3 {} {{host}} {{port}} {greeting}", script.display()),
            &[],
        )
    };
    let (ok, stdout) = trusting("hi");
    assert!(!ok);
    assert!(passed(&stdout, HELLO), "{stdout}");
    assert!(!passed(&stdout, RUDE), "exits 0 on a rude answer: {stdout}");
    let (_, stdout) = trusting("hey");
    assert!(!passed(&stdout, HELLO), "never says hi: {stdout}");
}
