//! CPE 314's forked server in Rust: a process per client, made with `fork` as the
//! slides make it with `os.fork`.
//!
//!     cargo run -p lab-concurrent --example forked_server -- [HOST] [PORT]
//!
//! Its limits are the slides' own, kept on purpose: nobody reaps a child that has
//! exited, so each one stays a zombie (`<defunct>` in `ps`) until the server ends;
//! one `recv` of 1024 bytes is one message, ASCII-only uppercasing; bytes that are
//! not UTF-8 kill the client's process; no timeout. The lab's `fork` model reaps every child
//! (`src/models/fork.rs`, `reap`).
#![allow(unsafe_code)] // fork() is unsafe in a process with threads; this one has none.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use nix::unistd::{ForkResult, fork};

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
        // fork(): the child is a copy of this process, socket included.
        // SAFETY: this process has a single thread.
        match unsafe { fork() }? {
            ForkResult::Child => {
                if let Err(error) = handle_client(sckt) {
                    eprintln!("client {addr}: {error}");
                }
                // close(), then os._exit(0): the child ends here, never back to accept.
                std::process::exit(0);
            }
            // close(): the parent drops its copy of the client's socket.
            ForkResult::Parent { .. } => drop(sckt),
        }
    }
}
