//! The course's programs in Rust (`examples/udp_server.rs`, `examples/udp_client.rs`,
//! Kurose & Ross 2.7): each talks to the lab's own program, keeps the limit the README
//! shows in "Try what breaks", and gets from `check` / `check-client` the report the
//! README states.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{
    RunningProcess, ServerProcess, example, parse_listening_line, run, run_check_client,
    run_check_server, run_client, text_verdicts,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

fn udp_server() -> String {
    example("lab-udp", "udp_server")
}

fn udp_client() -> String {
    example("lab-udp", "udp_client")
}

/// The verdicts a report gives, as (check, passed) pairs in the report's order.
fn verdicts(expected: &[(&str, bool)]) -> Vec<(String, bool)> {
    expected
        .iter()
        .map(|&(name, pass)| (name.to_owned(), pass))
        .collect()
}

#[test]
fn the_course_server_answers_the_lab_client() {
    let server = ServerProcess::start(&udp_server(), &["127.0.0.1", "0"], 1);
    assert_eq!(
        server.next_line().as_deref(),
        Some("The server is ready to receive")
    );
    let output = run_client(BIN, server.address(), &["hello, straße"], b"");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "HELLO, STRASSE\n");
}

#[test]
fn the_course_client_talks_to_the_lab_server() {
    let server = ServerProcess::start_server(BIN, &[]);
    let port = server.address().port().to_string();
    let output = run(&udp_client(), &["127.0.0.1", &port], b"hello, world\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Input lowercase sentence:HELLO, WORLD\n"
    );
}

#[test]
fn one_invalid_byte_stops_the_course_server() {
    let server = RunningProcess::start(&udp_server(), &["127.0.0.1", "0"]);
    let line = server.next_line().expect("the listening line");
    let address = parse_listening_line(&line).expect("a listening line");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(b"ab\xff", address).unwrap();
    let (status, _, stderr) = server.wait();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Utf8Error"), "{stderr}");
}

#[test]
#[ignore = "needs the fair grader (issue 15)"]
fn check_grades_the_course_server_as_the_readme_says() {
    let server = format!("{} {{host}} {{port}}", udp_server());
    let run = run_check_server(BIN, &server, &[]);
    let stdout = run.stdout();
    assert_eq!(
        text_verdicts(&stdout),
        verdicts(&[
            ("a message is answered with its uppercase", true),
            ("full Unicode uppercasing (as Python's str.upper)", true),
            ("an empty datagram gets an empty reply", true),
            ("bytes that are not UTF-8 pass through", false),
            ("the server still answers after bad input", false),
            ("a largest-size datagram comes back whole", false),
            ("the reply comes from the server's own address", true),
            ("two clients each get their own reply", true),
        ]),
        "{stdout}"
    );
    assert!(stdout.contains("Utf8Error"), "the crash is shown: {stdout}");
    assert!(
        stdout.contains("reply length: expected 65507, got 2048"),
        "{stdout}"
    );
    assert!(stdout.ends_with("5 passed, 3 failed\n"), "{stdout}");
    run.assert_group_gone();
}

#[test]
fn check_client_grades_the_course_client_as_the_readme_says() {
    let client = format!("{} {{host}} {{port}}", udp_client());
    let (passed, stdout) = run_check_client(BIN, &client, &["--timeout", "2"]);
    assert!(!passed, "{stdout}");
    assert_eq!(
        text_verdicts(&stdout),
        verdicts(&[
            ("the reply is printed", true),
            (
                "a lost datagram is sent again (the first one is dropped)",
                false
            ),
            (
                "a late reply is not taken for the next message's reply",
                false
            ),
            (
                "a silent server ends in an error and a non-zero exit",
                false
            ),
        ]),
        "{stdout}"
    );
    // No timeout: each of them waits in recvfrom until check-client stops it.
    assert_eq!(
        stdout.matches("still running after 2.0 s").count(),
        3,
        "{stdout}"
    );
}
