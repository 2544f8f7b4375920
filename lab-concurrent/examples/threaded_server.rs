//! CPE 314's threaded server in Rust: the uppercase server of Kurose & Ross 2.7, with
//! a thread per client, so a silent client no longer holds up the others.
//!
//!     cargo run -p lab-concurrent --example threaded_server -- [HOST] [PORT]
//!
//! Its limits are the slides' own, kept on purpose: one `recv` of 1024 bytes is one
//! message, `bytes.upper()` uppercases ASCII only, bytes that are not UTF-8 kill the
//! client's thread (Python's `decode` raises there), no timeout, and Ctrl-C ends it
//! without a word. The lab's `thread` model is this program made safe
//! (`src/models/thread.rs`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn handle_client(mut s: TcpStream) -> Result<(), Box<dyn std::error::Error>> {
    let mut txtin = [0; 1024];
    loop {
        // recv(): at most 1024 bytes, whatever has arrived.
        let n = s.read(&mut txtin)?;
        if n == 0 {
            // The client closed. (The slides' loop has no such test: it would go on
            // receiving b'' forever.)
            break;
        }
        println!("Client> {}", std::str::from_utf8(&txtin[..n])?);
        if &txtin[..n] == b"quit" {
            println!("Client disconnected ...");
            break;
        }
        // send(): the uppercase of the bytes received.
        s.write_all(&txtin[..n].to_ascii_uppercase())?;
    }
    // close(): `s` is dropped here.
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = args.next().unwrap_or_else(|| "50000".into()).parse()?;
    // socket(), bind(), listen(): std makes the welcoming socket in one call.
    let s = TcpListener::bind((host.as_str(), port))?;
    println!("listening on {} (tcp)", s.local_addr()?);
    loop {
        // accept(): a new socket for the next client.
        let (sckt, addr) = s.accept()?;
        println!("New client connected from {addr}");
        // A thread serves the client; the main thread goes back to accept at once.
        let started = thread::Builder::new().spawn(move || {
            if let Err(error) = handle_client(sckt) {
                eprintln!("Exception in client thread: {error}");
            }
        });
        if let Err(error) = started {
            println!("Cannot start thread.. {error}");
        }
    }
}
