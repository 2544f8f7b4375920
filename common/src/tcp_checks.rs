//! Conformance checks of a TCP uppercase server (Kurose & Ross 2.7 and CPE 314's
//! protocol, as the labs serve it), for the `check` subcommands of lab-tcp and
//! lab-concurrent. Each check opens its own connections, with every wait bounded by
//! the run's timeout.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use socket2::SockRef;

use anyhow::{Context, Result, anyhow, bail};

use crate::check::wording::{connect_failed, in_words};
use crate::check::{self, sockets};
use crate::check::{Checks, SHOWN, expect_bytes, shown};

/// Runs every wire-rule check against `target`.
pub fn run_protocol_checks(checks: &mut Checks, target: SocketAddr) {
    let timeout = checks.timeout();
    let exchange = move |request: &'static [u8], expected: &'static [u8]| {
        move || {
            let mut conn = connect(target, timeout)?;
            conn.write_all(request)?;
            read_expecting(&mut conn, "reply", expected)
        }
    };
    checks.run(
        "a bare message (no newline) gets its reply at once",
        exchange(b"hello", b"HELLO"),
    );
    checks.run(
        "a line comes back uppercased with its newline",
        exchange(b"hello world\n", b"HELLO WORLD\n"),
    );
    checks.run(
        "many lines in one segment come back in order",
        exchange(b"one\ntwo\r\nthree\n", b"ONE\nTWO\r\nTHREE\n"),
    );
    checks.run(
        "full Unicode uppercasing (as Python's str.upper)",
        exchange(
            "straße ﬁx café\n".as_bytes(),
            "STRASSE FIX CAFÉ\n".as_bytes(),
        ),
    );
    checks.run(
        "bytes that are not UTF-8 pass through",
        exchange(b"\xffab\xfe\n", b"\xffAB\xfe\n"),
    );
    checks.run("a line split over several segments", move || {
        let mut conn = connect(target, timeout)?;
        send_in_pieces(&mut conn, &[b"spl", b"it li", b"ne\n"], timeout)?;
        read_expecting(&mut conn, "reply", b"SPLIT LINE\n")
    });
    checks.run(
        "a character split between segments is one character",
        move || {
            let mut conn = connect(target, timeout)?;
            // "ß": its first byte, then its second with the newline.
            send_in_pieces(&mut conn, &[b"\xc3", b"\x9f\n"], timeout)?;
            read_expecting(&mut conn, "reply", b"SS\n")
        },
    );
    for (name, quit) in [
        ("`quit\\n` ends the session without a reply", &b"quit\n"[..]),
        ("`quit\\r\\n` ends the session without a reply", b"quit\r\n"),
    ] {
        checks.run(name, move || {
            let mut conn = connect(target, timeout)?;
            session_goes_on(&mut conn, &[b"before\n", b"still here\n"])?;
            conn.write_all(quit)?;
            expect_closed(&mut conn)
        });
    }
    checks.run(
        "a bare `quit` (the course client's) ends the session",
        move || {
            let mut conn = connect(target, timeout)?;
            session_goes_on(&mut conn, &[b"hi", b"there"])?;
            conn.write_all(b"quit")?;
            expect_closed(&mut conn)
        },
    );
    checks.run("after a half-close, every reply still arrives", move || {
        let mut conn = connect(target, timeout)?;
        send_then_half_close(&conn, b"last words\nand more\n")?;
        read_expecting(&mut conn, "reply", b"LAST WORDS\nAND MORE\n")?;
        expect_closed(&mut conn)
    });
    checks.run("a 1 MiB line with no newline streams through", move || {
        const SIZE: usize = 1 << 20;
        let mut conn = connect(target, timeout)?;
        let mut writer = conn.try_clone()?;
        // Write and read at once: a server that streams never makes either side wait.
        let sending = thread::spawn(move || writer.write_all(&vec![b'z'; SIZE]));
        let reply = read_len(&mut conn, SIZE)?;
        sending
            .join()
            .map_err(|_| anyhow::anyhow!("writer crashed"))??;
        if reply.iter().any(|&b| b != b'Z') {
            bail!("the reply is not all 'Z'");
        }
        Ok(())
    });
    checks.run_after_previous(
        "the server serves a new client afterwards",
        exchange(b"again\n", b"AGAIN\n"),
    );
}

/// Sends `pieces`, each read by the server before the next is sent, so that it meets
/// them in separate reads, as a slow network cuts a message. A pause between them is
/// not enough: a server still busy with an earlier connection (one that serves a
/// client at a time, while a check's connection ends) finds them all queued and reads
/// them at once. So after each piece but the last, this waits (at most `timeout`)
/// until the server's socket has nothing left unread, seen in the kernel's socket
/// table (the server is on loopback); where that cannot be seen, it pauses 30 ms.
fn send_in_pieces(conn: &mut TcpStream, pieces: &[&[u8]], timeout: Duration) -> Result<()> {
    let (ours, theirs) = (conn.local_addr()?, conn.peer_addr()?);
    for (index, piece) in pieces.iter().enumerate() {
        conn.write_all(piece)?;
        if index + 1 == pieces.len() {
            break;
        }
        let deadline = Instant::now() + timeout;
        loop {
            match sockets::peer_has_read(ours, theirs) {
                Some(true) => break,
                Some(false) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(2));
                }
                // Unread after the timeout: the reply will say what came of it.
                Some(false) => break,
                None => {
                    thread::sleep(Duration::from_millis(30));
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Shows that a session goes on after ordinary messages: each is answered on the same
/// connection (a server that closes after every reply fails here, before `quit` is
/// sent, so that closing is not taken for obeying `quit`).
pub fn session_goes_on(conn: &mut TcpStream, messages: &[&[u8]]) -> Result<()> {
    for (index, message) in messages.iter().enumerate() {
        conn.write_all(message)?;
        let reply = String::from_utf8_lossy(message).to_uppercase();
        read_expecting(conn, "reply", reply.as_bytes()).with_context(|| {
            format!(
                "the session must go on after an ordinary message (message {} of {})",
                index + 1,
                messages.len()
            )
        })?;
    }
    Ok(())
}

/// Sends `bytes` and half-closes (`shutdown(SHUT_WR)`) in one segment, data and FIN
/// together (Linux: `TCP_CORK` holds the data until the FIN joins it): a server that
/// answers and closes at once then always sees our FIN before its close, so its end
/// of the connection is not left in TIME_WAIT on its port (a server that closed
/// first, between our send and our shutdown, would be).
pub fn send_then_half_close(conn: &TcpStream, bytes: &[u8]) -> Result<()> {
    #[cfg(target_os = "linux")]
    SockRef::from(conn).set_tcp_cork(true)?;
    (&*conn).write_all(bytes)?;
    conn.shutdown(Shutdown::Write)?;
    Ok(())
}

/// A check's connection to the server under check: a `TcpStream` (through `Deref`)
/// that ends gracefully when dropped (see `end_gracefully`), however the check
/// ended, so that the grader's closes never disturb the server.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
}

impl Deref for Connection {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        &self.stream
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

impl Drop for Connection {
    /// Ends the connection on a thread of its own: the check's verdict does not wait
    /// for it, and a check's many connections end side by side.
    fn drop(&mut self) {
        if let Ok(stream) = self.stream.try_clone() {
            let ending = Ending::begin();
            thread::spawn(move || {
                end_gracefully(&stream, &ending);
                drop(stream); // The last handle: the close itself, before we count it done.
                drop(ending);
            });
        }
    }
}

/// Connects with every wait (connect, read, write) bounded by `timeout`. Before the
/// server is known to be ready (a `--server` where there is no socket table to watch),
/// a refused connection is tried again until the startup deadline: this first
/// connection of the first check is then the only probe.
pub fn connect(target: SocketAddr, timeout: Duration) -> Result<Connection> {
    let stream = loop {
        // connect(): the three-way handshake, bounded.
        match TcpStream::connect_timeout(&target, timeout) {
            Ok(stream) => break stream,
            Err(error)
                if error.kind() == ErrorKind::ConnectionRefused
                    && check::startup::still_starting() =>
            {
                thread::sleep(check::startup::RETRY);
            }
            Err(error) => return Err(connect_failed(&error, target, timeout)),
        }
    };
    check::startup::ready();
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(Connection { stream })
}

/// How long the server may stay silent before we take it that it has no more to say.
const QUIET: Duration = Duration::from_millis(50);
/// The most time spent reading what a server sends before we close first.
const DRAIN_TIME: Duration = Duration::from_secs(1);
/// The most bytes read from a server while ending, at each step.
const DRAIN_BYTES: usize = 4 << 20;
/// How long, after our FIN, we keep reading until the server closes in turn: its
/// sockets close when it is stopped at the end of the run, long before.
const CLOSE_AFTER_FIN: Duration = Duration::from_secs(600);

/// Ends a check's connection so that the server under check cannot tell it from a
/// well-behaved client's, nor be harmed by it:
///
/// - First, reads (and drops) what the server still sends, until it closes or falls
///   quiet: closing a socket with unread data sends a reset (RFC 1122 4.2.2.13), and
///   a server with no error handling around its next `send` dies of it.
/// - If the server has not closed: we close first (`shutdown(SHUT_WR)`, our FIN) and
///   read on until it closes (a server that never does, as Kurose & Ross's Java
///   TCPServer, closes when it is stopped), so that a late reply (a slow server, one
///   that answers only at the end of its input) is read, never reset. The TIME_WAIT
///   that follows (RFC 793) is ours, on our ephemeral port.
/// - If the server closed first (a server that closes after each reply), its end now
///   waits for our FIN, after which it would sit in TIME_WAIT on the server's own port
///   for a minute, and a next server without `SO_REUSEADDR` (the textbook's) could not
///   bind it. Where the server's process has let go of that socket (the socket table
///   says so; off Linux, taken as so), we close with `SO_LINGER` 0: a reset instead of
///   a FIN, which ends the kernel's leftover at once and reaches no process. A server
///   that only shut down its sending side and still reads gets our FIN, as any client's.
fn end_gracefully(stream: &TcpStream, ending: &Ending) {
    if !drain(stream, Some(QUIET), Instant::now() + DRAIN_TIME) {
        ending.waiting_for_the_server();
        // shutdown(SHUT_WR): our FIN; the server reads the end of its input.
        let _ = stream.shutdown(Shutdown::Write);
        drain(stream, None, Instant::now() + CLOSE_AFTER_FIN);
        return;
    }
    let let_go = match (stream.local_addr(), stream.peer_addr()) {
        (Ok(ours), Ok(peer)) => match sockets::peer_let_go(ours, peer) {
            Some(let_go) => let_go,
            // No socket table (not Linux): a server on this machine is taken to have
            // let go; one elsewhere is not ours to reset.
            None => peer.ip().is_loopback(),
        },
        // Already reset: nothing is left of the connection.
        _ => return,
    };
    if let_go {
        // close() with SO_LINGER 0 (as the last handle drops): a reset, no TIME_WAIT.
        let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
    } else {
        let _ = stream.shutdown(Shutdown::Write);
    }
}

/// The connections now ending (see [`Connection`]'s drop): in all, and those still
/// deciding how (their first read, within [`DRAIN_TIME`]). A run waits for them
/// before it stops or restarts its server, and before it exits: a connection the
/// process closes as it exits gets a FIN where a reset was due.
static ENDING: Mutex<(usize, usize)> = Mutex::new((0, 0));

/// One connection's end, counted among the connections ending until dropped.
#[derive(Debug)]
struct Ending {
    deciding: std::sync::atomic::AtomicBool,
}

fn ending_counts() -> MutexGuard<'static, (usize, usize)> {
    ENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ending {
    fn begin() -> Ending {
        let mut counts = ending_counts();
        counts.0 += 1;
        counts.1 += 1;
        Ending {
            deciding: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// It has closed first and now waits for the server to close in turn.
    fn waiting_for_the_server(&self) {
        if self.deciding.swap(false, Ordering::SeqCst) {
            ending_counts().1 -= 1;
        }
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        self.waiting_for_the_server();
        ending_counts().0 -= 1;
    }
}

/// Waits (bounded by `limit`) until every connection's end has decided how to end
/// (`all` false), or has ended (`all` true): the first before a server is stopped,
/// the second after.
pub fn wait_for_ends(all: bool, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let (ending, deciding) = *ending_counts();
        if (all && ending == 0) || (!all && deciding == 0) {
            return;
        }
        // Polling a count that threads lower; bounded.
        thread::sleep(Duration::from_millis(5));
    }
}

/// Reads and drops what the server sends until it closes (true), or (false) it falls
/// silent for `quiet` (if given), or `until` passes, or [`DRAIN_BYTES`] came. A reset
/// counts as closed.
fn drain(stream: &TcpStream, quiet: Option<Duration>, until: Instant) -> bool {
    let mut buffer = [0; 16 * 1024];
    let mut drained = 0;
    // Without `quiet`, each read still ends now and then, to see the time.
    if stream
        .set_read_timeout(Some(quiet.unwrap_or(DRAIN_TIME)))
        .is_err()
    {
        return false;
    }
    while drained < DRAIN_BYTES && Instant::now() < until {
        match (&*stream).read(&mut buffer) {
            Ok(0) => return true,
            Ok(read) => drained += read,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if quiet.is_some() {
                    return false;
                }
            }
            Err(error) => return error.kind() == ErrorKind::ConnectionReset,
        }
    }
    false
}

/// Reads the `what` (a reply, an answer) that should be exactly `expected`, however
/// it is segmented: fails with "expected ..., got ..." if it differs, and says what
/// was expected when it does not come whole (`expected answer "hello\n": no reply
/// within the timeout (5 of 6 bytes came: "hello")`), and when all of it but its
/// newline came, that it came without its newline. Bytes that came short and differ
/// from what was expected are a wrong reply (`expected ..., got ...`), not a late one.
///
/// A wrong reply is shown to the end of its line, not cut at the expected length
/// (`got "unknown command\n"`, not `got "unknow"`), as far as it comes within
/// [`REST_OF_LINE_WAIT`].
pub fn read_expecting(conn: &mut TcpStream, what: &str, expected: &[u8]) -> Result<()> {
    let expecting = || format!("expected {what} \"{}\"", shown(expected));
    let mut got = match read_len_or_part(conn, expected.len()) {
        Ok(got) => got,
        // All of it but the line end: say that, not only "5 of 6 bytes came".
        Err(short)
            if !short.part.is_empty() && expected.strip_suffix(b"\n") == Some(&short.part[..]) =>
        {
            return Err(short
                .error
                .context(format!("{}: it came without its newline", expecting())));
        }
        // Not the start of what was expected, and the server still there: a wrong
        // reply, not a late one (`makefile('r')` turns "\r\n" into "\n": one byte
        // short, for ever).
        Err(short)
            if short.timed_out && !short.part.is_empty() && !expected.starts_with(&short.part) =>
        {
            return expect_bytes(what, &short.part, expected);
        }
        Err(short) => return Err(short.error.context(expecting())),
    };
    if got != expected {
        read_rest_of_line(conn, &mut got);
    }
    expect_bytes(what, &got, expected)
}

/// How long a wrong reply's rest may take to come, to be shown (the check has failed
/// already: this bounds only how much of the reply its detail shows).
pub const REST_OF_LINE_WAIT: Duration = Duration::from_millis(200);

/// Reads on until `got` ends a line, or is longer than a check's line shows, or the
/// server sends nothing more within [`REST_OF_LINE_WAIT`]; keeps up to the newline.
fn read_rest_of_line(conn: &mut TcpStream, got: &mut Vec<u8>) {
    let timeout_before = conn.read_timeout().ok().flatten();
    let deadline = Instant::now() + REST_OF_LINE_WAIT;
    let mut more = [0; 128];
    // The line that was cut: the one holding the last byte read so far (the lines
    // before it, when several were expected, are shown whole as they are).
    let cut = got.len().saturating_sub(1);
    let line_end = |got: &[u8]| got[cut..].iter().position(|&byte| byte == b'\n');
    while line_end(got).is_none() && got.len() <= SHOWN {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match conn.read(&mut more) {
            Ok(0) | Err(_) => break,
            Ok(read) => got.extend_from_slice(&more[..read]),
        }
    }
    if let Some(newline) = line_end(got) {
        got.truncate(cut + newline + 1);
    }
    let _ = conn.set_read_timeout(timeout_before);
}

/// Reads exactly `length` bytes (a reply may come in pieces).
pub fn read_len(conn: &mut TcpStream, length: usize) -> Result<Vec<u8>> {
    read_len_or_part(conn, length).map_err(|short| short.error)
}

/// What [`read_len_or_part`] got when it did not get it all.
struct Short {
    /// The bytes that came.
    part: Vec<u8>,
    /// Why no more came, in words.
    error: anyhow::Error,
    /// No more came within the timeout (the connection is still open).
    timed_out: bool,
}

/// [`read_len`], which on failure also gives the bytes that came before it.
fn read_len_or_part(conn: &mut TcpStream, length: usize) -> std::result::Result<Vec<u8>, Short> {
    let mut reply = vec![0; length];
    let mut filled = 0;
    while filled < length {
        let mut timed_out = false;
        let error = match conn.read(&mut reply[filled..]) {
            Ok(read) if read > 0 => {
                filled += read;
                continue;
            }
            Ok(_) => anyhow!(
                "the server closed the connection after {filled} of {length} bytes: \"{}\"",
                shown(&reply[..filled])
            ),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                timed_out = true;
                anyhow!(
                    "no reply within the timeout ({filled} of {length} bytes came: \"{}\")",
                    shown(&reply[..filled])
                )
            }
            Err(error) => anyhow!(
                "{} after {filled} of {length} bytes",
                in_words(&error, conn.peer_addr().ok())
            ),
        };
        reply.truncate(filled);
        return Err(Short {
            part: reply,
            error,
            timed_out,
        });
    }
    Ok(reply)
}

/// Expects the server to close the connection with nothing more to say.
pub fn expect_closed(conn: &mut TcpStream) -> Result<()> {
    let mut extra = [0; 64];
    match conn.read(&mut extra) {
        Ok(0) => Ok(()),
        Err(error) if error.kind() == ErrorKind::ConnectionReset => Ok(()),
        Ok(read) => bail!(
            "expected the connection to close, got \"{}\"",
            shown(&extra[..read])
        ),
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            bail!("the server did not close the connection")
        }
        Err(error) => bail!(
            "expected the connection to close: {}",
            in_words(&error, conn.peer_addr().ok())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connection to a server that sends `pieces` (one segment each), then stays
    /// silent with the connection open until the client goes.
    fn server_sending(pieces: &'static [&'static [u8]]) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_nodelay(true).unwrap();
            for piece in pieces {
                conn.write_all(piece).unwrap();
            }
            let _ = conn.read(&mut [0; 1]);
        });
        let conn = TcpStream::connect(address).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn
    }

    fn detail(pieces: &'static [&'static [u8]], expected: &[u8]) -> String {
        let mut conn = server_sending(pieces);
        let detail = format!(
            "{:#}",
            read_expecting(&mut conn, "reply", expected).unwrap_err()
        );
        // The connection's own timeout is back.
        assert_eq!(conn.read_timeout().unwrap(), Some(Duration::from_secs(5)));
        detail
    }

    #[test]
    fn a_wrong_reply_is_shown_to_the_end_of_its_line() {
        assert_eq!(
            detail(&[b"unknown command\nnext line\n"], b"HELLO\n"),
            r#"reply: expected "HELLO\n", got "unknown command\n""#
        );
        // In pieces: read until the line ends.
        assert_eq!(
            detail(&[b"unkn", b"own ", b"command\n"], b"HELLO\n"),
            r#"reply: expected "HELLO\n", got "unknown command\n""#
        );
    }

    #[test]
    fn a_wrong_reply_with_no_line_end_is_shown_as_far_as_it_came() {
        let started = Instant::now();
        assert_eq!(
            detail(&[b"unknown"], b"HELLO\n"),
            r#"reply: expected "HELLO\n", got "unknown""#
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // A right reply is read to its expected length only: the next is left.
        let mut conn = server_sending(&[b"HELLO\nNEXT\n"]);
        read_expecting(&mut conn, "reply", b"HELLO\n").unwrap();
        read_expecting(&mut conn, "reply", b"NEXT\n").unwrap();
    }

    #[test]
    fn a_reply_without_its_newline_is_said_to_be_so() {
        let mut conn = server_sending(&[b"HELLO"]);
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let error = read_expecting(&mut conn, "reply", b"HELLO\n").unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            r#"expected reply "HELLO\n": it came without its newline: no reply within the timeout (5 of 6 bytes came: "HELLO")"#
        );
        // Short and wrong: a wrong reply, not a late one.
        let mut conn = server_sending(&[b"ONE\nTWO\nTHREE\n"]);
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let error = read_expecting(&mut conn, "reply", b"ONE\nTWO\r\nTHREE\n").unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            r#"reply: expected "ONE\nTWO\r\nTHREE\n", got "ONE\nTWO\nTHREE\n""#
        );
        // Part of it only: no such claim.
        let mut conn = server_sending(&[b"HEL"]);
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let error = read_expecting(&mut conn, "reply", b"HELLO\n").unwrap_err();
        assert!(!format!("{error:#}").contains("newline"), "{error:#}");
    }
}
