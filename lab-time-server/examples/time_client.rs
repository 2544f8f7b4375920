//! NIT IT-553's time client in Rust: connect, receive no more than 1024 bytes,
//! close, print.
//!
//!     cargo run -p lab-time-server --example time_client -- [HOST] [PORT]
//!
//! Kept as the lab sheet has it: one `recv`, so a reply that comes in two segments
//! is printed cut, and a longer one is cut at 1024 bytes; no timeout, so a server
//! that accepts and never sends leaves it waiting forever; a reply that is not ASCII
//! ends it with an error, as Python's `decode('ascii')` raises. The lab's client
//! reads until the server closes (`src/client.rs`, `read_to_close`).

use std::io::Read;
use std::net::TcpStream;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = args.next().unwrap_or_else(|| "9999".into()).parse()?;
    // socket() and connect(): to the server's host and port.
    let mut s = TcpStream::connect((host.as_str(), port))?;
    // recv(): no more than 1024 bytes.
    let mut tm = [0; 1024];
    let n = s.read(&mut tm)?;
    // close()
    drop(s);
    if !tm[..n].is_ascii() {
        return Err("'ascii' codec can't decode the reply".into());
    }
    println!(
        "The time got from the server is {}",
        String::from_utf8_lossy(&tm[..n])
    );
    Ok(())
}
