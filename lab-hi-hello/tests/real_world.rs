//! lab-hi-hello as a real machine uses it: a client run from a script, stdout closed
//! early, Ctrl-C whatever the client or the peer waits for, a dual-stack server's
//! IPv4 clients shown as plain IPv4.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};

use common::tcp_checks::read_len;
use common::testkit::{
    RunningProcess, ServerProcess, Signal, ask_udp, assert_ended_by_sigpipe, assert_error_line,
    connect, linux_only, run, run_with_stdout_closed, send_signal, spawn_answering_server,
    stand_in_udp_socket, wait_for_socket,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-hi-hello");

fn server(transport: &str, extra: &[&str]) -> ServerProcess {
    ServerProcess::start_server(BIN, &[&["--transport", transport], extra].concat())
}

/// `peer --bind LOCAL --peer OTHER`, once its listening line is out.
fn start_peer(local: &str, other: SocketAddr) -> RunningProcess {
    let peer = RunningProcess::start(
        BIN,
        &["peer", "--bind", local, "--peer", &other.to_string()],
    );
    let line = peer.next_line().expect("the listening line");
    assert!(line.starts_with("listening on "), "{line}");
    peer
}

/// Waits for `expected` from the peer, skipping its other datagrams (repeated `hi`s).
fn receive_until(socket: &UdpSocket, expected: &[u8]) -> SocketAddr {
    let mut datagram = [0; 64];
    loop {
        let (length, from) = socket
            .recv_from(&mut datagram)
            .expect("a datagram from the peer");
        if &datagram[..length] == expected {
            return from;
        }
    }
}

/// Answers the peer's `hi` as the other peer would; it says it is connected.
fn greet(peer: &RunningProcess, other: &UdpSocket, address: SocketAddr) {
    let from = receive_until(other, b"hi");
    other.send_to(b"hello", from).unwrap();
    assert_eq!(peer.next_line().unwrap(), format!("connected to {address}"));
}

/// Ctrl-C: the peer tells the other `bye`, then exits 130, printing nothing.
fn ctrl_c_says_bye_and_ends_quietly(peer: RunningProcess, other: &UdpSocket) {
    let (status, rest, stderr) = peer.signal_and_wait(Signal::SIGINT);
    assert_eq!(status.code(), Some(130), "{status:?} {stderr}");
    assert!(rest.is_empty() && stderr.is_empty(), "{rest:?} {stderr}");
    receive_until(other, b"bye");
}

#[test]
fn the_client_with_no_message_says_hi_even_with_nothing_on_stdin() {
    for transport in ["tcp", "udp"] {
        let server = server(transport, &[]);
        let port = server.address().port().to_string();
        let output = run(
            BIN,
            &["client", "--transport", transport, "--port", &port],
            b"",
        );
        assert!(output.status.success(), "{transport}: {output:?}");
        assert_eq!(output.stdout, b"hello\n", "{transport}");
        server.wait_for_line(": hi");
    }
}

#[test]
fn the_client_with_no_message_fails_unless_hi_gets_hello() {
    // A server that answers everything `Hello!`.
    let wrong = spawn_answering_server(b"Hello!\n");
    let port = wrong.port().to_string();
    let output = run(BIN, &["client", "--port", &port], b"");
    assert_error_line(&output, "answered 'hi' with 'Hello!' instead of 'hello'");
}

#[test]
fn a_closed_stdout_ends_client_demo_check_and_peer_as_sigpipe_does() {
    let tcp = server("tcp", &[]);
    let udp = server("udp", &[]);
    let tcp_port = tcp.address().port().to_string();
    let udp_port = udp.address().port().to_string();
    let (tcp_target, udp_target) = (tcp.address().to_string(), udp.address().to_string());
    let (_other, other) = stand_in_udp_socket();
    let other = other.to_string();
    for (what, args, stdin) in [
        ("client", vec!["client", "--port", &tcp_port], &b""[..]),
        (
            "client MESSAGE",
            vec!["client", "--port", &tcp_port, "hi"],
            b"",
        ),
        (
            "client, piped lines",
            vec!["client", "--port", &tcp_port],
            b"hi\nhey\n",
        ),
        (
            "client (udp)",
            vec!["client", "--transport", "udp", "--port", &udp_port],
            b"",
        ),
        ("demo", vec!["demo"], b""),
        ("check", vec!["check", "--target", &tcp_target], b""),
        (
            "check (udp)",
            vec!["check", "--target", &udp_target, "--transport", "udp"],
            b"",
        ),
        (
            "peer",
            vec!["peer", "--bind", "127.0.0.1:0", "--peer", &other],
            b"",
        ),
    ] {
        let output = run_with_stdout_closed(BIN, &args, stdin);
        assert_ended_by_sigpipe(&output, what);
    }
}

#[test]
fn a_server_whose_stdout_is_closed_keeps_serving_and_stops_cleanly() {
    for transport in ["tcp", "udp"] {
        let server = ServerProcess::start_then_close_stdout(
            BIN,
            &["server", "--port", "0", "--transport", transport],
            1,
        );
        for _ in 0..3 {
            // Each greeting makes the server log to the closed pipe.
            if transport == "tcp" {
                let mut conn = connect(server.address());
                conn.write_all(b"hi\n").unwrap();
                assert_eq!(read_len(&mut conn, 6).unwrap(), b"hello\n");
            } else {
                assert_eq!(ask_udp(server.address(), b"hi"), b"hello");
            }
        }
        server.assert_stops_in_time(Signal::SIGINT);
    }
}

#[test]
fn ctrl_c_while_waiting_for_a_reply_from_a_stopped_server() {
    if !linux_only("sees the client's socket in /proc/net") {
        return;
    }
    let server = server("udp", &[]);
    let port = server.address().port();
    send_signal(server.pid(), Signal::SIGSTOP);
    let client = RunningProcess::start(
        BIN,
        &["client", "--transport", "udp", "--port", &port.to_string()],
    );
    wait_for_socket(
        |socket| socket.local_port == port && socket.rx_queue > 0,
        "the greeting queued at the stopped server",
    );
    client.assert_ctrl_c_ends_it_quietly("waiting for a reply");
}

#[test]
fn ctrl_c_while_waiting_for_input() {
    let server = server("tcp", &[]);
    let port = server.address().port().to_string();
    let client = RunningProcess::start(BIN, &["client", "--port", &port]);
    // `hi` went first; now the client reads its stdin, where nothing comes.
    assert_eq!(client.next_line().as_deref(), Some("hello"));
    client.assert_ctrl_c_ends_it_quietly("waiting for input");
}

#[test]
fn ctrl_c_in_a_peer_waiting_for_the_other_says_bye_and_ends_quietly() {
    let (other, address) = stand_in_udp_socket();
    let peer = start_peer("127.0.0.1:0", address);
    // Its `hi`s arrive: it waits, resending, for the other peer's `hello`.
    receive_until(&other, b"hi");
    receive_until(&other, b"hi");
    ctrl_c_says_bye_and_ends_quietly(peer, &other);
}

#[test]
fn ctrl_c_in_a_connected_peer_says_bye_and_ends_quietly() {
    let (other, address) = stand_in_udp_socket();
    let peer = start_peer("127.0.0.1:0", address);
    greet(&peer, &other, address);
    ctrl_c_says_bye_and_ends_quietly(peer, &other);
}

#[test]
fn a_dual_stack_peer_talks_to_an_ipv4_peer() {
    let (other, address) = stand_in_udp_socket();
    let peer = start_peer("[::]:0", address);
    greet(&peer, &other, address);
}

#[test]
fn a_dual_stack_server_shows_its_ipv4_clients_plain() {
    for transport in ["tcp", "udp"] {
        let server = server(transport, &["--host", "::"]);
        let port = server.address().port().to_string();
        let output = run(
            BIN,
            &[
                "client",
                "--transport",
                transport,
                "--host",
                "127.0.0.1",
                "--port",
                &port,
            ],
            b"",
        );
        assert!(output.status.success(), "{transport}: {output:?}");
        let line = server.wait_for_line(": hi");
        assert!(line.starts_with("127.0.0.1:"), "{transport}: {line}");
        if transport == "tcp" {
            server.wait_for_line("Client disconnected (127.0.0.1:");
        }
        // Nothing it printed, the lines waited past and stderr included.
        server.assert_stops_cleanly_never_printing(Signal::SIGINT, "::ffff:");
    }
}
