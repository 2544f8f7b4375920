//! lab-udp's client keeps one socket from message to message, and still never takes a
//! late or duplicated reply for the reply to a later message. The test plays the
//! server itself, so it sees which port each datagram comes from.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::testkit::{
    RunningProcess, ServerProcess, Signal, linux_only, run_client, spawn_bounded,
    stand_in_udp_socket, wait_for_socket,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

/// The next datagram and the address it came from.
fn receive(socket: &UdpSocket) -> (String, SocketAddr) {
    let mut buffer = [0; 64];
    let (length, from) = socket.recv_from(&mut buffer).unwrap();
    (
        String::from_utf8_lossy(&buffer[..length]).into_owned(),
        from,
    )
}

#[test]
fn one_socket_serves_every_message_answered_in_time() {
    let (socket, address) = stand_in_udp_socket();
    let answering = spawn_bounded(move || {
        (0..3)
            .map(|_| {
                let (message, client) = receive(&socket);
                socket
                    .send_to(message.to_uppercase().as_bytes(), client)
                    .unwrap();
                client
            })
            .collect::<Vec<_>>()
    });
    let output = run_client(BIN, address, &[], b"a\nb\nc\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"A\nB\nC\n");
    let clients = answering.join();
    assert!(
        clients.iter().all(|&client| client == clients[0]),
        "{clients:?}"
    );
}

#[test]
fn a_reply_that_comes_twice_is_not_the_next_messages_reply() {
    if !linux_only("sees the client's socket in /proc/net") {
        return;
    }
    let (socket, address) = stand_in_udp_socket();
    let mut client = RunningProcess::client(BIN, address, &["--timeout", "5"]);
    client.type_in(b"one\n");
    let (message, first) = receive(&socket);
    assert_eq!(message, "one");
    socket.send_to(b"ONE", first).unwrap();
    socket.send_to(b"ONE", first).unwrap(); // the copy nobody asked for
    assert_eq!(client.next_line().as_deref(), Some("ONE"));
    // The copy is waiting on the client's socket before the client reads "two".
    wait_for_socket(
        |socket| socket.local_port == first.port() && socket.rx_queue > 0,
        "the copy queued on the client's socket",
    );

    client.type_in(b"two\n");
    let (message, second) = receive(&socket);
    assert_eq!(message, "two");
    assert_ne!(
        second, first,
        "the socket that got a stray copy is not kept"
    );
    socket.send_to(b"TWO", second).unwrap();
    assert_eq!(client.next_line().as_deref(), Some("TWO"));

    // From now on every message gets its own socket, the safe way.
    client.type_in(b"three\n");
    let (message, third) = receive(&socket);
    assert_eq!(message, "three");
    assert_ne!(third, second);
    socket.send_to(b"THREE", third).unwrap();
    assert_eq!(client.next_line().as_deref(), Some("THREE"));
    client.close_stdin();
    let (status, _, stderr) = client.wait();
    assert!(status.success(), "{stderr}");
}

#[test]
fn a_server_stopped_between_messages_is_reported_at_once() {
    let server = ServerProcess::start(BIN, &["server", "--port", "0"], 1);
    // With a 5 s timeout and 3 retries, waiting out the timeouts would take 20 s,
    // twice as long as the test waits for the client to end.
    let mut client = RunningProcess::client(BIN, server.address(), &["--timeout", "5"]);
    client.type_in(b"one\n");
    assert_eq!(client.next_line().as_deref(), Some("ONE"));
    server.assert_stops_cleanly(Signal::SIGINT);
    let typed = Instant::now();
    client.type_in(b"two\n");
    let (status, _, stderr) = client.wait();
    // At once: the first try's ICMP port unreachable, not a timeout (5 s) waited out.
    let took = typed.elapsed();
    assert!(took < Duration::from_secs(1), "reported after {took:?}");
    assert!(!status.success());
    assert!(stderr.starts_with("error: connection refused"), "{stderr}");
}
