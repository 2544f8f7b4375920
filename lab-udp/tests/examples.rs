//! The course's programs in Rust (`examples/udp_server.rs`, `examples/udp_client.rs`,
//! Kurose & Ross 2.7): each talks to the lab's own program, keeps the limit the README
//! shows in "Try what breaks", and gets from `check` / `check-client` the report the
//! README states.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{
    ServerProcess, assert_check_server_report, assert_invalid_utf8_stops, assert_verdicts, example,
    run, run_check_client, run_client,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

fn udp_server() -> String {
    example("lab-udp", "udp_server")
}

fn udp_client() -> String {
    example("lab-udp", "udp_client")
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
    assert_invalid_utf8_stops(&udp_server(), |address| {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(b"ab\xff", address).unwrap();
    });
}

#[test]
fn check_grades_the_course_server_as_the_readme_says() {
    let server = format!("{} {{host}} {{port}}", udp_server());
    assert_check_server_report(
        BIN,
        &server,
        &[
            ("a message is answered with its uppercase", true),
            ("full Unicode uppercasing (as Python's str.upper)", true),
            ("an empty datagram gets an empty reply", true),
            ("bytes that are not UTF-8 pass through", false),
            ("the server still answers after bad input", false),
            ("a largest-size datagram comes back whole", false),
            ("the reply comes from the server's own address", true),
            ("two clients each get their own reply", true),
        ],
        // The crash, and the rest of a datagram that recvfrom(2048) dropped.
        &["Utf8Error", "reply length: expected 65507, got 2048"],
    );
}

#[test]
fn check_client_grades_the_course_client_as_the_readme_says() {
    let client = format!("{} {{host}} {{port}}", udp_client());
    let (passed, stdout) = run_check_client(BIN, &client, &["--timeout", "2"]);
    assert!(!passed, "{stdout}");
    assert_verdicts(
        &stdout,
        &[
            ("the reply is printed, and it exits 0", true),
            (
                "a lost datagram is sent again (the first one is dropped)",
                false,
            ),
            (
                "a late reply is not taken for the next message's reply",
                false,
            ),
            (
                "a silent server ends in an error on stderr and a non-zero exit",
                false,
            ),
        ],
    );
    // No timeout: each of them waits in recvfrom until check-client stops it.
    assert_eq!(
        stdout.matches("still running after 2.0 s").count(),
        3,
        "{stdout}"
    );
}
