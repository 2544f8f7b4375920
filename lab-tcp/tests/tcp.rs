//! lab-tcp end to end: the real binaries, on `--port 0`, talking over loopback.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::tcp_checks::{expect_closed, read_len};
use common::testkit::{
    Refusing, ServerProcess, Signal, WAIT, assert_error_line, assert_usage_error, connect,
    linux_only, passed, run, run_check, run_client, spawn_bounded, spawn_tcp_server,
    tool_available,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-tcp");

fn server(extra: &[&str]) -> ServerProcess {
    let mut args = vec!["server", "--port", "0"];
    args.extend_from_slice(extra);
    ServerProcess::start(BIN, &args, 1)
}

#[test]
fn bare_message_gets_reply_without_newline() {
    let server = server(&[]);
    let mut conn = connect(server.address());
    conn.write_all(b"hello").unwrap();
    assert_eq!(read_len(&mut conn, 5).unwrap(), b"HELLO");
    conn.write_all(b"again").unwrap();
    assert_eq!(read_len(&mut conn, 5).unwrap(), b"AGAIN");
}

#[test]
fn many_lines_in_one_write_come_back_in_order() {
    let server = server(&[]);
    let mut conn = connect(server.address());
    let lines: String = (0..200).map(|i| format!("line {i} straße\n")).collect();
    conn.write_all(lines.as_bytes()).unwrap();
    let expected = lines.to_uppercase();
    assert_eq!(
        read_len(&mut conn, expected.len()).unwrap(),
        expected.as_bytes()
    );
}

#[test]
fn one_line_in_many_writes_with_pauses() {
    let server = server(&[]);
    let mut conn = connect(server.address());
    conn.set_nodelay(true).unwrap();
    for piece in ["sp", "lit ", "ov", "er ", "\u{e9}", "crits\n"] {
        conn.write_all(piece.as_bytes()).unwrap();
        thread::sleep(Duration::from_millis(20)); // each piece its own segment
    }
    // A UTF-8 character split between writes comes back whole.
    conn.write_all(b"\xc3").unwrap();
    thread::sleep(Duration::from_millis(20));
    conn.write_all(b"\xa9\n").unwrap();
    let expected = "SPLIT OVER ÉCRITS\nÉ\n";
    assert_eq!(
        read_len(&mut conn, expected.len()).unwrap(),
        expected.as_bytes()
    );
}

#[test]
fn each_quit_form_ends_the_session_and_the_next_client_is_served() {
    let server = server(&[]);
    for quit in [&b"quit\n"[..], b"quit\r\n", b"quit"] {
        let mut conn = connect(server.address());
        conn.write_all(b"x\n").unwrap();
        assert_eq!(read_len(&mut conn, 2).unwrap(), b"X\n");
        conn.write_all(quit).unwrap();
        expect_closed(&mut conn).unwrap();
    }
    let mut next = connect(server.address());
    next.write_all(b"next\n").unwrap();
    assert_eq!(read_len(&mut next, 5).unwrap(), b"NEXT\n");
}

#[test]
fn half_close_still_gets_every_reply() {
    let server = server(&[]);
    let mut conn = connect(server.address());
    let request = "a\nb\nstraße".repeat(1000);
    conn.write_all(request.as_bytes()).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, request.to_uppercase().as_bytes());
}

#[test]
fn client_that_vanishes_mid_reply_does_not_hurt_the_server() {
    let server = server(&["--quiet"]);
    for _ in 0..3 {
        let mut rude = connect(server.address());
        // Enough that the reply cannot all be sent before we are gone.
        let _ = rude.write_all(&vec![b'a'; 4 << 20]);
        drop(rude); // closes with unread data: the server's sends get RST / EPIPE
    }
    let mut polite = connect(server.address());
    polite.write_all(b"still alive?\n").unwrap();
    assert_eq!(read_len(&mut polite, 13).unwrap(), b"STILL ALIVE?\n");
}

#[test]
fn client_that_never_reads_is_dropped_after_the_idle_timeout() {
    let server = server(&["--quiet", "--idle-timeout", "0.5"]);
    let mut hog = connect(server.address());
    hog.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Fill both directions' buffers: the server blocks writing to a client that never reads.
    let chunk = vec![b'b'; 1 << 20];
    let deadline = Instant::now() + WAIT;
    while hog.write_all(&chunk).is_ok() && Instant::now() < deadline {}
    let started = Instant::now();
    let mut next = connect(server.address());
    next.write_all(b"my turn\n").unwrap();
    assert_eq!(read_len(&mut next, 8).unwrap(), b"MY TURN\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn silent_client_is_closed_after_the_idle_timeout() {
    let server = server(&["--idle-timeout", "0.3"]);
    // Before connect: the server's clock can start as soon as the handshake is done,
    // before connect() returns here (and this thread may run late after it).
    let started = Instant::now();
    let mut silent = connect(server.address());
    expect_closed(&mut silent).unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    server.wait_for_line("idle too long");
}

#[test]
fn a_100_mib_line_streams_through_in_bounded_memory() {
    const SIZE: usize = 100 << 20;
    let server = server(&["--quiet"]);
    let mut conn = connect(server.address());
    let mut writer = conn.try_clone().unwrap();
    let sending = spawn_bounded(move || {
        let chunk = vec![b'm'; 1 << 16];
        for _ in 0..SIZE / chunk.len() {
            writer.write_all(&chunk).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut buffer = vec![0; 1 << 16];
    let mut received = 0;
    loop {
        let read = conn.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        assert!(buffer[..read].iter().all(|&b| b == b'M'));
        received += read;
    }
    sending.join();
    assert_eq!(received, SIZE);
    if linux_only("the memory bound, from /proc") {
        let peak = server.peak_rss_kib().expect("VmHWM in /proc/PID/status");
        assert!(peak < 64 * 1024, "server peak RSS {peak} KiB");
    }
}

#[test]
fn sigint_and_sigterm_stop_an_idle_server() {
    server(&[]).assert_stops_cleanly(Signal::SIGINT);
    server(&[]).assert_stops_cleanly(Signal::SIGTERM);
}

#[test]
fn sigint_while_a_client_is_connected_exits_at_once() {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let server = server(&[]);
        let mut conn = connect(server.address());
        conn.write_all(b"connected\n").unwrap();
        assert_eq!(read_len(&mut conn, 10).unwrap(), b"CONNECTED\n");
        // The server is now blocked in recv on this connection.
        server.assert_stops_cleanly(signal);
    }
}

#[test]
fn sigint_and_sigterm_stop_a_busy_server() {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let server = server(&["--quiet"]);
        let mut conn = connect(server.address());
        let stop = Arc::new(AtomicBool::new(false));
        let mut writer = conn.try_clone().unwrap();
        // Paced (4 KiB a millisecond): bytes always on their way, so the server never
        // sits idle in recv, yet the load leaves the CPU to the server (an unpaced
        // loop on a 2-core machine measured the test's threads, not the server).
        let busy = {
            let stop = stop.clone();
            spawn_bounded(move || {
                let deadline = Instant::now() + WAIT;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    if writer.write_all(&[b'q'; 4096]).is_err() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let (flowing, replies) = std::sync::mpsc::channel();
        let draining = spawn_bounded(move || {
            let mut sink = vec![0; 1 << 16];
            while matches!(conn.read(&mut sink), Ok(read) if read > 0) {
                let _ = flowing.send(());
            }
        });
        // The signal comes while the server is answering, not before it started.
        replies.recv_timeout(WAIT).expect("the server answers");
        server.assert_stops_cleanly(signal);
        stop.store(true, Ordering::Relaxed);
        busy.join();
        draining.join();
    }
}

#[test]
fn piped_lines_bare_mode_and_one_shot() {
    let server = server(&[]);
    let output = run_client(
        BIN,
        server.address(),
        &[],
        "one\r\nstraße\n\nquit\nnever\n".as_bytes(),
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ONE\nSTRASSE\n\n");
    assert_eq!(
        run_client(BIN, server.address(), &["one", "shot"], b"").stdout,
        b"ONE SHOT\n"
    );
    assert_eq!(
        run_client(BIN, server.address(), &["--bare", "bare", "shot"], b"").stdout,
        b"BARE SHOT\n"
    );
}

#[test]
fn ipv6_dual_stack_and_host_names() {
    let v6 = server(&["--host", "::1"]);
    assert!(v6.address().is_ipv6());
    assert_eq!(
        run_client(BIN, v6.address(), &["six"], b"").stdout,
        b"SIX\n"
    );

    let dual = server(&["--host", "::"]);
    let port = dual.address().port();
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(run_client(BIN, v4, &["four"], b"").stdout, b"FOUR\n");

    let named = server(&[]);
    let port = named.address().port().to_string();
    let output = run(
        BIN,
        &["client", "--host", "localhost", "--port", &port, "name"],
        b"",
    );
    assert_eq!(output.stdout, b"NAME\n");
}

#[test]
fn port_in_use_is_one_error_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = run(BIN, &["server", "--port", &port], b"");
    assert_error_line(
        &output,
        "already in use (tcp): try another --port, or --port 0",
    );
}

#[test]
fn client_errors_are_one_line() {
    let closed = Refusing::new();
    let address = closed.address();
    assert_error_line(&run_client(BIN, address, &["x"], b""), "connection refused");
    assert_error_line(
        &run(BIN, &["client", "--host", "no-such-host.invalid", "x"], b""),
        "cannot resolve host",
    );

    // A server that accepts and never answers.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let output = run_client(
        BIN,
        mute.local_addr().unwrap(),
        &["--timeout", "0.3", "x"],
        b"",
    );
    assert_error_line(&output, "no reply from");

    // A server that closes the connection after the first reply.
    let rude = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = rude.local_addr().unwrap();
    let closing = spawn_bounded(move || {
        let (mut conn, _) = rude.accept().unwrap();
        let mut line = [0; 2];
        conn.read_exact(&mut line).unwrap();
        conn.write_all(b"A\n").unwrap();
    });
    let output = run_client(BIN, address, &[], b"a\nb\n");
    closing.join();
    assert_eq!(output.stdout, b"A\n");
    assert_error_line(&output, "closed the connection");

    let usage = run(BIN, &["client", "--timeout", "soon", "x"], b"");
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn check_passes_against_our_server() {
    let server = server(&["--quiet"]);
    let output = run(
        BIN,
        &["check", "--target", &server.address().to_string()],
        b"",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.ends_with("13 passed, 0 failed\n"), "{stdout}");
}

/// A stand-in server's session: each read answered with `mangle` of it.
fn answer_each_read(mut conn: TcpStream, mangle: fn(&[u8]) -> Vec<u8>) {
    let mut buffer = [0; 4096];
    while let Ok(read @ 1..) = conn.read(&mut buffer) {
        if conn.write_all(&mangle(&buffer[..read])).is_err() {
            break;
        }
    }
}

#[test]
fn check_fails_against_wrong_servers() {
    let lowercasing =
        spawn_tcp_server(|conn| answer_each_read(conn, |data| data.to_ascii_lowercase()));
    let newline_dropping = spawn_tcp_server(|conn| {
        answer_each_read(conn, |data| {
            data.to_ascii_uppercase()
                .into_iter()
                .filter(|&b| b != b'\n')
                .collect()
        })
    });
    // Each wrong server fails the check that is about its fault, by name; a report
    // with some other FAIL in it would not show that this one catches it.
    let uppercased = "a line comes back uppercased with its newline";
    for (target, caught_by) in [(lowercasing, uppercased), (newline_dropping, uppercased)] {
        let (all_passed, stdout) = run_check(BIN, target, &["--timeout", "0.5"]);
        assert!(!all_passed, "{stdout}");
        assert!(
            !passed(&stdout, caught_by),
            "{caught_by:?} passed: {stdout}"
        );
    }
}

/// The CPE 314 TCP server as a student writes it: one `recv(1024)` per message, and
/// `quit` compared with the whole read.
const PYTHON_SERVER: &str = r#"
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(('127.0.0.1', 0))
s.listen(1)
print('listening on 127.0.0.1:%d (tcp)' % s.getsockname()[1], flush=True)
while True:
    conn, addr = s.accept()
    while True:
        txtin = conn.recv(1024)
        if txtin == b'quit' or not txtin:
            break
        conn.send(txtin.decode().upper().encode())
    conn.close()
"#;

/// The course's TCP client: bare messages, one `recv(2048)` each, `quit` sent bare.
const PYTHON_CLIENT: &str = r#"
import sys
from socket import *
c = socket(AF_INET, SOCK_STREAM)
c.settimeout(5)
c.connect(('127.0.0.1', int(sys.argv[1])))
for message in sys.argv[2:]:
    c.send(message.encode())
    if message == 'quit':
        break
    print(c.recv(2048).decode())
c.close()
"#;

#[test]
fn our_bare_client_against_a_python_course_server() {
    if !tool_available("python3") {
        return;
    }
    let python = ServerProcess::start("python3", &["-c", PYTHON_SERVER], 1);
    let output = run_client(
        BIN,
        python.address(),
        &["--bare"],
        "hello\nstraße\nquit\n".as_bytes(),
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "HELLO\nSTRASSE\n");
    // The Python server ended that session on the bare quit and serves the next client.
    let output = run_client(BIN, python.address(), &["--bare", "next"], b"");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "NEXT\n");
}

#[test]
fn python_course_client_against_our_server() {
    if !tool_available("python3") {
        return;
    }
    let server = server(&[]);
    let port = server.address().port().to_string();
    let output = run(
        "python3",
        &["-c", PYTHON_CLIENT, &port, "hello", "ﬁne straße", "quit"],
        b"",
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "HELLO\nFINE STRASSE\n"
    );
    server.wait_for_line("Client disconnected");
}

#[test]
fn demo_shows_a_working_exchange() {
    let output = run(BIN, &["demo"], b"");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("client: receives \"HELLO, TCP\""),
        "{stdout}"
    );
    assert!(stdout.contains("STRASSE CAFÉ"), "{stdout}");
}

#[test]
fn the_server_survives_a_connection_reset() {
    let server = server(&["--quiet"]);
    let conn = connect(server.address());
    // SO_LINGER 0 makes close() send RST instead of FIN.
    socket2::SockRef::from(&conn)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(conn);
    let mut next = connect(server.address());
    next.write_all(b"ok\n").unwrap();
    assert_eq!(read_len(&mut next, 3).unwrap(), b"OK\n");
}

#[test]
fn a_zero_timeout_is_a_usage_error() {
    assert_usage_error(BIN, &["client", "--timeout", "0", "x"], "give more than 0");
}

#[test]
fn a_client_turned_away_with_server_busy_says_so_and_fails() {
    fn busy(mut connection: TcpStream) {
        let _ = connection.write_all(b"server busy\n");
    }
    let server = spawn_tcp_server(busy);
    for (extra, stdin) in [
        (&["hello"][..], &b""[..]),
        (&["--bare", "hello"], b""),
        (&[], b"one\ntwo\n"),
    ] {
        let output = run_client(BIN, server, extra, stdin);
        assert_error_line(&output, "is busy");
        assert!(output.stdout.is_empty(), "{extra:?}: {output:?}");
    }
}
