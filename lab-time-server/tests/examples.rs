//! NIT IT-553's time server and client in Rust (`examples/`), end to end: each
//! against the lab's own client or server, and graded by the lab's `check` and
//! `check-client` with the reports this lab's README states for them.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{
    ServerProcess, assert_report, example, run, run_check_client, run_check_server,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-time-server");

/// Asserts that `stdout` is the course client's one line, with a ctime of this year
/// (`Sat Nov 21 09:05:07 2026`).
fn assert_time_printed(stdout: &str) {
    let time = stdout
        .strip_prefix("The time got from the server is ")
        .unwrap_or_else(|| panic!("{stdout:?}"));
    let year = chrono::Local::now().format(" %Y").to_string();
    assert!(time.trim_end().ends_with(&year), "{stdout:?}");
    assert_eq!(
        time.trim_end().len(),
        "Sat Nov 21 09:05:07 2026".len(),
        "{stdout:?}"
    );
}

#[test]
fn the_labs_client_reads_the_time_from_the_example_server() {
    let server = ServerProcess::start(
        &example("lab-time-server", "time_server"),
        &["127.0.0.1", "0"],
        1,
    );
    let port = server.address().port().to_string();
    let output = run(BIN, &["client", "--port", &port], b"");
    assert!(output.status.success(), "{output:?}");
    assert_time_printed(&String::from_utf8_lossy(&output.stdout));
    server.wait_for_line("Got a connection from 127.0.0.1:");
}

#[test]
fn the_example_client_reads_the_time_from_the_labs_server() {
    let server = ServerProcess::start_server(BIN, &["--transport", "tcp"]);
    let port = server.address().port().to_string();
    let output = run(
        &example("lab-time-server", "time_client"),
        &["127.0.0.1", &port],
        b"",
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Python's print() of the decoded reply: its CRLF, then print's own newline.
    assert!(stdout.ends_with("\r\n\n"), "{stdout:?}");
    assert_time_printed(&stdout);
}

#[test]
fn check_grades_the_example_server_as_the_readme_says() {
    let server = format!(
        "{} {{host}} {{port}}",
        example("lab-time-server", "time_server")
    );
    let run = run_check_server(BIN, &server, &[]);
    assert_report(
        &run.stdout(),
        &[
            ("the reply is one printable ASCII line ending CRLF", None),
            (
                "the time is ctime, RFC 3339 or RFC 2822, near our clock",
                None,
            ),
            ("the server closes the connection after the time", None),
        ],
    );
    run.assert_group_gone();
}

#[test]
fn check_client_grades_the_example_client_as_the_readme_says() {
    let client = format!(
        "{} {{host}} {{port}}",
        example("lab-time-server", "time_client")
    );
    let (passed, stdout) = run_check_client(BIN, &client, &[]);
    assert!(!passed, "{stdout}");
    assert_report(
        &stdout,
        &[
            ("the server's time is printed, and it exits 0", None),
            (
                "a reply in two segments is read whole (until the server closes)",
                Some(r#"got "The time got from the server is Sat Feb  3\n""#),
            ),
        ],
    );
}
