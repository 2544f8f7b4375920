//! lab-hi-hello end to end: the real binary on `--port 0` and ephemeral ports.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::tcp_checks::{expect_closed, read_len};
use common::testkit::{
    Refusing, RunningProcess, ServerProcess, Signal, WAIT, ask_udp, assert_error_line, at_ip,
    connect, multi_homed, parse_listening_line, run, run_client, spawn_answering_server,
    stand_in_udp_socket,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-hi-hello");

fn server(transport: &str) -> ServerProcess {
    ServerProcess::start(BIN, &["server", "--port", "0", "--transport", transport], 1)
}

#[test]
fn tcp_hi_hello_bye_goodbye_bare_and_line_forms() {
    let server = server("tcp");
    let mut conn = connect(server.address());
    conn.write_all(b"hi\n").unwrap();
    assert_eq!(read_len(&mut conn, 6).unwrap(), b"hello\n");
    conn.write_all(b"  HI \r\n").unwrap();
    assert_eq!(read_len(&mut conn, 7).unwrap(), b"hello\r\n");
    // Bare, as the course's Python client sends it: answered bare.
    conn.write_all(b"hi").unwrap();
    assert_eq!(read_len(&mut conn, 5).unwrap(), b"hello");
    conn.write_all(b"whatever\n").unwrap();
    assert_eq!(
        read_len(&mut conn, 27).unwrap(),
        b"unknown greeting: whatever\n"
    );
    conn.write_all(b"bye").unwrap();
    assert_eq!(read_len(&mut conn, 7).unwrap(), b"goodbye");
    expect_closed(&mut conn).unwrap();
}

#[test]
fn tcp_greeting_split_over_reads_is_one_line() {
    // `hi` and 8000 spaces (trimmed; past the 1 KiB kept of a message they are
    // dropped): longer than the server's 4 KiB reads, so the line takes two reads
    // or more, yet sent in one write, so the rest is there as soon as the server
    // looks for it. (Pieces sent with a pause between them would race the server's
    // bare-message wait: a test thread late by that much is a bare message.)
    let server = server("tcp");
    let mut conn = connect(server.address());
    let line = [&b"hi"[..], &[b' '; 8000], b"\n"].concat();
    conn.write_all(&line).unwrap();
    // Not `hello` for the first read and `unknown greeting: ` for the rest.
    assert_eq!(read_len(&mut conn, 6).unwrap(), b"hello\n");
    conn.write_all(b"bye\n").unwrap();
    assert_eq!(read_len(&mut conn, 8).unwrap(), b"goodbye\n");
    expect_closed(&mut conn).unwrap();
}

#[test]
fn udp_hi_hello_bye_goodbye_and_unknown() {
    let server = server("udp");
    assert_eq!(ask_udp(server.address(), b"hi"), b"hello");
    assert_eq!(ask_udp(server.address(), b"Hi\n"), b"hello\n");
    assert_eq!(ask_udp(server.address(), b"bye"), b"goodbye");
    assert_eq!(
        ask_udp(server.address(), b"hola"),
        b"unknown greeting: hola"
    );
    assert_eq!(
        ask_udp(server.address(), b"\xff"),
        b"unknown greeting: \xff"
    );
}

#[test]
fn ten_tcp_clients_at_once() {
    let server = server("tcp");
    let clients: Vec<TcpStream> = (0..10).map(|_| connect(server.address())).collect();
    // All ten are connected before any speaks: a one-at-a-time server would stall here.
    for mut conn in clients.into_iter().rev() {
        conn.write_all(b"hi\n").unwrap();
        assert_eq!(read_len(&mut conn, 6).unwrap(), b"hello\n");
    }
}

#[test]
fn client_exits_zero_only_for_hello() {
    let tcp = server("tcp");
    let port = tcp.address().port().to_string();
    let output = run(BIN, &["client", "--port", &port, "hi"], b"");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"hello\n");
    // With no MESSAGE, `hi` first, then each piped line.
    let output = run(BIN, &["client", "--port", &port], b"hey\nbye\n");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello\nunknown greeting: hey\ngoodbye\n"
    );
    assert!(output.status.success());

    let udp = server("udp");
    let port = udp.address().port().to_string();
    let output = run(
        BIN,
        &["client", "--transport", "udp", "--port", &port, "hi"],
        b"",
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"hello\n");

    let wrong = wrong_server();
    let output = run(
        BIN,
        &["client", "--port", &wrong.port().to_string(), "hi"],
        b"",
    );
    assert_error_line(&output, "instead of 'hello'");
}

/// A server that answers everything with `Hello!`, for `check` and the client to catch.
fn wrong_server() -> SocketAddr {
    spawn_answering_server(b"Hello!\n")
}

#[test]
fn check_passes_against_our_servers_and_fails_against_hello_bang() {
    for transport in ["tcp", "udp"] {
        let server = server(transport);
        let target = server.address().to_string();
        let output = run(
            BIN,
            &["check", "--target", &target, "--transport", transport],
            b"",
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{transport}: {stdout}");
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    }
    let output = run(
        BIN,
        &[
            "check",
            "--target",
            &wrong_server().to_string(),
            "--timeout",
            "0.5",
        ],
        b"",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("FAIL `hi` is answered `hello`"), "{stdout}");
}

#[test]
fn check_says_what_answer_it_expected_when_the_newline_never_comes() {
    // `hello` with no newline: the answer never comes whole.
    let no_newline = spawn_answering_server(b"hello");
    let target = no_newline.to_string();
    let output = run(
        BIN,
        &["check", "--target", &target, "--timeout", "0.5"],
        b"",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "expected answer \"hello\\n\": it came without its newline: no reply within the \
             timeout (5 of 6 bytes came: \"hello\")"
        ),
        "{stdout}"
    );
}

#[test]
fn sigint_exits_zero_within_a_second() {
    for transport in ["tcp", "udp"] {
        let server = server(transport);
        let _connected = (transport == "tcp").then(|| connect(server.address()));
        server.assert_stops_cleanly(Signal::SIGINT);
    }
}

/// The summary is the server's last line: the sessions Ctrl-C ends say
/// `Client disconnected` before it (their threads used to print it after the summary,
/// or not at all once the process had exited).
#[test]
fn the_summary_is_the_last_line_even_with_clients_connected() {
    let server = server("tcp");
    let mut clients: Vec<TcpStream> = (0..3).map(|_| connect(server.address())).collect();
    for client in &mut clients {
        client.write_all(b"hi\n").unwrap();
        assert_eq!(read_len(client, 6).unwrap(), b"hello\n");
    }
    let rest = server.assert_stops_cleanly(Signal::SIGINT);
    assert!(
        rest.last()
            .is_some_and(|line| line.starts_with("shutting down:")),
        "{rest:?}"
    );
    let disconnected = rest
        .iter()
        .filter(|line| line.starts_with("Client disconnected"))
        .count();
    assert_eq!(disconnected, 3, "{rest:?}");
}

/// A peer process with its stdin open (for typing), its stdout read line by line,
/// its stderr kept (see [`RunningProcess`]).
struct PeerProcess(RunningProcess);

impl PeerProcess {
    fn start(bind: SocketAddr, peer: SocketAddr) -> PeerProcess {
        let (bind, peer) = (bind.to_string(), peer.to_string());
        let args = ["peer", "--bind", &bind, "--peer", &peer, "--wait", "10"];
        PeerProcess(RunningProcess::start(BIN, &args))
    }

    fn expect_line(&self, expected: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.0.next_line() {
                Some(line) if line == expected => return,
                Some(_) => continue,
                None => break,
            }
        }
        panic!("the peer never printed {expected:?}");
    }

    /// The address of the peer's first line, `listening on ADDRESS (udp)`.
    fn listening_address(&self) -> SocketAddr {
        let line = self.0.next_line().expect("the listening line");
        parse_listening_line(&line).unwrap_or_else(|| panic!("not a listening line: {line}"))
    }

    fn type_line(&mut self, line: &str) {
        self.0.type_in(format!("{line}\n").as_bytes());
    }

    /// Ends its input (EOF): it says bye and exits. Its status and stderr.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        self.0.close_stdin();
        self.wait()
    }

    /// Waits for it to exit by itself. Its status and stderr.
    fn wait(self) -> (std::process::ExitStatus, String) {
        let (status, _, stderr) = self.0.wait();
        (status, stderr)
    }
}

fn peers_greet_and_talk(second_starts_after: Duration) {
    // The first peer must be told the second's port before the second exists: a port
    // below the ephemeral range, held refusing until the second starts (a free port
    // let go for that while could be handed to another test's socket, which would
    // take the `hi`s, and the port). The first peer's own port is any: it says it.
    let b_held = Refusing::below_ephemeral_range();
    let b = b_held.address();
    let mut first = PeerProcess::start("127.0.0.1:0".parse().unwrap(), b);
    let a = first.listening_address();
    // The first peer is alone: its `hi`s are refused (ICMP) until the second starts.
    thread::sleep(second_starts_after);
    // Let go of b for the second peer: only a program asking for that very number
    // could take it now (bind(0) and connect never hand it out).
    drop(b_held);
    let mut second = PeerProcess::start(b, a);
    first.expect_line(&format!("connected to {b}"));
    second.expect_line(&format!("connected to {a}"));
    first.type_line("hello from the first");
    second.expect_line(&format!("{a}: hello from the first"));
    second.type_line("and back from the second");
    first.expect_line(&format!("{b}: and back from the second"));
    let (status, stderr) = first.finish();
    assert!(
        status.success() && stderr.is_empty(),
        "{status:?}: {stderr}"
    );
    second.expect_line(&format!("{a} said bye"));
    let (status, stderr) = second.wait();
    assert!(
        status.success() && stderr.is_empty(),
        "{status:?}: {stderr}"
    );
}

/// A line too long for one datagram cannot be sent: the peer says so and the chat goes
/// on (it ended, silently, with `bye` and status 0). The test plays the other peer.
#[test]
fn a_line_too_long_for_a_datagram_is_a_warning_and_the_chat_goes_on() {
    let (other, other_address) = stand_in_udp_socket();
    let mut peer = PeerProcess::start("127.0.0.1:0".parse().unwrap(), other_address);
    let address = peer.listening_address();
    let mut datagram = [0; 65_536];
    // The next datagram from the peer that is not a greeting.
    let next_said = |other: &std::net::UdpSocket, datagram: &mut [u8]| loop {
        let (length, from) = other.recv_from(datagram).unwrap();
        assert_eq!(from, address);
        if &datagram[..length] == b"hi" {
            other.send_to(b"hello", from).unwrap();
            continue;
        }
        break String::from_utf8_lossy(&datagram[..length]).into_owned();
    };
    let (length, from) = other.recv_from(&mut datagram).unwrap();
    assert_eq!(&datagram[..length], b"hi");
    other.send_to(b"hello", from).unwrap();
    peer.expect_line(&format!("connected to {other_address}"));
    peer.type_line(&"x".repeat(70_000));
    peer.type_line("after the long one");
    assert_eq!(next_said(&other, &mut datagram), "say after the long one");
    let (status, stderr) = peer.finish();
    assert_eq!(next_said(&other, &mut datagram), "bye");
    assert!(status.success(), "{status:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("warning: line not sent: 70000 bytes, ") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn peers_started_together_greet_and_exchange_lines() {
    peers_greet_and_talk(Duration::ZERO);
}

#[test]
fn peers_greet_when_the_second_starts_a_second_later() {
    peers_greet_and_talk(Duration::from_secs(1));
}

#[test]
fn demo_runs_every_part() {
    let output = run(BIN, &["demo"], b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("receives \"hello\""), "{stdout}");
    assert!(stdout.contains("hi bob, no server between us"), "{stdout}");
    // Each server's summary under its own part (both came at the end, UDP's first).
    let lines: Vec<&str> = stdout.lines().collect();
    let at = |line: &str| lines.iter().position(|&l| l == line).expect(line);
    assert!(
        at("client: sends \"bye\", receives \"goodbye\"") + 1
            == at("shutting down: 1 client served, 3 messages answered")
            && at("shutting down: 1 client served, 2 messages answered") + 1
                == at("-- peer to peer over UDP (no server)"),
        "{stdout}"
    );
}

#[test]
fn udp_server_on_every_address_answers_from_the_address_the_client_wrote_to() {
    for (host, client_ip) in multi_homed() {
        let server = ServerProcess::start(
            BIN,
            &[
                "server",
                "--port",
                "0",
                "--transport",
                "udp",
                "--host",
                host,
            ],
            1,
        );
        let address = at_ip(server.address(), client_ip);
        // Our client's UDP socket is connected: a reply from another address is dropped.
        let output = run_client(BIN, address, &["--transport", "udp", "hi"], b"");
        assert!(output.status.success(), "{host} <- {client_ip}: {output:?}");
        assert_eq!(output.stdout, b"hello\n", "{host} <- {client_ip}");
    }
}
