//! Conformance checks of a TCP uppercase server (the SPEC's wire rules), for the
//! `check` subcommands of lab-tcp and lab-concurrent. Each check opens its own
//! connections, with every wait bounded by the run's timeout.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::check::wording::{connect_failed, in_words};
use crate::check::{Checks, expect_bytes, shown};

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
        for piece in [&b"spl"[..], b"it li", b"ne\n"] {
            conn.write_all(piece)?;
            thread::sleep(Duration::from_millis(30)); // let each piece be its own segment
        }
        read_expecting(&mut conn, "reply", b"SPLIT LINE\n")
    });
    checks.run(
        "a character split between segments is one character",
        move || {
            let mut conn = connect(target, timeout)?;
            conn.write_all(b"\xc3")?; // the first byte of "ß"
            thread::sleep(Duration::from_millis(30));
            conn.write_all(b"\x9f\n")?;
            read_expecting(&mut conn, "reply", b"SS\n")
        },
    );
    for (name, quit) in [
        ("`quit\\n` ends the session without a reply", &b"quit\n"[..]),
        ("`quit\\r\\n` ends the session without a reply", b"quit\r\n"),
    ] {
        checks.run(name, move || {
            let mut conn = connect(target, timeout)?;
            conn.write_all(b"before\n")?;
            read_expecting(&mut conn, "reply", b"BEFORE\n")?;
            conn.write_all(quit)?;
            expect_closed(&mut conn)
        });
    }
    checks.run(
        "a bare `quit` (the course client's) ends the session",
        move || {
            let mut conn = connect(target, timeout)?;
            conn.write_all(b"hi")?;
            read_expecting(&mut conn, "reply", b"HI")?;
            conn.write_all(b"quit")?;
            expect_closed(&mut conn)
        },
    );
    checks.run("after a half-close, every reply still arrives", move || {
        let mut conn = connect(target, timeout)?;
        conn.write_all(b"last words\nand more\n")?;
        conn.shutdown(Shutdown::Write)?;
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
    checks.run(
        "the server serves a new client afterwards",
        exchange(b"again\n", b"AGAIN\n"),
    );
}

/// Connects with every wait (connect, read, write) bounded by `timeout`.
pub fn connect(target: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    let conn = TcpStream::connect_timeout(&target, timeout)
        .map_err(|error| connect_failed(&error, target, timeout))?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    Ok(conn)
}

/// Reads the `what` (a reply, an answer) that should be exactly `expected`, however
/// it is segmented: fails with "expected ..., got ..." if it differs, and says what
/// was expected when it does not come whole (`expected answer "hello\n": no reply
/// within the timeout (5 of 6 bytes came: "hello")`).
pub fn read_expecting(conn: &mut TcpStream, what: &str, expected: &[u8]) -> Result<()> {
    let got = read_len(conn, expected.len())
        .with_context(|| format!("expected {what} \"{}\"", shown(expected)))?;
    expect_bytes(what, &got, expected)
}

/// Reads exactly `length` bytes (a reply may come in pieces).
pub fn read_len(conn: &mut TcpStream, length: usize) -> Result<Vec<u8>> {
    let mut reply = vec![0; length];
    let mut filled = 0;
    while filled < length {
        match conn.read(&mut reply[filled..]) {
            Ok(0) => {
                reply.truncate(filled);
                bail!(
                    "the server closed the connection after {filled} of {length} bytes: \"{}\"",
                    reply.escape_ascii()
                );
            }
            Ok(read) => filled += read,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                reply.truncate(filled.min(80));
                bail!(
                    "no reply within the timeout ({filled} of {length} bytes came: \"{}\")",
                    reply.escape_ascii()
                );
            }
            Err(error) => bail!(
                "{} after {filled} of {length} bytes",
                in_words(&error, conn.peer_addr().ok())
            ),
        }
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
            extra[..read].escape_ascii()
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
