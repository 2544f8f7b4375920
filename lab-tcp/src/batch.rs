//! Batch mode of the TCP client: piped input is sent without waiting for each reply
//! (Stevens, *UNIX Network Programming*, sections 6.7 and 26.3).
//!
//! Stop-and-wait (send a line, wait for its reply, send the next) costs one round trip
//! per line, and a pipe of 100,000 lines does not need to wait: the lines are all
//! there. So two things happen at once, as in Stevens' threaded `str_cli`:
//!
//! - a thread copies the input to the socket ([`send_lines`]),
//! - the main thread copies the replies to stdout ([`print_replies`]).
//!
//! The end is the lesson of UNP 6.7. When the input ends, replies are still on their
//! way, so the client must say "no more lines" and keep reading. `close()` cannot do
//! that: it gives up both directions, and the replies still coming would be lost (the
//! server's sends even answered with a reset). `shutdown(SHUT_WR)` ends only our
//! sending half (a half-close): the server's `recv` returns 0 after the last line, and
//! it sends what it still owes. The client ends once every line it sent is answered,
//! not at our input's end, and not only when the server closes: Kurose & Ross's Java
//! TCPServer answers one line and never closes the connection. A server that closes
//! before answering every line is an error.

use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use common::cli::stdout_failed;
use common::input::{QUIT, without_line_ending};
use common::line_client::{self, SERVER_BUSY};
use common::net;

/// How much input is read, sent and received at a time: one system call moves
/// thousands of short lines.
const CHUNK: usize = 64 * 1024;

/// What the sending half has done, for the receiving half to judge the server by.
#[derive(Debug, Default)]
struct Sent {
    /// Lines handed to the socket so far; each is owed one reply.
    lines: u64,
    /// No more lines will be sent: the input ended or said `quit`.
    done: bool,
    /// The sending half has finished: `quit` (if any) and the half-close are sent.
    finished: bool,
    /// Replies the receiving half has printed so far.
    replies: u64,
    /// Why the input could not be read, if it could not.
    input_error: Option<io::Error>,
}

/// Sends every line of `input` to the connected `stream` while printing the replies;
/// returns once every line is answered. Fails if the server closed the connection
/// before answering every line, or sent nothing for `timeout` while a reply was owed.
pub fn run(
    stream: TcpStream,
    input: impl Read + Send + 'static,
    timeout: Duration,
) -> Result<ExitCode> {
    let server = stream.peer_addr()?;
    let sent = Arc::new(Mutex::new(Sent::default()));
    let sender = stream.try_clone()?;
    let progress = Arc::clone(&sent);
    // Joined only once every line is answered (the input has ended, so the thread
    // has at most `quit` and the half-close left to send): if the server closes while
    // the thread waits for input, the client ends at once, and the thread with it.
    let sending = thread::spawn(move || send_lines(input, &sender, &progress));
    print_replies(&stream, server, timeout, &sent)?;
    let _ = sending.join();
    Ok(ExitCode::SUCCESS)
}

/// The sending half: each input line goes out with a `\n` (a `\r\n` becomes `\n`), then
/// the half-close. A `quit` line is sent last: the server ends the session on it.
fn send_lines(input: impl Read, stream: &TcpStream, sent: &Mutex<Sent>) {
    let mut input = BufReader::with_capacity(CHUNK, input);
    let mut socket = BufWriter::with_capacity(CHUNK, stream);
    let mut line = Vec::new();
    let mut lines = 0;
    let quit = loop {
        line.clear();
        if !take_buffered_line(&mut input, &mut line) {
            // No complete line is ready: send() the lines so far before waiting for
            // more, so a line that comes down the pipe slowly (from a script that
            // waits for each reply) is never held back.
            lock(sent).lines = lines;
            if socket.flush().is_err() {
                return; // The server is gone: the receiving half says so.
            }
            match input.read_until(b'\n', &mut line) {
                Ok(0) => break false,
                Ok(_) => {}
                Err(error) => {
                    lock(sent).input_error = Some(error);
                    break false;
                }
            }
        }
        let message = without_line_ending(&line);
        if message == QUIT {
            break true;
        }
        if socket.write_all(message).is_err() || socket.write_all(b"\n").is_err() {
            return;
        }
        lines += 1;
    };
    lock(sent).lines = lines;
    if socket.flush().is_err() {
        return;
    }
    lock(sent).done = true;
    if quit {
        // send(): `quit` goes last, and only once `done` is recorded, as the server
        // may close the connection as soon as it reads it. Nothing follows it.
        let _ = socket.write_all(b"quit\n").and_then(|()| socket.flush());
    }
    // shutdown(SHUT_WR): the half-close. The server reads end-of-file after our last
    // line, and our receiving half stays open for the replies still on their way.
    // (close() here would throw those replies away.)
    let _ = stream.shutdown(Shutdown::Write);
    let mut sent = lock(sent);
    sent.finished = true;
    if sent.replies >= sent.lines {
        // Every reply came before we got here, and the receiving half waits in recv()
        // for more that a server which never closes will not send: shutdown(SHUT_RD)
        // says we read no more, and that recv() returns 0 at once.
        let _ = stream.shutdown(Shutdown::Read);
    }
}

/// Moves the next line, if it is already in `input`'s buffer, to `line`, without
/// waiting for more input; says whether there was one.
fn take_buffered_line(input: &mut BufReader<impl Read>, line: &mut Vec<u8>) -> bool {
    let buffered = input.buffer();
    let Some(end) = buffered.iter().position(|&byte| byte == b'\n') else {
        return false;
    };
    line.extend_from_slice(&buffered[..=end]);
    input.consume(end + 1);
    true
}

/// The receiving half: copies the replies to stdout as they arrive, until every line
/// sent is answered or the server closes the connection; then checks that every
/// line was answered.
fn print_replies(
    stream: &TcpStream,
    server: SocketAddr,
    timeout: Duration,
    sent: &Mutex<Sent>,
) -> Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    let mut stdout = io::stdout().lock();
    let mut buffer = vec![0; CHUNK];
    let mut replies: u64 = 0;
    loop {
        // recv(): whatever replies have arrived, whole or cut anywhere; 0 bytes means
        // the server closed the connection.
        let received = match (&*stream).read(&mut buffer) {
            Ok(0) => break,
            Ok(received) => received,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if lock(sent).lines > replies {
                    bail!(
                        "no reply from {server} within {:.1} s: the server is busy or \
                         stuck; try again, or raise --timeout",
                        timeout.as_secs_f64(),
                        server = net::shown(server)
                    );
                }
                continue; // Nothing is owed: the input is slow, not the server.
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot receive from {}", net::shown(server)));
            }
        };
        let replies_in = &buffer[..received];
        if replies == 0 && replies_in.starts_with(SERVER_BUSY) {
            // Turned away before any line was answered: not a reply to print.
            return Err(line_client::busy(server));
        }
        let mut progress = lock(sent);
        // Once the input has ended, the replies owed are known: print those, and
        // nothing a server sends beyond them.
        let owed = progress
            .done
            .then(|| progress.lines.saturating_sub(replies));
        let (printed, answered) = take_replies(replies_in, owed);
        replies += answered;
        progress.replies = replies;
        let all_answered = progress.finished && replies >= progress.lines;
        drop(progress);
        if let Err(error) = stdout.write_all(printed) {
            // Nobody reads our output any more (`| head`): end as SIGPIPE would.
            stdout_failed(&error);
        }
        if all_answered {
            break; // Whether the server closes or not (the Java TCPServer does not).
        }
    }
    if let Err(error) = stdout.flush() {
        stdout_failed(&error);
    }
    let mut sent = lock(sent);
    if let Some(error) = sent.input_error.take() {
        return Err(anyhow!(error).context("cannot read standard input"));
    }
    if !sent.done {
        bail!(
            "the server {server} closed the connection before the input ended \
             ({replies} lines answered): it stopped, or ended this session",
            server = net::shown(server)
        );
    }
    if replies < sent.lines {
        bail!(
            "the server {server} closed the connection after answering {replies} of {} lines: \
             it stopped, or ended this session",
            sent.lines,
            server = net::shown(server)
        );
    }
    Ok(())
}

/// The start of `received` up to the end of its `owed`-th reply (all of it if `owed`
/// is not known yet, or more than it holds), and how many replies that is.
fn take_replies(received: &[u8], owed: Option<u64>) -> (&[u8], u64) {
    if owed == Some(0) {
        return (&[], 0);
    }
    let mut answered = 0;
    for (at, &byte) in received.iter().enumerate() {
        if byte == b'\n' {
            answered += 1;
            if owed == Some(answered) {
                return (&received[..=at], answered);
            }
        }
    }
    (received, answered)
}

/// The shared record; a thread that panicked while holding it left it consistent.
fn lock(sent: &Mutex<Sent>) -> MutexGuard<'_, Sent> {
    sent.lock().unwrap_or_else(PoisonError::into_inner)
}
