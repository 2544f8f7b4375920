//! `lab-tcp demo`: a server on a free loopback port and a client talking to it, in one
//! process, printing what crosses the connection.

use std::io::Write;
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use anyhow::{Result, bail};
use common::connection::Settings;
use common::outln;
use common::report::escaped;
use common::shutdown::Shutdown;
use common::tcp_checks::{expect_closed, read_len};

use crate::{Endpoint, server};

/// Runs the demo; exits 0 only if every reply was right.
pub fn run() -> Result<ExitCode> {
    let endpoint = Endpoint {
        host: "127.0.0.1".into(),
        port: 0,
    };
    let listener = server::listen(&endpoint)?;
    let address = listener.local_addr()?;
    let shutdown = Shutdown::new();
    let settings = Settings::new(Duration::from_secs(10), true, shutdown.clone());
    let server = thread::spawn(move || server::serve(&listener, &settings));

    outln!("client: connects to {address}");
    let mut client = TcpStream::connect(address)?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    let steps: [(&str, &[u8], &[u8]); 3] = [
        (
            "a bare message, like the course's Python client",
            b"hello, tcp",
            b"HELLO, TCP",
        ),
        (
            "a line with full Unicode",
            "straße café\n".as_bytes(),
            "STRASSE CAFÉ\n".as_bytes(),
        ),
        ("two lines in one send", b"one\ntwo\n", b"ONE\nTWO\n"),
    ];
    for (what, request, expected) in steps {
        outln!("client: sends    \"{}\"  ({what})", escaped(request));
        client.write_all(request)?;
        let reply = read_len(&mut client, expected.len())?;
        outln!("client: receives \"{}\"", escaped(&reply));
        if reply != expected {
            bail!("expected \"{}\"", escaped(expected));
        }
    }
    outln!("client: sends    \"quit\\n\"  (ends the session)");
    client.write_all(b"quit\n")?;
    expect_closed(&mut client)?;
    outln!("client: the server closed the connection; it waits for the next client");

    shutdown.request();
    match server.join() {
        Ok(outcome) => outcome?,
        Err(_) => bail!("the demo server crashed"),
    }
    outln!("demo: every reply was the uppercase of its message");
    Ok(ExitCode::SUCCESS)
}
