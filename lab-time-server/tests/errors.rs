//! Errors that say what they are about: a server on both transports names the one
//! whose port is taken, and a `--host` that carries a port is told to use `--port`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, UdpSocket};

use common::testkit::{assert_error_line, run};

const BIN: &str = env!("CARGO_BIN_EXE_lab-time-server");

#[test]
fn a_port_taken_for_one_transport_is_named_with_that_transport() {
    // UDP taken, TCP free: the tcp listening line comes first, then the error must
    // say it is UDP's port that is in use, or the user is left to guess.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    if TcpListener::bind(("127.0.0.1", port)).is_err() {
        eprintln!("SKIPPED: TCP port {port} was taken too, by someone else");
        return;
    }
    let output = run(BIN, &["server", "--port", &port.to_string()], b"");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("listening on 127.0.0.1:{port} (tcp)\n")
    );
    assert_error_line(
        &output,
        &format!(
            "port {port} on 127.0.0.1 is already in use (udp): try another --port, or --port 0"
        ),
    );
}

#[test]
fn a_host_that_carries_a_port_is_told_to_give_it_with_port() {
    for command in ["server", "client"] {
        let output = run(BIN, &[command, "--host", "127.0.0.1:12000"], b"");
        assert_error_line(
            &output,
            "--host '127.0.0.1:12000' carries a port: give the host alone and the port \
             with --port (--host 127.0.0.1 --port 12000)",
        );
    }
}

#[test]
fn a_server_that_never_sends_the_time_and_closes_is_named_in_words() {
    // An uppercase echo server, say: it waits for a line that never comes.
    let silent = common::testkit::spawn_tcp_server(|connection| {
        let _ = std::io::Read::read(&mut &connection, &mut [0; 1]);
    });
    let port = silent.port().to_string();
    let output = run(BIN, &["client", "--port", &port, "--timeout", "0.3"], b"");
    assert_error_line(
        &output,
        &format!(
            "127.0.0.1:{port} did not send the time and close the connection within 0.3 s \
             (0 bytes came): is it a daytime or time server?"
        ),
    );
}
