//! The hi-hello assignment of NIT IT-553 at its simplest: a TCP server that answers
//! `hi` with `hello`, one message per connection, one client at a time.
//!
//!     cargo run -p lab-hi-hello --example hi_hello_server -- [HOST] [PORT]
//!
//! Its limits are the lesson: one `recv` of 1024 bytes is taken as the message, and
//! only `hi` itself is a greeting (not `Hi`, nor `hi` after a space); the connection
//! is closed after one answer; a client that connects and says nothing holds up every
//! other (no timeout, no thread); bytes that are not UTF-8 end the server, as
//! Python's `decode` raises.
//! The lab's server does none of this (`src/server/tcp.rs`, `src/greeting.rs`).

use std::io::{Read, Write};
use std::net::TcpListener;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = args.next().unwrap_or_else(|| "5050".into()).parse()?;
    // socket(), bind(), listen(): std makes the welcoming socket in one call.
    let s = TcpListener::bind((host.as_str(), port))?;
    println!("listening on {} (tcp)", s.local_addr()?);
    loop {
        // accept(): a new socket for the next client.
        let (mut conn, addr) = s.accept()?;
        println!("Got a connection from {addr}");
        // recv(): the message, at most 1024 bytes.
        let mut data = [0; 1024];
        let n = conn.read(&mut data)?;
        let text = std::str::from_utf8(&data[..n])?;
        // The message, and what ends it (`\n` from nc, nothing from Python's send).
        let (message, ending) = text.split_at(text.trim_end().len());
        println!("Client> {message}");
        let reply = if message == "hi" {
            format!("hello{ending}")
        } else {
            format!("unknown greeting: {message}{ending}")
        };
        // send(): the answer.
        conn.write_all(reply.as_bytes())?;
        // close(): `conn` is dropped here.
    }
}
