//! Errors that say what they are about: a message too long for one datagram gets the
//! limit in bytes, not the system's `Message too long (os error 90)`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{ServerProcess, assert_error_line, run_client};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

#[test]
fn a_message_too_long_for_one_datagram_says_the_limit_in_bytes() {
    let server = ServerProcess::start_server(BIN, &[]);
    // 65,507 bytes is the most one UDP datagram carries over IPv4: it goes through.
    let largest = "x".repeat(65_507);
    let output = run_client(BIN, server.address(), &[&largest], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.stdout.len(),
        65_508,
        "the uppercase reply and a newline"
    );
    let too_long = "x".repeat(65_508);
    let output = run_client(BIN, server.address(), &[&too_long], b"");
    assert_error_line(
        &output,
        "a message of 65508 bytes does not fit in one UDP datagram: at most 65507 bytes \
         over IPv4; send less",
    );
}
