//! Kurose & Ross 2.7, TCPServer.py, in Rust: the same steps in the same order.
//!
//! `cargo run -p lab-tcp --example tcp_server -- [HOST] [PORT]` (127.0.0.1, 12000).
//! Its limits are the course's, on purpose: one `recv(1024)` per client, one reply,
//! then it closes the connection; and bytes that are not UTF-8 stop it with an error,
//! as Python's `decode()` raises. `lab-tcp server` is the program that keeps each
//! session open and streams bytes of any kind.

use std::env;
use std::error::Error;
use std::io::{Read, Write};
use std::net::TcpListener;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_string());
    let server_port: u16 = args.next().map_or(Ok(12000), |port| port.parse())?;
    // socket(AF_INET, SOCK_STREAM), bind() and listen(): the welcoming socket, one
    // call in std (whose backlog is 128, where the slides ask for 1).
    let server_socket = TcpListener::bind((host.as_str(), server_port))?;
    println!("listening on {} (tcp)", server_socket.local_addr()?);
    println!("The server is ready to receive");
    loop {
        // accept(): wait for a client; a new socket, for this connection only.
        let (mut connection_socket, _addr) = server_socket.accept()?;
        // recv(1024): one read, whatever part of the sentence has arrived by then.
        let mut buffer = [0; 1024];
        let length = connection_socket.read(&mut buffer)?;
        // decode().upper(): not UTF-8 is an error here, as in Python: the server stops.
        let capitalized_sentence = std::str::from_utf8(&buffer[..length])?.to_uppercase();
        // send()
        connection_socket.write_all(capitalized_sentence.as_bytes())?;
        // close(): this connection only, not the welcoming socket.
        drop(connection_socket);
    }
}
