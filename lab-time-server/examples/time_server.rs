//! NIT IT-553's time server in Rust: each client is sent the time, as
//! `time.ctime()` writes it, and the connection is closed. No request, no session.
//!
//!     cargo run -p lab-time-server --example time_server -- [HOST] [PORT]
//!
//! Kept as the lab sheet has it: one client at a time (iterative), TCP only, and an
//! error on one client (a reset before the reply) ends the server. The time is
//! formatted by chrono, as Python's `time` module formats it for the slides. The
//! lab's server adds UDP, RFC 868 and SNTP (`src/server.rs`).

use std::io::Write;
use std::net::TcpListener;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = args.next().unwrap_or_else(|| "9999".into()).parse()?;
    // socket(), bind(), listen(): std makes the welcoming socket in one call
    // (its backlog is 128, where the lab sheet queues up to 5).
    let serversocket = TcpListener::bind((host.as_str(), port))?;
    println!("listening on {} (tcp)", serversocket.local_addr()?);
    loop {
        // accept(): establish a connection.
        let (mut clientsocket, addr) = serversocket.accept()?;
        println!("Got a connection from {addr}");
        // time.ctime(time.time()) + "\r\n", e.g. "Sat Nov 21 09:05:07 2026\r\n".
        let current_time = chrono::Local::now().format("%a %b %e %H:%M:%S %Y\r\n");
        // send(): the whole line.
        clientsocket.write_all(current_time.to_string().as_bytes())?;
        // close(): `clientsocket` is dropped here; the client's recv then returns.
    }
}
