//! Kurose & Ross 2.7, UDPClient.py, in Rust: the same steps in the same order.
//!
//! `cargo run -p lab-udp --example udp_client -- [HOST] [PORT]` (127.0.0.1, 12000).
//! Its limit is the course's, on purpose: no timeout, so if the datagram or its reply
//! is lost, `recvfrom` waits forever. `lab-udp client` is the program that resends.

use std::env;
use std::error::Error;
use std::io::{self, Write};
use std::net::UdpSocket;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = env::args().skip(1);
    let server_name = args.next().unwrap_or_else(|| "127.0.0.1".to_string());
    let server_port: u16 = args.next().map_or(Ok(12000), |port| port.parse())?;
    // socket(AF_INET, SOCK_DGRAM): std binds it too, to any free port, as Python's
    // first sendto does.
    let client_socket = UdpSocket::bind("0.0.0.0:0")?;
    print!("Input lowercase sentence:");
    io::stdout().flush()?;
    let mut message = String::new();
    io::stdin().read_line(&mut message)?;
    let message = message.strip_suffix('\n').unwrap_or(&message);
    // sendto(): attach the server's name and port to the message, and send it.
    client_socket.send_to(message.as_bytes(), (server_name.as_str(), server_port))?;
    // recvfrom(2048): wait for the reply (forever, if it never comes).
    let mut buffer = [0; 2048];
    let (length, _server_address) = client_socket.recv_from(&mut buffer)?;
    println!("{}", String::from_utf8_lossy(&buffer[..length]));
    // close(): the socket is closed when `client_socket` goes out of scope, here.
    Ok(())
}
