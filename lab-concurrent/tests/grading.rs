//! lab-concurrent grading end to end: `check --server` running a submission: our
//! fork model (its children must be gone afterwards too), a command that never
//! listens, and the course's iterative TCPServer.py, which dies on invalid UTF-8.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{
    COURSE_TCP_SERVER, WAIT, assert_check_mistakes_are_usage_errors, assert_formats_agree,
    assert_refusing_target_fails_every_check, assert_unstartable_server_fails_every_check,
    run_check_server, temp_file, text_verdicts, tool_available,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-concurrent");

#[test]
fn check_server_passes_our_fork_server_and_leaves_no_child_behind() {
    let server = format!("{BIN} server --model fork --host {{host}} --port {{port}}");
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert!(run.output.status.success(), "{stdout}");
    assert!(stdout.ends_with("15 passed, 0 failed\n"), "{stdout}");
    run.assert_group_gone();
}

#[test]
fn a_target_that_refuses_fails_every_check_in_plain_words() {
    assert_refusing_target_fails_every_check(BIN, &[], 15);
}

#[test]
fn a_server_that_never_comes_up_fails_every_check_in_every_format() {
    assert_unstartable_server_fails_every_check(BIN, &[], 15);
}

#[test]
fn the_iterative_course_server_fails_the_concurrency_checks_not_for_its_crash() {
    // Kurose & Ross's TCPServer.py dies on bytes that are not UTF-8: that check fails
    // with the crash and it is started again, so the concurrency checks are run, and
    // failed for what they test: one client at a time.
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
    for concurrency in [
        "FAIL a second client is served while a first one is connected and silent: expected \
         reply \"NOT BLOCKED\\n\": no reply within the timeout",
        "FAIL 20 clients at once, all held open, each get their reply: ",
    ] {
        assert!(stdout.contains(concurrency), "{concurrency}: {stdout}");
    }
    assert!(!stdout.contains("not run"), "{stdout}");
    assert!(stdout.ends_with("6 passed, 9 failed\n"), "{stdout}");
    run.assert_group_gone();
    let verdicts = assert_formats_agree(BIN, &["check", "--server", &server], WAIT * 3);
    assert_eq!(verdicts, text_verdicts(&stdout));
}

#[test]
fn an_iterative_server_fails_the_check_of_twenty_clients_at_once() {
    // Each client is held open until all are answered: a server that serves one at a
    // time answers the first (client 1) and waits on it, so client 2 gets no reply.
    // (Before, each client was closed once answered, which freed the server for the
    // next, and it passed.)
    let server = format!("{BIN} server --model iterative --host {{host}} --port {{port}}");
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert!(
        stdout.contains(
            "FAIL 20 clients at once, all held open, each get their reply: client 2 of 20, \
             while the others stay connected: expected reply \"CLIENT 2\\n\": no reply \
             within the timeout"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("13 passed, 2 failed\n"), "{stdout}");
    run.assert_group_gone();
}

/// An iterative server whose `listen(1)` backlog fills: the connection that gets no
/// answer is numbered, and the detail names the backlog (it named only a firewall).
#[test]
fn a_full_listen_backlog_is_named_with_the_client_it_stopped() {
    if !tool_available("python3") {
        return;
    }
    let script = temp_file(
        "backlog1.py",
        "import sys\nfrom socket import *\ns = socket(AF_INET, SOCK_STREAM)\n\
         s.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen(1)\nwhile True:\n\
         \x20   c = s.accept()[0]\n\
         \x20   while (m := c.recv(1024)): c.send(m.upper())\n\
         \x20   c.close()\n",
    );
    let server = format!("python3 {} {{port}}", script.display());
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    let fail = stdout
        .lines()
        .find(|line| line.starts_with("FAIL 20 clients at once"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(fail.contains(" of 20, with "), "{fail}");
    assert!(
        fail.ends_with(
            "the server is not accepting, and its listen backlog is full (it calls accept() \
             too seldom, or listen() got a small backlog), or a firewall drops the connection"
        ),
        "{fail}"
    );
    run.assert_group_gone();
}

#[test]
fn grading_command_mistakes_are_usage_errors_not_a_score_of_0() {
    assert_check_mistakes_are_usage_errors(BIN);
}
