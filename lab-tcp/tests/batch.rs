//! lab-tcp's client in batch mode (piped input, UNP 6.7): it sends while it reads the
//! replies, half-closes at the end of its input, and ends when the server closes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use common::testkit::{
    RunningProcess, ServerProcess, assert_error_line, run, run_client, spawn_tcp_server,
    tool_available,
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
    // The stand-in answers everything it received, `quit` included: the reply shows
    // exactly what the client sent.
    let address = spawn_tcp_server(answer_after_end_of_input);
    let output = run_client(BIN, address, &[], b"one\ntwo\nquit\nnever sent\n");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ONE\nTWO\nQUIT\n");

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
