//! lab-udp as a real machine uses it: stdout closed early, Ctrl-C whatever the client
//! waits for, a dual-stack server's IPv4 clients shown as plain IPv4.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::testkit::{
    RunningProcess, ServerProcess, Signal, ask_udp, assert_ended_by_sigpipe, assert_error_line,
    linux_only, run, run_with_stdout_closed, send_signal, stand_in_udp_socket, wait_for_socket,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

fn server(extra: &[&str]) -> ServerProcess {
    ServerProcess::start_server(BIN, extra)
}

#[test]
fn a_closed_stdout_ends_client_demo_and_check_as_sigpipe_does() {
    let server = server(&[]);
    let port = server.address().port().to_string();
    let target = server.address().to_string();
    for (what, args, stdin) in [
        (
            "client MESSAGE",
            vec!["client", "--port", &port, "hi"],
            &b""[..],
        ),
        (
            "client, piped lines",
            vec!["client", "--port", &port],
            b"one\ntwo\n",
        ),
        ("demo", vec!["demo"], b""),
        ("--help", vec!["--help"], b""),
        ("client --help", vec!["client", "--help"], b""),
        ("check", vec!["check", "--target", &target], b""),
    ] {
        let output = run_with_stdout_closed(BIN, &args, stdin);
        assert_ended_by_sigpipe(&output, what);
    }
}

#[test]
fn a_server_whose_stdout_is_closed_keeps_serving_and_stops_cleanly() {
    let server = ServerProcess::start_then_close_stdout(BIN, &["server", "--port", "0"], 1);
    for _ in 0..3 {
        // Each datagram makes the server write a log line to the closed pipe.
        assert_eq!(ask_udp(server.address(), b"still here"), b"STILL HERE");
    }
    // A datagram whose uppercase would not fit makes the server warn on its stderr,
    // closed too: it answers all the same (ASCII-only uppercase: unchanged here).
    let too_long = "ŉ".repeat(30_000);
    assert_eq!(
        ask_udp(server.address(), too_long.as_bytes()),
        too_long.as_bytes()
    );
    assert_eq!(ask_udp(server.address(), b"after"), b"AFTER");
    server.assert_stops_in_time(Signal::SIGINT);
}

#[test]
fn ctrl_c_while_waiting_for_a_reply_from_a_stopped_server() {
    if !linux_only("sees the client's socket in /proc/net") {
        return;
    }
    let server = server(&[]);
    let port = server.address().port();
    send_signal(server.pid(), Signal::SIGSTOP);
    let client = RunningProcess::start(BIN, &["client", "--port", &port.to_string(), "hello"]);
    // The datagram waits, unread, in the stopped server's socket: the client waits.
    wait_for_socket(
        |socket| socket.local_port == port && socket.rx_queue > 0,
        "the request queued at the stopped server",
    );
    client.assert_ctrl_c_ends_it_quietly("waiting for a reply");
}

#[test]
fn ctrl_c_in_the_pause_between_retries() {
    let (silent, address) = stand_in_udp_socket();
    let port = address.port().to_string();
    let client = RunningProcess::start(
        BIN,
        &[
            "client",
            "--port",
            &port,
            "--timeout",
            "0.2",
            "--retries",
            "100",
            "hi",
        ],
    );
    // Two tries in: the client is between retries, waiting out a timeout.
    let mut datagram = [0; 16];
    for _ in 0..2 {
        silent.recv(&mut datagram).expect("a try");
    }
    client.assert_ctrl_c_ends_it_quietly("between retries");
}

#[test]
fn ctrl_c_while_waiting_for_input() {
    let server = server(&[]);
    let port = server.address().port().to_string();
    let mut client = RunningProcess::start(BIN, &["client", "--port", &port]);
    client.type_in(b"one\n");
    assert_eq!(client.next_line().as_deref(), Some("ONE"));
    // The reply is out: the client now waits for the next line of input.
    client.assert_ctrl_c_ends_it_quietly("waiting for input");
}

#[test]
fn a_dual_stack_server_shows_its_ipv4_clients_plain() {
    let server = server(&["--host", "::"]);
    let ipv4 = format!("127.0.0.1:{}", server.address().port())
        .parse()
        .unwrap();
    assert_eq!(ask_udp(ipv4, b"plain"), b"PLAIN");
    let line = server.wait_for_line(": plain");
    assert!(line.starts_with("127.0.0.1:"), "{line}");
    // Nothing it printed, the lines waited past and stderr included.
    server.assert_stops_cleanly_never_printing(Signal::SIGINT, "::ffff:");
}

#[test]
fn a_client_shows_an_ipv4_mapped_server_address_plain() {
    let closed = common::testkit::Refusing::new();
    let port = closed.address().port().to_string();
    let output = run(
        BIN,
        &[
            "client",
            "--host",
            "::ffff:127.0.0.1",
            "--port",
            &port,
            "hi",
        ],
        b"",
    );
    assert_error_line(&output, &format!("connection refused by 127.0.0.1:{port}"));
}
