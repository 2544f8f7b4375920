//! The hi-hello assignment of NIT IT-553 at its simplest: a TCP client that says
//! `hi` and prints the answer.
//!
//!     cargo run -p lab-hi-hello --example hi_hello_client -- [HOST] [PORT]
//!
//! Its limits are the lesson: one `recv` of 1024 bytes is taken as the whole answer,
//! there is no timeout, and it exits 0 whatever the server answered. The lab's
//! client checks the answer (`src/client.rs`).

use std::io::{Read, Write};
use std::net::TcpStream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = args.next().unwrap_or_else(|| "5050".into()).parse()?;
    // socket() and connect(): the system picks this socket's port.
    let mut s = TcpStream::connect((host.as_str(), port))?;
    // send(): the greeting, with no newline, as Python's send(b'hi').
    s.write_all(b"hi")?;
    // recv(): the answer, at most 1024 bytes.
    let mut answer = [0; 1024];
    let n = s.read(&mut answer)?;
    println!("{}", String::from_utf8_lossy(&answer[..n]));
    // close(): `s` is dropped here.
    Ok(())
}
