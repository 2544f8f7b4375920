//! Kurose & Ross 2.7, UDPServer.py, in Rust: the same steps in the same order.
//!
//! `cargo run -p lab-udp --example udp_server -- [HOST] [PORT]` (127.0.0.1, 12000).
//! Its limits are the course's, on purpose: it reads at most 2048 bytes of a datagram
//! (the rest is lost), and a datagram that is not UTF-8 stops it with an error, as
//! Python's `decode()` raises. `lab-udp server` is the program that handles both.

use std::env;
use std::error::Error;
use std::net::UdpSocket;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_string());
    let server_port: u16 = args.next().map_or(Ok(12000), |port| port.parse())?;
    // socket(AF_INET, SOCK_DGRAM) and bind((host, serverPort)): std does both in one call.
    let server_socket = UdpSocket::bind((host.as_str(), server_port))?;
    println!("listening on {} (udp)", server_socket.local_addr()?);
    println!("The server is ready to receive");
    let mut buffer = [0; 2048];
    loop {
        // recvfrom(2048): the next datagram, and the client's address (IP and port).
        let (length, client_address) = server_socket.recv_from(&mut buffer)?;
        // decode().upper(): not UTF-8 is an error here, as in Python: the server stops.
        let modified_message = std::str::from_utf8(&buffer[..length])?.to_uppercase();
        // sendto(): send the uppercase back to this client's address.
        server_socket.send_to(modified_message.as_bytes(), client_address)?;
    }
}
