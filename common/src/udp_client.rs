//! Asking a UDP server and waiting for its reply, safely.
//!
//! UDP promises nothing: a datagram may be lost, so the client waits `timeout` for
//! the reply and sends again, up to `tries` times. Two details make that safe:
//!
//! - Each message gets a fresh socket (a new port). A reply that arrives after its
//!   message was given up on goes to the old, closed port, so it can never be shown
//!   as the reply to a later message.
//! - The socket is `connect`ed to the server. UDP's `connect` sends nothing; it makes
//!   the kernel keep only the server's datagrams and report an ICMP "port
//!   unreachable" as `ConnectionRefused`, so a server that is not running is noticed
//!   at once instead of after every timeout.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::net;

/// A UDP client of one server, which may have several addresses.
#[derive(Debug)]
pub struct UdpClient {
    /// The server's addresses; the first one that answered is moved to the front.
    pub servers: Vec<SocketAddr>,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// How many times a message is sent at most (retries + 1).
    pub tries: u32,
}

/// Why one server address did not answer.
enum Failure {
    /// ICMP port unreachable: nothing listens there.
    Refused,
    /// Every try timed out.
    NoReply,
}

impl UdpClient {
    /// Sends `message` and returns its reply, trying each address of the server in turn.
    pub fn request(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        let mut failure = anyhow!("no address for the server");
        for index in 0..self.servers.len() {
            let server = self.servers[index];
            match self.exchange(server, message)? {
                Ok(reply) => {
                    // Later messages go straight to the address that answered.
                    self.servers.swap(0, index);
                    return Ok(reply);
                }
                Err(Failure::Refused) => {
                    failure = anyhow!(
                        "connection refused by {server}: no UDP server is running there; \
                         start it first, or check --host and --port"
                    );
                }
                Err(Failure::NoReply) => {
                    failure = anyhow!("no reply from {server} after {} tries", self.tries);
                }
            }
        }
        Err(failure)
    }

    /// Sends `message` once to the server and does not wait (the client's `quit`).
    pub fn send_without_reply(&self, message: &[u8]) -> Result<()> {
        let server = self.servers[0];
        let socket = net::udp_connected(server)?;
        // A lost or refused quit changes nothing for the client: it ends either way.
        let _ = socket.send(message);
        Ok(())
    }

    /// One message to one address, with retries. The outer `Result` is an error of
    /// this machine; the inner one says how the server failed to answer.
    fn exchange(&self, server: SocketAddr, message: &[u8]) -> Result<Result<Vec<u8>, Failure>> {
        // socket() + connect(): a fresh socket (a fresh port) for this message only.
        let socket = net::udp_connected(server)?;
        socket.set_read_timeout(Some(self.timeout))?;
        let mut reply = vec![0; 65_536];
        for _ in 0..self.tries {
            // send(): one datagram, the whole message (no need to say where: connected).
            if let Err(error) = socket.send(message) {
                if error.kind() == ErrorKind::ConnectionRefused {
                    return Ok(Err(Failure::Refused));
                }
                return Err(anyhow!("cannot send to {server}: {error}"));
            }
            // recv(): the reply, whole, or a timeout (`WouldBlock` on Unix).
            match socket.recv(&mut reply) {
                Ok(length) => {
                    reply.truncate(length);
                    return Ok(Ok(reply));
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                    return Ok(Err(Failure::Refused));
                }
                Err(error) => return Err(anyhow!("cannot receive from {server}: {error}")),
            }
        }
        Ok(Err(Failure::NoReply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::thread;

    #[test]
    fn tries_each_address_of_the_server_until_one_answers() {
        let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead_address = dead.local_addr().unwrap();
        drop(dead);
        let live = UdpSocket::bind("127.0.0.1:0").unwrap();
        let live_address = live.local_addr().unwrap();
        let answering = thread::spawn(move || {
            let mut buffer = [0; 16];
            let (length, from) = live.recv_from(&mut buffer).unwrap();
            live.send_to(&buffer[..length].to_ascii_uppercase(), from)
                .unwrap();
        });
        let mut client = UdpClient {
            servers: vec![dead_address, live_address],
            timeout: Duration::from_secs(2),
            tries: 2,
        };
        assert_eq!(client.request(b"x").unwrap(), b"X");
        assert_eq!(
            client.servers[0], live_address,
            "the address that answered comes first"
        );
        answering.join().unwrap();
    }
}
