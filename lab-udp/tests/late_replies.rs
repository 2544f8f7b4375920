//! lab-udp's client keeps one socket from message to message, and still never takes a
//! late or duplicated reply for the reply to a later message. The test plays the
//! server itself, so it sees which port each datagram comes from.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::testkit::{ServerProcess, Signal, WAIT, run_client, wait_for_exit};

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

/// A stand-in server's socket on a free loopback port, its waits bounded.
fn stand_in() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let address = socket.local_addr().unwrap();
    (socket, address)
}

/// The next datagram and the address it came from.
fn receive(socket: &UdpSocket) -> (String, SocketAddr) {
    let mut buffer = [0; 64];
    let (length, from) = socket.recv_from(&mut buffer).unwrap();
    (
        String::from_utf8_lossy(&buffer[..length]).into_owned(),
        from,
    )
}

/// The client with `--timeout`, fed line by line, its stdout read on a thread.
struct Client {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
}

impl Client {
    fn start(server: SocketAddr, timeout: &str) -> Client {
        let mut child = Command::new(BIN)
            .args(["client", "--host", &server.ip().to_string()])
            .args(["--port", &server.port().to_string(), "--timeout", timeout])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, replies) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Client {
            child,
            stdin,
            replies,
        }
    }

    fn send_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
    }

    fn next_reply(&self) -> String {
        self.replies.recv_timeout(WAIT).unwrap()
    }
}

/// Waits until a datagram is queued on the UDP socket bound to `port` (Linux:
/// `/proc/net/udp`, column `rx_queue`); elsewhere, returns at once.
fn wait_until_queued(port: u16) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let deadline = Instant::now() + WAIT;
    while queued_bytes(port) == Some(0) {
        assert!(Instant::now() < deadline, "nothing queued on port {port}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn queued_bytes(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields.get(1)?.rsplit(':').next()?;
        if u16::from_str_radix(local_port, 16).ok()? != port {
            return None;
        }
        let received = fields.get(4)?.split(':').nth(1)?;
        u64::from_str_radix(received, 16).ok()
    })
}

#[test]
fn one_socket_serves_every_message_answered_in_time() {
    let (socket, address) = stand_in();
    let answering = thread::spawn(move || {
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
    let clients = answering.join().unwrap();
    assert!(
        clients.iter().all(|&client| client == clients[0]),
        "{clients:?}"
    );
}

#[test]
fn after_a_timeout_the_next_message_gets_a_new_port() {
    let (socket, address) = stand_in();
    let answering = thread::spawn(move || {
        let (_, first_try) = receive(&socket); // lost
        let (message, second_try) = receive(&socket);
        assert_eq!((message.as_str(), second_try), ("one", first_try));
        socket.send_to(b"ONE", second_try).unwrap();
        let (message, next) = receive(&socket);
        assert_eq!(message, "two");
        assert_ne!(next, first_try, "a socket that timed out is not kept");
        // The reply to the lost try, late: it goes to the old port, never to "two".
        socket.send_to(b"ONE (late)", first_try).unwrap();
        socket.send_to(b"TWO", next).unwrap();
    });
    let output = run_client(BIN, address, &["--timeout", "0.3"], b"one\ntwo\n");
    answering.join().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ONE\nTWO\n");
}

#[test]
fn a_reply_that_comes_twice_is_not_the_next_messages_reply() {
    let (socket, address) = stand_in();
    let mut client = Client::start(address, "5");
    client.send_line("one");
    let (message, first) = receive(&socket);
    assert_eq!(message, "one");
    socket.send_to(b"ONE", first).unwrap();
    socket.send_to(b"ONE", first).unwrap(); // the copy nobody asked for
    assert_eq!(client.next_reply(), "ONE");
    wait_until_queued(first.port());

    client.send_line("two");
    let (message, second) = receive(&socket);
    assert_eq!(message, "two");
    assert_ne!(
        second, first,
        "the socket that got a stray copy is not kept"
    );
    socket.send_to(b"TWO", second).unwrap();
    assert_eq!(client.next_reply(), "TWO");

    // From now on every message gets its own socket, the safe way.
    client.send_line("three");
    let (message, third) = receive(&socket);
    assert_eq!(message, "three");
    assert_ne!(third, second);
    socket.send_to(b"THREE", third).unwrap();
    assert_eq!(client.next_reply(), "THREE");
    drop(client.stdin);
    assert!(wait_for_exit(&mut client.child).success());
}

#[test]
fn a_server_stopped_between_messages_is_reported_at_once() {
    let server = ServerProcess::start(BIN, &["server", "--port", "0"], 1);
    // With a 5 s timeout and 3 retries, waiting out the timeouts would take 20 s,
    // twice as long as the test waits for the client to end.
    let mut client = Client::start(server.address(), "5");
    client.send_line("one");
    assert_eq!(client.next_reply(), "ONE");
    server.assert_stops_cleanly(Signal::SIGINT);
    client.send_line("two");
    let status = wait_for_exit(&mut client.child);
    assert!(!status.success());
    let mut stderr = String::new();
    let mut pipe = client.child.stderr.take().unwrap();
    pipe.read_to_string(&mut stderr).unwrap();
    assert!(stderr.starts_with("error: connection refused"), "{stderr}");
}
