//! lab-tcp as a real machine uses it: stdout closed early, Ctrl-C whatever the client
//! waits for, a dual-stack server's IPv4 clients shown as plain IPv4.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use common::net;
use common::tcp_checks::read_len;
use common::testkit::{
    ProcNetSocket, Refusing, RunningProcess, ServerProcess, Signal, assert_ended_by_sigpipe,
    assert_error_line, connect, linux_only, run_check, run_client, run_with_stdout_closed,
    send_signal, wait_for_socket,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-tcp");

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
            "client --bare",
            vec!["client", "--port", &port, "--bare", "hi"],
            b"",
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
        // Each session makes the server log to the closed pipe.
        let mut conn = connect(server.address());
        conn.write_all(b"still here\n").unwrap();
        assert_eq!(read_len(&mut conn, 11).unwrap(), b"STILL HERE\n");
    }
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
    // The kernel completes the handshake for the stopped server; the line waits unread.
    let client = RunningProcess::start(BIN, &["client", "--port", &port.to_string(), "hello"]);
    wait_for_socket(
        |socket| {
            socket.local_port == port
                && socket.state != ProcNetSocket::LISTEN
                && socket.rx_queue > 0
        },
        "the request queued at the stopped server",
    );
    client.assert_ctrl_c_ends_it_quietly("waiting for a reply");
}

#[test]
fn ctrl_c_while_connecting() {
    if !linux_only("sees the client's socket in /proc/net") {
        return;
    }
    // A listener whose accept queue is full drops new SYNs: the client's connect waits.
    let address: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let socket = net::tcp_socket(address).unwrap();
    net::bind(&socket, address).unwrap();
    socket.listen(0).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    let _queued = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let client = RunningProcess::start(
        BIN,
        &[
            "client",
            "--port",
            &port.to_string(),
            "--timeout",
            "60",
            "hello",
        ],
    );
    wait_for_socket(
        |socket| socket.remote_port == port && socket.state == ProcNetSocket::SYN_SENT,
        "the client's SYN waiting for an answer",
    );
    client.assert_ctrl_c_ends_it_quietly("connecting");
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
    let mut conn = connect(ipv4);
    conn.write_all(b"plain\n").unwrap();
    assert_eq!(read_len(&mut conn, 6).unwrap(), b"PLAIN\n");
    drop(conn);
    let line = server.wait_for_line("New client connected from");
    assert!(
        line.starts_with("New client connected from 127.0.0.1:"),
        "{line}"
    );
    server.wait_for_line("Client disconnected (127.0.0.1:");
    // Nothing it printed, the lines waited past and stderr included.
    server.assert_stops_cleanly_never_printing(Signal::SIGINT, "::ffff:");
}

#[test]
fn a_bare_empty_message_is_refused_not_answered_by_nobody() {
    let server = server(&[]);
    let output = run_client(BIN, server.address(), &["--bare", ""], b"");
    assert_error_line(&output, "an empty message cannot be sent with --bare");
    assert!(output.stdout.is_empty(), "{output:?}");
}

#[test]
fn check_shows_an_ipv4_mapped_target_plain() {
    let closed = Refusing::new();
    let port = closed.address().port();
    let (passed, output) = run_check(
        BIN,
        format!("[::ffff:127.0.0.1]:{port}").parse().unwrap(),
        &[],
    );
    assert!(!passed);
    assert!(
        output.contains(&format!("is the server running on 127.0.0.1:{port}?")),
        "{output}"
    );
    assert!(!output.contains("::ffff:"), "{output}");
}
