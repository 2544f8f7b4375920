//! CPE 314's TCP server, in Rust: the same steps in the same order. Each client gets a
//! session, its messages answered until it sends `quit`; then the next client.
//!
//! `cargo run -p lab-tcp --example tcp_server_quit -- [HOST] [PORT]` (127.0.0.1, 12000;
//! CPE 314 uses 50000).
//! Its limits are the course's, on purpose: each `recv(1024)` is taken for one
//! message; the reply is `bytes.upper()`, which uppercases ASCII letters only; and a
//! message that is not UTF-8 stops it with an error when it is printed, as Python's
//! `decode()` raises. One change: a client that closes without `quit` ends its session
//! here (`recv` returns no bytes), where the slides' loop would spin forever.

use std::env;
use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpListener;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_string());
    let serv_port: u16 = args.next().map_or(Ok(12000), |port| port.parse())?;
    // socket(AF_INET, SOCK_STREAM), bind() and listen(): one call in std.
    let s = TcpListener::bind((host.as_str(), serv_port))?;
    println!("listening on {} (tcp)", s.local_addr()?);
    println!("TCP server started ...");
    loop {
        // accept(): the next client, on a socket of its own.
        let (mut sckt, _addr) = s.accept()?;
        println!("New client connected ..");
        let mut buffer = [0; 1024];
        loop {
            // recv(1024)
            let length = sckt.read(&mut buffer)?;
            let txtin = &buffer[..length];
            println!("Client> {}", std::str::from_utf8(txtin)?);
            if txtin == b"quit" || txtin.is_empty() {
                println!("Client disconnected ..");
                println!("Waiting for a new client ...");
                break;
            }
            // send(): the message with its ASCII letters uppercased.
            sckt.write_all(&txtin.to_ascii_uppercase())?;
        }
        // close()
        drop(sckt);
    }
}
