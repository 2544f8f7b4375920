//! lab-udp end to end: the real binaries, on `--port 0`, talking over loopback.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::testkit::{
    ServerProcess, Signal, WAIT, ask_udp, assert_error_line, assert_usage_error, at_ip,
    multi_homed, passed, run, run_check, run_client, spawn_bounded, stand_in_udp_socket,
    tool_available,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

fn server(extra: &[&str]) -> ServerProcess {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    ServerProcess::start(BIN, &args, 1)
}

#[test]
fn one_shot_client_joins_its_words() {
    let server = server(&[]);
    let output = run_client(BIN, server.address(), &["hello", "there,", "straße"], b"");
    assert!(output.status.success());
    assert_eq!(output.stdout, "HELLO THERE, STRASSE\n".as_bytes());
}

#[test]
fn piped_lines_each_get_a_reply_and_quit_ends_the_client() {
    let server = server(&[]);
    let output = run_client(
        BIN,
        server.address(),
        &[],
        b"one\r\ntwo\n\nquit\nnever sent\n",
    );
    assert!(output.status.success(), "{output:?}");
    // No prompt when stdin is not a terminal; the empty line gets an empty reply.
    assert_eq!(output.stdout, b"ONE\nTWO\n\n");
    server.wait_for_line(": quit");
}

#[test]
fn empty_datagram_gets_empty_reply() {
    let server = server(&[]);
    assert_eq!(ask_udp(server.address(), b""), b"");
}

#[test]
fn largest_datagram_round_trips_byte_exact() {
    let server = server(&["--quiet"]);
    let message: Vec<u8> = (0..65_507).map(|i| b"abcdefghij"[i % 10]).collect();
    let reply = ask_udp(server.address(), &message);
    assert_eq!(reply, message.to_ascii_uppercase());

    // The same through the client, as one line.
    let mut line = message.clone();
    line.push(b'\n');
    let output = run_client(BIN, server.address(), &[], &line);
    assert_eq!(&output.stdout[..65_507], &reply[..]);
}

#[test]
fn invalid_utf8_passes_through_and_server_survives() {
    let server = server(&[]);
    assert_eq!(
        ask_udp(server.address(), b"stra\xc3\x9fe \xff\xfe"),
        b"STRASSE \xff\xfe"
    );
    assert_eq!(ask_udp(server.address(), b"alive"), b"ALIVE");
}

#[test]
fn quit_is_answered_unless_exit_on_quit() {
    let plain = server(&[]);
    assert_eq!(ask_udp(plain.address(), b"quit"), b"QUIT");

    let mut stopping = server(&["--exit-on-quit"]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(b"quit\n", stopping.address()).unwrap();
    stopping.wait_for_line("Terminate server ...");
    assert!(stopping.wait_exit().success());
}

#[test]
fn closed_port_is_reported_at_once() {
    let closed = common::testkit::Refusing::new();
    let address = closed.address();
    let started = Instant::now();
    let output = run_client(BIN, address, &["--timeout", "2", "hello"], b"");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_error_line(&output, "connection refused");
}

#[test]
fn silent_server_gives_no_reply_error_after_retries() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let output = run_client(
        BIN,
        silent.local_addr().unwrap(),
        &["--timeout", "0.1", "--retries", "2", "x"],
        b"",
    );
    let expected = format!(
        "no reply from {} after 3 tries",
        silent.local_addr().unwrap()
    );
    assert_error_line(&output, &expected);
    let mut received = 0;
    silent
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while silent.recv(&mut [0; 8]).is_ok() {
        received += 1;
    }
    assert_eq!(received, 3, "sent once and resent twice");
}

/// A server that loses the first datagram of `one`, answers its resends, and answers
/// the lost one late, while the client already waits for its next message. (On a
/// loaded machine an answer can come after the client's 0.3 s and bring one more try
/// of `one`: every try after the first is answered, the client takes the first reply.)
#[test]
fn lost_datagram_is_resent_and_late_reply_is_not_mismatched() {
    let (lossy, address) = stand_in_udp_socket();
    let lossy_server = spawn_bounded(move || {
        let mut buffer = [0; 64];
        let (length, first_try) = lossy.recv_from(&mut buffer).unwrap(); // "one", lost
        assert_eq!(&buffer[..length], b"one");
        let (length, next) = loop {
            let (length, from) = lossy.recv_from(&mut buffer).unwrap();
            if &buffer[..length] != b"one" {
                break (length, from);
            }
            lossy.send_to(b"ONE", from).unwrap(); // "one" again
        };
        assert_eq!(&buffer[..length], b"two");
        // The client's socket for "one" timed out once: "two" comes from a new one.
        assert_ne!(next, first_try, "a socket whose try timed out is not kept");
        // The late reply to the lost try goes out before the real answer.
        lossy.send_to(b"ONE (late)", first_try).unwrap();
        lossy.send_to(b"TWO", next).unwrap();
    });
    let output = run_client(
        BIN,
        address,
        &["--timeout", "0.3", "--retries", "9"],
        b"one\ntwo\n",
    );
    lossy_server.join();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ONE\nTWO\n");
}

#[test]
fn ipv6_server_and_client() {
    let server = server(&["--host", "::1"]);
    assert_eq!(
        server.address(),
        format!("[::1]:{}", server.address().port())
            .parse()
            .unwrap()
    );
    let output = run_client(BIN, server.address(), &["over", "ipv6"], b"");
    assert_eq!(output.stdout, b"OVER IPV6\n");
}

#[test]
fn dual_stack_server_answers_ipv4_clients() {
    let server = server(&["--host", "::"]);
    let port = server.address().port();
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(run_client(BIN, v4, &["four"], b"").stdout, b"FOUR\n");
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    assert_eq!(run_client(BIN, v6, &["six"], b"").stdout, b"SIX\n");
}

/// A dual-stack server's reply to an IPv4 client travels over IPv4, whose datagrams
/// hold 65,507 bytes, not IPv6's 65,527: an uppercase that grows past that (`ŉ` ->
/// `ʼN`) comes back as the ASCII-only uppercase, as over an IPv4 socket. (The limit
/// was the socket's family: the reply failed with EMSGSIZE and was never sent.)
#[test]
fn dual_stack_server_fits_a_growing_reply_to_an_ipv4_client() {
    let server = server(&["--host", "::", "--quiet"]);
    let v4 = at_ip(server.address(), "127.0.0.1");
    let mut message = "a".repeat(65_487);
    message.push_str(&"ŉ".repeat(10)); // 65,507 bytes; the full uppercase is 65,517
    assert_eq!(message.len(), 65_507);
    let reply = ask_udp(v4, message.as_bytes());
    assert_eq!(reply, message.as_bytes().to_ascii_uppercase());
    let rest = server.assert_stops_cleanly(Signal::SIGINT);
    assert_eq!(
        rest.last().map(String::as_str),
        Some("shutting down: 1 client served, 1 message answered"),
        "{rest:?}"
    );
}

#[test]
fn client_accepts_a_host_name() {
    let server = server(&[]);
    let port = server.address().port().to_string();
    let output = run(
        BIN,
        &[
            "client",
            "--host",
            "localhost",
            "--port",
            &port,
            "by",
            "name",
        ],
        b"",
    );
    assert_eq!(output.stdout, b"BY NAME\n");
}

#[test]
fn sigint_and_sigterm_stop_an_idle_server() {
    server(&[]).assert_stops_cleanly(Signal::SIGINT);
    server(&[]).assert_stops_cleanly(Signal::SIGTERM);
}

/// The signal comes while a flood keeps the server receiving, and it still stops within
/// a second, as a server must stop on Ctrl-C or SIGTERM.
#[test]
fn sigint_and_sigterm_stop_a_busy_server() {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let server = server(&["--quiet"]);
        let address = server.address();
        let stop = Arc::new(AtomicBool::new(false));
        let flood = {
            let stop = stop.clone();
            spawn_bounded(move || flood(address, &stop))
        };
        assert!(answers_while_flooded(address), "no answer within {WAIT:?}");
        server.assert_stops_cleanly(signal);
        stop.store(true, Ordering::Relaxed);
        assert!(
            flood.join_within(WAIT * 3),
            "the flood ended before the server was stopped"
        );
    }
}

/// Floods `address` until `stop`: a burst of 256 datagrams every millisecond, more
/// than the server's receive buffer holds (some are dropped, as in a real flood), yet
/// a quarter of a core, not the whole core a loop without pause took from a two-core
/// machine, where the second the server has to stop then measured a starved machine.
/// Bounded: one burst per millisecond at most, for 2 x [`WAIT`] at most (the waits for
/// the answer and for the stop). Returns whether it was stopped (not given up).
fn flood(address: SocketAddr, stop: &AtomicBool) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let bound = WAIT * 2;
    let deadline = Instant::now() + bound;
    for _ in 0..bound.as_millis() {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        if Instant::now() >= deadline {
            break;
        }
        for _ in 0..256 {
            let _ = socket.send_to(b"busy busy busy", address);
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Does the server answer `x` with `X` within [`WAIT`]? A flood can fill its receive
/// buffer and drop any one datagram (that is UDP), so the probe is resent.
fn answers_while_flooded(address: SocketAddr) -> bool {
    let socket = common::net::udp_connected(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut reply = [0; 16];
    while Instant::now() < deadline {
        socket.send(b"x").unwrap();
        if let Ok(length) = socket.recv(&mut reply) {
            return &reply[..length] == b"X";
        }
    }
    false
}

#[test]
fn port_in_use_is_one_error_line() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(BIN, &["server", "--port", &port], b"");
    assert_error_line(
        &output,
        "already in use (udp): try another --port, or --port 0",
    );
}

#[test]
fn privileged_port_is_one_error_line() {
    let is_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let output = if is_root {
        // Root may bind any port: drop to nobody to see what a student sees.
        run(
            "setpriv",
            &[
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                BIN,
                "server",
                "--port",
                "80",
            ],
            b"",
        )
    } else {
        run(BIN, &["server", "--port", "80"], b"")
    };
    assert_error_line(&output, "use a port of 1024 or more");
}

#[test]
fn bad_host_and_bad_arguments() {
    assert_error_line(
        &run(BIN, &["client", "--host", "no-such-host.invalid", "x"], b""),
        "cannot resolve host",
    );
    assert_error_line(
        &run(BIN, &["server", "--host", "no-such-host.invalid"], b""),
        "cannot resolve host",
    );
    let usage = run(BIN, &["client", "--timeout", "soon", "x"], b"");
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).starts_with("error: "));
    assert_eq!(
        run(BIN, &["server", "--port", "70000"], b"").status.code(),
        Some(2)
    );
}

#[test]
fn check_passes_against_our_server() {
    let server = server(&["--quiet"]);
    let target = server.address().to_string();
    let output = run(BIN, &["check", "--target", &target], b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.ends_with("8 passed, 0 failed\n"), "{stdout}");
}

/// A wrong server for `check` to catch: `mangle` makes its reply.
fn wrong_server(mangle: fn(&[u8]) -> Vec<u8>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    thread::spawn(move || {
        let mut buffer = vec![0; 65_536];
        while let Ok((length, client)) = socket.recv_from(&mut buffer) {
            let _ = socket.send_to(&mangle(&buffer[..length]), client);
        }
    });
    address
}

#[test]
fn check_fails_against_wrong_servers() {
    let lowercasing = wrong_server(|message| message.to_ascii_lowercase());
    let truncating =
        wrong_server(|message| message[..message.len().min(2048)].to_ascii_uppercase());
    // Each wrong server fails the check that is about its fault, by name; a report
    // with some other FAIL in it would not show that this one catches it.
    for (target, caught_by) in [
        (lowercasing, "a message is answered with its uppercase"),
        (truncating, "a largest-size datagram comes back whole"),
    ] {
        let (all_passed, stdout) = run_check(BIN, target, &["--timeout", "0.5"]);
        assert!(!all_passed, "{stdout}");
        assert!(
            !passed(&stdout, caught_by),
            "{caught_by:?} passed: {stdout}"
        );
    }
}

/// The course's UDPServer.py, as a student writes it (one `recvfrom(2048)`, `upper()`).
const PYTHON_SERVER: &str = r#"
from socket import *
s = socket(AF_INET, SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print('listening on 127.0.0.1:%d (udp)' % s.getsockname()[1], flush=True)
while True:
    message, client = s.recvfrom(2048)
    s.sendto(message.decode().upper().encode(), client)
"#;

/// The course's UDPClient.py: one message, one `recvfrom(2048)`.
const PYTHON_CLIENT: &str = r#"
import sys
from socket import *
c = socket(AF_INET, SOCK_DGRAM)
c.settimeout(5)
c.sendto(sys.argv[2].encode(), ('127.0.0.1', int(sys.argv[1])))
reply, _ = c.recvfrom(2048)
print(reply.decode())
"#;

#[test]
fn our_client_against_a_python_course_server() {
    if !tool_available("python3") {
        return;
    }
    let python = ServerProcess::start("python3", &["-c", PYTHON_SERVER], 1);
    let output = run_client(BIN, python.address(), &[], "hello\nstraße\n".as_bytes());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "HELLO\nSTRASSE\n");
}

/// Any server that answers with the uppercase is a pinger server (K&R's UDPPingerServer).
#[test]
fn our_pinger_against_a_python_course_server() {
    if !tool_available("python3") {
        return;
    }
    let python = ServerProcess::start("python3", &["-c", PYTHON_SERVER], 1);
    let port = python.address().port().to_string();
    let output = run(
        BIN,
        &[
            "ping",
            "--port",
            &port,
            "--count",
            "3",
            "--interval",
            "0.05",
        ],
        b"",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert_eq!(stdout.matches("reply from ").count(), 3, "{stdout}");
    assert!(stdout.contains("3 packets transmitted, 3 received, 0% packet loss"));
}

#[test]
fn python_course_client_against_our_server() {
    if !tool_available("python3") {
        return;
    }
    let server = server(&[]);
    let port = server.address().port().to_string();
    let output = run("python3", &["-c", PYTHON_CLIENT, &port, "ﬁne straße"], b"");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "FINE STRASSE\n");
}

#[test]
fn demo_shows_a_working_exchange() {
    let output = run(BIN, &["demo"], b"");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("client: receives \"STRASSE CAFÉ FISH\""),
        "{stdout}"
    );
}

#[test]
fn wildcard_server_answers_from_the_address_the_client_wrote_to() {
    for (host, client_ip) in multi_homed() {
        let server = server(&["--host", host]);
        let address = at_ip(server.address(), client_ip);
        // Our client's socket is connected: a reply from another address is dropped.
        let output = run_client(BIN, address, &["hello"], b"");
        assert!(output.status.success(), "{host} <- {client_ip}: {output:?}");
        assert_eq!(output.stdout, b"HELLO\n", "{host} <- {client_ip}");
    }
}

#[test]
fn a_zero_timeout_is_a_usage_error() {
    assert_usage_error(BIN, &["client", "--timeout", "0", "x"], "give more than 0");
}
