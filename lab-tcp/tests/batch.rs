//! lab-tcp's client in batch mode (piped input, UNP 6.7): it sends while it reads the
//! replies, half-closes at the end of its input, and ends once every line is
//! answered, whether the server closes or not.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

use common::testkit::{
    RunningProcess, ServerProcess, WAIT, assert_error_line, run, run_client, spawn_tcp_server,
    temp_file, tool_available,
};

const BIN: &str = env!("CARGO_BIN_EXE_lab-tcp");

fn server() -> ServerProcess {
    ServerProcess::start(BIN, &["server", "--port", "0"], 1)
}

/// `lines` lines of ASCII and Unicode text, none of them `quit`.
fn text(lines: usize) -> String {
    (0..lines)
        .map(|i| format!("line {i} of the batch: straße ﬁn café ŉ\n"))
        .collect()
}

/// What Python's `str.upper()` makes of `text`: the truth our server must match.
fn python_upper(text: &str) -> Vec<u8> {
    let upper =
        "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().decode().upper().encode())";
    let output = run("python3", &["-c", upper], text.as_bytes());
    assert!(output.status.success(), "{output:?}");
    output.stdout
}

#[test]
fn twenty_thousand_piped_lines_come_back_exact_and_the_server_sees_the_half_close() {
    if !tool_available("python3") {
        return;
    }
    let server = server();
    let input = text(20_000);
    let output = run_client(BIN, server.address(), &[], input.as_bytes());
    assert!(output.status.success(), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    assert!(
        output.stdout == python_upper(&input),
        "the replies differ from python3's str.upper() of the input"
    );
    // The session ended on end-of-file (no `quit` was sent): the client's
    // shutdown(SHUT_WR), after which the server still sent every reply above.
    assert!(session_end(&server).starts_with("Client disconnected"));
}

/// The server's log line that ends the first client's session (its log otherwise
/// shows each read as `ADDRESS: text`).
fn session_end(server: &ServerProcess) -> String {
    loop {
        let line = server
            .next_line()
            .expect("the server logs the session's end");
        if line.starts_with("Client ") {
            return line;
        }
    }
}

/// A stand-in server's session: read until end-of-file (the client's half-close),
/// and only then answer all of it, uppercased (ASCII), and close.
fn answer_after_end_of_input(mut conn: TcpStream) {
    let mut request = Vec::new();
    conn.read_to_end(&mut request).unwrap();
    conn.write_all(&request.to_ascii_uppercase()).unwrap();
}

#[test]
fn a_server_that_answers_only_after_end_of_input_gets_the_half_close() {
    // Only a client that half-closes, and still reads after that, gets the replies.
    let address = spawn_tcp_server(answer_after_end_of_input);
    let output = run_client(
        BIN,
        address,
        &[],
        b"first\r\nsecond\n\nlast without newline",
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "FIRST\nSECOND\n\nLAST WITHOUT NEWLINE\n"
    );
}

#[test]
fn a_quit_line_is_sent_last_and_nothing_after_it() {
    // The stand-in answers everything it received, `quit` included, and tells the
    // test exactly what the client sent. The client prints the replies to its lines
    // only: nothing answers `quit`.
    let (received, sent) = mpsc::channel();
    let address = spawn_tcp_server(move |mut conn| {
        let mut request = Vec::new();
        conn.read_to_end(&mut request).unwrap();
        conn.write_all(&request.to_ascii_uppercase()).unwrap();
        received.send(request).unwrap();
    });
    let output = run_client(BIN, address, &[], b"one\ntwo\nquit\nnever sent\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ONE\nTWO\n");
    assert_eq!(sent.recv_timeout(WAIT).unwrap(), b"one\ntwo\nquit\n");

    // Our server ends the session on the quit, after answering every line before it.
    let server = server();
    let mut input = text(20_000);
    let middle = input.match_indices('\n').nth(9_999).unwrap().0 + 1;
    input.insert_str(middle, "quit\nnever sent\n");
    let output = run_client(BIN, server.address(), &[], input.as_bytes());
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        input[..middle].to_uppercase()
    );
    assert!(session_end(&server).starts_with("Client disconnected"));
}

#[test]
fn each_line_goes_out_as_soon_as_it_is_read() {
    // A script that writes a line and waits for its reply before the next one: the
    // client must not hold lines back until more input (or the end of it) comes.
    let server = server();
    let mut client = RunningProcess::client(BIN, server.address(), &[]);
    for (line, reply) in [("one", "ONE"), ("two", "TWO")] {
        client.type_in(format!("{line}\n").as_bytes());
        assert_eq!(client.next_line().as_deref(), Some(reply));
    }
    client.close_stdin();
    let (status, _, stderr) = client.wait();
    assert!(status.success(), "{stderr}");
}

#[test]
fn a_server_that_closes_while_input_is_pending_ends_the_client_with_one_error() {
    // The stand-in answers one line, then closes; the client's input stays open.
    let address = spawn_tcp_server(|mut conn| {
        let mut line = [0; 4];
        conn.read_exact(&mut line).unwrap();
        conn.write_all(&line.to_ascii_uppercase()).unwrap();
    });
    let mut client = RunningProcess::client(BIN, address, &[]);
    client.type_in(b"one\n");
    assert_eq!(client.next_line().as_deref(), Some("ONE"));
    // The input is still open: the server's close alone must end the client.
    let (status, _, stderr) = client.wait();
    assert_eq!(status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("closed the connection before the input ended"),
        "{stderr}"
    );
}

#[test]
fn a_server_that_closes_before_answering_everything_is_an_error() {
    // The stand-in answers the first line only, then closes.
    let address = spawn_tcp_server(|mut conn| {
        let mut line = [0; 4];
        conn.read_exact(&mut line).unwrap();
        conn.write_all(&line.to_ascii_uppercase()).unwrap();
        // Close only after the client's half-close, so the client has sent all it had.
        let _ = conn.read_to_end(&mut Vec::new());
    });
    let output = run_client(BIN, address, &[], b"one\ntwo\nthree\n");
    assert_eq!(output.stdout, b"ONE\n");
    assert_error_line(
        &output,
        "closed the connection after answering 1 of 3 lines",
    );
}

#[test]
fn a_server_that_never_answers_is_a_timeout_not_a_hang() {
    // Connections wait in the backlog, never accepted: nothing is ever answered.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let output = run_client(
        BIN,
        mute.local_addr().unwrap(),
        &["--timeout", "0.3"],
        b"anyone there?\n",
    );
    assert_error_line(&output, "no reply from");
}

#[test]
fn bare_mode_stays_one_message_one_reply() {
    // A server that answers each read and closes after the second: the bare client
    // sends its second message only after the first reply, so both are answered.
    let address = spawn_tcp_server(|mut conn| {
        let mut buffer = [0; 64];
        for _ in 0..2 {
            let read = conn.read(&mut buffer).unwrap();
            conn.write_all(&buffer[..read].to_ascii_uppercase())
                .unwrap();
        }
    });
    let output = run_client(BIN, address, &["--bare"], b"first\nsecond\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "FIRST\nSECOND\n");
}

#[test]
fn batch_mode_over_ipv6_and_to_a_dual_stack_server() {
    let input = "six\nstraße\n";
    let v6 = ServerProcess::start(BIN, &["server", "--port", "0", "--host", "::1"], 1);
    let output = run_client(BIN, v6.address(), &[], input.as_bytes());
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "SIX\nSTRASSE\n");

    let dual = ServerProcess::start(BIN, &["server", "--port", "0", "--host", "::"], 1);
    let v4 = std::net::SocketAddr::from(([127, 0, 0, 1], dual.address().port()));
    let output = run_client(BIN, v4, &[], input.as_bytes());
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "SIX\nSTRASSE\n");
}

/// A stand-in with the exact behaviour of Kurose & Ross's Java TCPServer: on each
/// connection it reads one line, sends it back uppercased, and goes back to
/// `accept()` without ever closing the connection (held open here for longer than
/// any run of the client may take, [`WAIT`]).
fn answer_one_line_never_close(conn: TcpStream) {
    let mut reader = BufReader::new(&conn);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    (&conn).write_all(line.to_uppercase().as_bytes()).unwrap();
    thread::park_timeout(WAIT * 3);
}

#[test]
fn every_line_answered_by_a_server_that_never_closes_ends_the_client_at_once() {
    let address = spawn_tcp_server(answer_one_line_never_close);
    // A --timeout far beyond `run`'s own bound (WAIT): a client that waited for the
    // server to close, or for its timeout, would be killed and fail the test.
    let output = run_client(BIN, address, &["--timeout", "60"], b"one\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"ONE\n");
    assert!(output.stderr.is_empty(), "{output:?}");
    // The same with the reply already in before the input ends: the client is woken
    // from its recv() by its own end of input, not by the server.
    let mut client = RunningProcess::client(BIN, address, &["--timeout", "60"]);
    client.type_in(b"one\n");
    assert_eq!(client.next_line().as_deref(), Some("ONE"));
    client.close_stdin();
    let (status, rest, stderr) = client.wait();
    assert!(
        status.success() && rest.is_empty(),
        "{status:?} {rest:?} {stderr}"
    );
}

#[test]
fn a_server_that_never_closes_and_leaves_a_line_unanswered_is_a_timeout() {
    // The second line is never answered: that is still an error, after --timeout.
    let address = spawn_tcp_server(answer_one_line_never_close);
    let output = run_client(BIN, address, &["--timeout", "0.5"], b"one\ntwo\n");
    assert_eq!(output.stdout, b"ONE\n");
    assert_error_line(&output, "no reply from 127.0.0.1:");
}

/// The textbook's Java TCPServer (Kurose & Ross 2.7), as a student runs it: one line
/// answered per connection, the connection never closed. On a free port, said on
/// its first line, instead of a fixed 6789.
const JAVA_TCP_SERVER: &str = r#"import java.io.*;
import java.net.*;

class TCPServer {
    public static void main(String[] argv) throws Exception {
        ServerSocket welcomeSocket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        System.out.println(welcomeSocket.getLocalPort());
        while (true) {
            Socket connectionSocket = welcomeSocket.accept();
            BufferedReader inFromClient =
                new BufferedReader(new InputStreamReader(connectionSocket.getInputStream()));
            DataOutputStream outToClient = new DataOutputStream(connectionSocket.getOutputStream());
            String clientSentence = inFromClient.readLine();
            outToClient.writeBytes(clientSentence.toUpperCase() + '\n');
        }
    }
}
"#;

#[test]
fn the_textbook_java_tcp_server_answers_a_piped_line_and_the_client_ends_at_once() {
    if !tool_available("javac") {
        assert!(std::env::var_os("CI").is_none(), "CI must have javac");
        return;
    }
    let source = temp_file("TCPServer.java", JAVA_TCP_SERVER);
    let classes = source.parent().unwrap().to_str().unwrap();
    let compiled = run("javac", &["-d", classes, source.to_str().unwrap()], b"");
    assert!(compiled.status.success(), "{compiled:?}");
    let java = RunningProcess::start("java", &["-cp", classes, "TCPServer"]);
    let port = java.next_line().expect("the Java server's port");
    let output = run(
        BIN,
        &["client", "--port", &port, "--timeout", "60"],
        b"one\n",
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"ONE\n");
}
