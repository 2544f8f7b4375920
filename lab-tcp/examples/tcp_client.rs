//! Kurose & Ross 2.7, TCPClient.py, in Rust: the same steps in the same order.
//!
//! `cargo run -p lab-tcp --example tcp_client -- [HOST] [PORT]` (127.0.0.1, 12000).
//! Its limits are the course's, on purpose: one `recv(1024)` for the reply (a reply
//! that comes in two pieces is printed cut), and no timeout. `lab-tcp client` is the
//! program that reads the reply whole.

use std::env;
use std::error::Error;
use std::io::{self, Read, Write};
use std::net::TcpStream;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = env::args().skip(1);
    let server_name = args.next().unwrap_or_else(|| "127.0.0.1".to_string());
    let server_port: u16 = args.next().map_or(Ok(12000), |port| port.parse())?;
    // socket(AF_INET, SOCK_STREAM) and connect((serverName, serverPort)): one call in std.
    let mut client_socket = TcpStream::connect((server_name.as_str(), server_port))?;
    print!("Input lowercase sentence:");
    io::stdout().flush()?;
    let mut sentence = String::new();
    io::stdin().read_line(&mut sentence)?;
    let sentence = sentence.strip_suffix('\n').unwrap_or(&sentence);
    // send(): no address to attach, the connection knows where it goes.
    client_socket.write_all(sentence.as_bytes())?;
    // recv(1024): one read, whatever part of the reply has arrived by then.
    let mut buffer = [0; 1024];
    let length = client_socket.read(&mut buffer)?;
    println!(
        "From Server: {}",
        String::from_utf8_lossy(&buffer[..length])
    );
    // close(): the connection is closed when `client_socket` goes out of scope, here.
    Ok(())
}
