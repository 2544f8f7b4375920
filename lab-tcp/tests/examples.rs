//! The course's programs in Rust (`examples/tcp_client.rs`, `tcp_server.rs`, Kurose &
//! Ross 2.7; `tcp_server_quit.rs`, CPE 314): each talks to the lab's own program, keeps
//! the limits the README shows in "Try what breaks" (a second client waits in the
//! backlog; one invalid byte stops the server), and gets from `check` / `check-client`
//! the report the README states.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};

use common::testkit::{
    ProcNetSocket, RunningProcess, ServerProcess, assert_check_server_report, assert_error_line,
    assert_invalid_utf8_stops, assert_verdicts, connect, example, run, run_check_client,
    run_client, wait_for_socket,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-tcp");

fn course_server(name: &str) -> ServerProcess {
    ServerProcess::start(&example("lab-tcp", name), &["127.0.0.1", "0"], 1)
}

/// Reads until the peer closes (bounded by the connection's read timeout).
fn read_to_close(connection: &mut std::net::TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    connection.read_to_end(&mut all).unwrap();
    all
}

#[test]
fn the_course_server_answers_once_then_closes() {
    let server = course_server("tcp_server");
    assert_eq!(
        server.next_line().as_deref(),
        Some("The server is ready to receive")
    );
    let output = run_client(BIN, server.address(), &["hello, straße"], b"");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "HELLO, STRASSE\n");
    // One reply, then close(): a second line on the same connection gets nothing.
    let mut connection = connect(server.address());
    connection.write_all(b"one").unwrap();
    assert_eq!(read_to_close(&mut connection), b"ONE");
}

#[test]
fn the_course_session_server_answers_until_quit() {
    let server = course_server("tcp_server_quit");
    assert_eq!(
        server.next_line().as_deref(),
        Some("TCP server started ...")
    );
    let output = run_client(BIN, server.address(), &["--bare"], b"one\ntwo\nquit\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ONE\nTWO\n");
    for line in ["New client connected ..", "Client> one", "Client> two"] {
        assert_eq!(server.next_line().as_deref(), Some(line));
    }
    assert_eq!(server.next_line().as_deref(), Some("Client> quit"));
    assert_eq!(
        server.next_line().as_deref(),
        Some("Client disconnected ..")
    );
}

#[test]
fn the_course_client_talks_to_the_lab_server() {
    let server = ServerProcess::start_server(BIN, &[]);
    let port = server.address().port().to_string();
    let client = example("lab-tcp", "tcp_client");
    let output = run(&client, &["127.0.0.1", &port], b"hello, world\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Input lowercase sentence:From Server: HELLO, WORLD\n"
    );
}

#[test]
fn one_invalid_byte_stops_the_course_server() {
    assert_invalid_utf8_stops(&example("lab-tcp", "tcp_server"), |address| {
        connect(address).write_all(b"ab\xff").unwrap();
    });
}

/// The first client's session holds the iterative server; the second client's
/// connection is completed by the kernel and waits in the listen backlog, its message
/// unread, until the first leaves.
#[test]
fn a_second_course_client_waits_in_the_backlog_until_the_first_leaves() {
    let server = course_server("tcp_server_quit");
    let port = server.address().port();
    let mut first = connect(server.address());
    first.write_all(b"first").unwrap();
    let mut reply = [0; 5];
    first.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"FIRST");
    let mut second = RunningProcess::start(
        &example("lab-tcp", "tcp_client"),
        &["127.0.0.1", &port.to_string()],
    );
    second.type_in(b"second\n");
    wait_for_socket(
        |socket| {
            socket.local_port == port
                && socket.state == ProcNetSocket::ESTABLISHED
                && socket.rx_queue == 6
        },
        "the second client's message, unread in a connection not yet accepted",
    );
    drop(first);
    let (status, lines, stderr) = second.wait();
    assert!(status.success(), "{stderr}");
    assert_eq!(
        lines,
        ["Input lowercase sentence:From Server: SECOND"],
        "{stderr}"
    );
}

/// The lab's client does not wait forever: it gives up after `--timeout`, and the
/// server answers its message later anyway, when it gets to that connection.
#[test]
fn a_second_lab_client_gives_up_and_its_message_is_answered_later() {
    let server = ServerProcess::start_server(BIN, &[]);
    let mut first = connect(server.address());
    first.write_all(b"first\n").unwrap();
    let mut reply = [0; 6];
    first.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"FIRST\n");
    server.wait_for_line("first");
    let second = run_client(BIN, server.address(), &["--timeout", "0.5", "second"], b"");
    assert_error_line(&second, "within 0.5 s: the server is busy or stuck");
    drop(first);
    server.wait_for_line("Client disconnected");
    server.wait_for_line("second");
}

/// `check --server` on a course server, and the report the README states: the
/// checks in order, (name, passed).
fn assert_course_server_report(name: &str, expected: &[(&str, bool)]) {
    let server = format!("{} {{host}} {{port}}", example("lab-tcp", name));
    assert_check_server_report(BIN, &server, expected, &["Utf8Error"]);
}

#[test]
fn check_grades_the_course_server_as_the_readme_says() {
    assert_course_server_report(
        "tcp_server",
        &[
            ("a bare message (no newline) gets its reply at once", true),
            ("a line comes back uppercased with its newline", true),
            ("many lines in one segment come back in order", true),
            ("full Unicode uppercasing (as Python's str.upper)", true),
            ("bytes that are not UTF-8 pass through", false),
            ("a line split over several segments", false),
            ("a character split between segments is one character", false),
            ("`quit\\n` ends the session without a reply", false),
            ("`quit\\r\\n` ends the session without a reply", false),
            (
                "a bare `quit` (the course client's) ends the session",
                false,
            ),
            ("after a half-close, every reply still arrives", true),
            ("a 1 MiB line with no newline streams through", false),
            ("the server serves a new client afterwards", true),
        ],
    );
}

#[test]
fn check_grades_the_course_session_server_as_the_readme_says() {
    assert_course_server_report(
        "tcp_server_quit",
        &[
            ("a bare message (no newline) gets its reply at once", true),
            ("a line comes back uppercased with its newline", true),
            ("many lines in one segment come back in order", true),
            ("full Unicode uppercasing (as Python's str.upper)", false),
            ("bytes that are not UTF-8 pass through", false),
            ("a line split over several segments", true),
            ("a character split between segments is one character", false),
            ("`quit\\n` ends the session without a reply", false),
            ("`quit\\r\\n` ends the session without a reply", false),
            ("a bare `quit` (the course client's) ends the session", true),
            ("after a half-close, every reply still arrives", true),
            ("a 1 MiB line with no newline streams through", true),
            ("the server serves a new client afterwards", true),
        ],
    );
}

#[test]
fn check_client_grades_the_course_client_as_the_readme_says() {
    let client = format!("{} {{host}} {{port}}", example("lab-tcp", "tcp_client"));
    let (passed, stdout) = run_check_client(BIN, &client, &["--timeout", "3"]);
    assert!(!passed, "{stdout}");
    assert_verdicts(
        &stdout,
        &[
            ("the reply is printed, and it exits 0", true),
            (
                "a reply in several segments, with pauses, is read whole",
                false,
            ),
            ("each line is answered, in order", false),
            (
                "a server that closes mid-session is noticed (an error on stderr, a non-zero exit)",
                false,
            ),
        ],
    );
    // One recv(1024): the first piece of the reply only.
    assert!(stdout.contains("From Server: SEGME\\n"), "{stdout}");
}
