//! `lab-time-server grade`: wired to this lab's `check`, its `--protocol` and
//! `--transport` passed on; our own server graded as a class of one gets every point.
#![allow(missing_docs, clippy::unwrap_used)]

use common::check::grade::testkit::{assert_grade_passes_our_server, class, grade};

const BIN: &str = env!("CARGO_BIN_EXE_lab-time-server");

#[test]
fn grade_passes_protocol_and_transport_on_and_gives_our_server_every_point() {
    let server =
        format!("{BIN} server --protocol time --transport udp --host {{host}} --port {{port}}");
    assert_grade_passes_our_server(BIN, &server, &["--protocol", "time", "--transport", "udp"]);
}

#[test]
fn sntp_over_tcp_is_a_usage_error_for_the_whole_class() {
    let root = class(&[("someone", ".keep", "")]);
    let output = grade(
        BIN,
        &root,
        &[
            "someone",
            "--server",
            "x {port}",
            "--protocol",
            "sntp",
            "--transport",
            "tcp",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("SNTP runs over UDP only"));
    assert!(!root.join("grades/someone.txt").exists());
}
