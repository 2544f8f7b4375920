//! lab-time-server as a real machine uses it: replies of any size and segmentation,
//! stdout closed early, Ctrl-C whatever the client waits for, a dual-stack server's
//! IPv4 clients shown as plain IPv4.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

use common::testkit::{
    ProcNetSocket, RunningProcess, ServerProcess, Signal, ask_udp, assert_ended_by_sigpipe,
    assert_error_line, connect, linux_only, run, run_with_stdout_closed, spawn_tcp_server,
    stand_in_udp_socket, wait_for_socket,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-time-server");

/// A daytime reply of exactly `length` bytes: a ctime, filler text, CRLF.
fn long_daytime(length: usize) -> Vec<u8> {
    let mut reply = b"Sat Nov 21 09:05:07 2026 ".to_vec();
    let filler = b"0123456789".iter().cycle();
    reply.extend(filler.take(length - reply.len() - 2));
    reply.extend_from_slice(b"\r\n");
    reply
}

/// Sends `reply` in segments of `segment` bytes, a pause after each, then closes.
fn send_in_segments(mut connection: TcpStream, reply: &[u8], segment: usize) {
    connection.set_nodelay(true).unwrap();
    for piece in reply.chunks(segment) {
        if connection.write_all(piece).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(30));
    }
}

fn time_client(server: SocketAddr, extra: &[&str]) -> std::process::Output {
    let port = server.port().to_string();
    let mut args = vec!["client", "--port", &port];
    args.extend_from_slice(extra);
    run(BIN, &args, b"")
}

fn expected_output(reply: &[u8]) -> String {
    format!(
        "The time got from the server is {}\n",
        String::from_utf8_lossy(reply).trim_end()
    )
}

#[test]
fn the_client_reads_a_1500_byte_reply_in_three_segments_whole() {
    let server =
        spawn_tcp_server(|connection| send_in_segments(connection, &long_daytime(1500), 500));
    let output = time_client(server, &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        expected_output(&long_daytime(1500))
    );
}

#[test]
fn the_client_reads_a_60_kib_reply_in_fifteen_segments_whole() {
    let server =
        spawn_tcp_server(|connection| send_in_segments(connection, &long_daytime(60 * 1024), 4096));
    let output = time_client(server, &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        expected_output(&long_daytime(60 * 1024))
    );
}

#[test]
fn a_reply_longer_than_64_kib_is_refused() {
    let server = spawn_tcp_server(|connection| {
        send_in_segments(connection, &long_daytime(70 * 1024), 16 * 1024)
    });
    let output = time_client(server, &[]);
    assert_error_line(&output, "more than 64 KiB");
}

#[test]
fn the_client_reads_a_60_kib_datagram_whole() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = socket.local_addr().unwrap();
    thread::spawn(move || {
        let mut request = [0; 64];
        if let Ok((_, client)) = socket.recv_from(&mut request) {
            let _ = socket.send_to(&long_daytime(60 * 1024), client);
        }
    });
    let output = time_client(server, &["--transport", "udp"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        expected_output(&long_daytime(60 * 1024))
    );
}

#[test]
fn a_closed_stdout_ends_client_demo_and_check_as_sigpipe_does() {
    let daytime = ServerProcess::start(BIN, &["server", "--port", "0"], 2);
    let sntp = ServerProcess::start(BIN, &["server", "--port", "0", "--protocol", "sntp"], 1);
    let port = daytime.address().port().to_string();
    let sntp_port = sntp.address().port().to_string();
    let target = daytime.address().to_string();
    for (what, args) in [
        ("client (tcp)", vec!["client", "--port", &port]),
        (
            "client (udp)",
            vec!["client", "--port", &port, "--transport", "udp"],
        ),
        (
            "client (sntp)",
            vec!["client", "--port", &sntp_port, "--protocol", "sntp"],
        ),
        ("demo", vec!["demo"]),
        ("check", vec!["check", "--target", &target]),
    ] {
        let output = run_with_stdout_closed(BIN, &args, b"");
        assert_ended_by_sigpipe(&output, what);
    }
}

#[test]
fn a_server_whose_stdout_is_closed_keeps_serving_and_stops_cleanly() {
    let server = ServerProcess::start_then_close_stdout(BIN, &["server", "--port", "0"], 2);
    for _ in 0..3 {
        // Each answer makes the server log to the closed pipe.
        let mut reply = Vec::new();
        connect(server.addresses[0])
            .read_to_end(&mut reply)
            .unwrap();
        assert!(reply.ends_with(b"\r\n"), "{reply:?}");
        assert!(ask_udp(server.addresses[1], b"").ends_with(b"\r\n"));
    }
    server.assert_stops_in_time(Signal::SIGINT);
}

#[test]
fn ctrl_c_while_waiting_for_a_reply() {
    if !linux_only("sees the client's socket in /proc/net") {
        return;
    }
    // A server that completes the handshake (the kernel does) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let client = RunningProcess::start(
        BIN,
        &["client", "--port", &port.to_string(), "--timeout", "60"],
    );
    wait_for_socket(
        |socket| socket.remote_port == port && socket.state == ProcNetSocket::ESTABLISHED,
        "the client connected and waiting",
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
            "--protocol",
            "sntp",
            "--timeout",
            "0.2",
            "--retries",
            "100",
        ],
    );
    let mut datagram = [0; 64];
    for _ in 0..2 {
        silent.recv(&mut datagram).expect("a try");
    }
    client.assert_ctrl_c_ends_it_quietly("between retries");
}

#[test]
fn a_dual_stack_server_shows_its_ipv4_clients_plain() {
    let server = ServerProcess::start(BIN, &["server", "--port", "0", "--host", "::"], 2);
    let ipv4: SocketAddr = format!("127.0.0.1:{}", server.address().port())
        .parse()
        .unwrap();
    let mut reply = Vec::new();
    connect(ipv4).read_to_end(&mut reply).unwrap();
    let line = server.wait_for_line("sent the time (tcp)");
    assert!(line.starts_with("127.0.0.1:"), "{line}");
    ask_udp(ipv4, b"");
    let line = server.wait_for_line("sent the time (udp)");
    assert!(line.starts_with("127.0.0.1:"), "{line}");
    server.assert_stops_cleanly(Signal::SIGINT);
}
