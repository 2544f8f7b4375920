//! The hi-hello assignment at its simplest, in Rust (`examples/`), end to end: each
//! against the lab's own client or server, and graded by the lab's `check` and
//! `check-client` with the reports this lab's README states for them.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{
    ServerProcess, assert_report, example, run, run_check_client, run_check_server,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-hi-hello");

fn example_server() -> ServerProcess {
    ServerProcess::start(
        &example("lab-hi-hello", "hi_hello_server"),
        &["127.0.0.1", "0"],
        1,
    )
}

#[test]
fn the_labs_client_is_answered_hello_by_the_example_server() {
    let server = example_server();
    let port = server.address().port().to_string();
    let output = run(BIN, &["client", "--port", &port], b"");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
}

/// One message per connection: the lab's client, which goes on with the lines on its
/// stdin over the same connection, finds it closed after the first answer.
#[test]
fn the_example_server_closes_after_one_answer() {
    let server = example_server();
    let port = server.address().port().to_string();
    let output = run(BIN, &["client", "--port", &port], b"hi\n");
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("closed"),
        "{stderr}"
    );
}

#[test]
fn the_example_client_is_answered_hello_by_the_labs_server() {
    let server = ServerProcess::start_server(BIN, &[]);
    let port = server.address().port().to_string();
    let output = run(
        &example("lab-hi-hello", "hi_hello_client"),
        &["127.0.0.1", &port],
        b"",
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
}

#[test]
fn check_grades_the_example_server_as_the_readme_says() {
    let server = format!(
        "{} {{host}} {{port}}",
        example("lab-hi-hello", "hi_hello_server")
    );
    let run = run_check_server(BIN, &server, &[]);
    assert_report(
        &run.stdout(),
        &[
            ("`hi` is answered `hello`", None),
            (
                "case and white space are ignored",
                Some(r#"got "unknown greeting:   HI \n""#),
            ),
            (
                "the reply keeps a CRLF line ending",
                Some(r#"got "unknown greeting: Hi\r\n""#),
            ),
            ("a bare `hi` (no newline) gets a bare `hello`", None),
            ("anything else is an unknown greeting", None),
            (
                "one session serves many greetings",
                Some("the server closed the connection"),
            ),
            (
                "`bye` is answered `goodbye` and ends the session",
                Some("the session must go on after `hi`"),
            ),
            (
                "a client is served while another is connected and silent",
                Some("no reply within the timeout"),
            ),
        ],
    );
    run.assert_group_gone();
}

#[test]
fn check_client_grades_the_example_client_as_the_readme_says() {
    let client = format!(
        "{} {{host}} {{port}}",
        example("lab-hi-hello", "hi_hello_client")
    );
    let (passed, stdout) = run_check_client(BIN, &client, &[]);
    assert!(!passed, "{stdout}");
    assert_report(
        &stdout,
        &[
            (
                "`hi` is sent and the `hello` answer printed, and it exits 0",
                None,
            ),
            (
                "a rude answer to `hi` is reported by a non-zero exit",
                Some("the client exited with status 0"),
            ),
        ],
    );
}
