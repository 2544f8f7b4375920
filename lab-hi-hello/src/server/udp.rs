//! The hi-hello server over UDP: one socket for every client, each datagram one
//! message, answered with one datagram. No listen, no accept, no session.

use std::net::UdpSocket;

use anyhow::Result;
use common::report::{Log, Stats, printable};
use common::shutdown::Shutdown;
use common::{datagram, net};

use crate::Endpoint;
use crate::greeting::Message;

/// The UDP server socket: socket, bind. No listen, no accept.
pub fn bind_udp(endpoint: &Endpoint) -> Result<UdpSocket> {
    let address = endpoint.bind_address()?;
    // socket(AF_INET/AF_INET6, SOCK_DGRAM): a UDP socket.
    let socket = net::udp_socket(address)?;
    // bind(): the server's well-known port; every client's datagrams arrive here.
    net::bind(&socket, address)?;
    let socket = UdpSocket::from(socket);
    // setsockopt(IP_PKTINFO): learn each datagram's destination, to reply from it.
    datagram::receive_destination(&socket)?;
    net::announce(socket.local_addr()?, "udp");
    Ok(socket)
}

/// Answers each datagram, until shutdown. One socket serves every client.
pub fn serve_udp(socket: &UdpSocket, log: Log, shutdown: &Shutdown) -> Result<()> {
    shutdown.wake_datagram_socket(socket)?;
    let stats = Stats::default();
    let mut buffer = vec![0; 65_536];
    while !shutdown.is_requested() {
        // recvmsg(): the next datagram, who sent it, and to which of our addresses.
        let received = datagram::recv_request(socket, &mut buffer);
        if shutdown.is_requested() {
            break;
        }
        let Ok(request) = received else {
            continue;
        };
        let client = request.client;
        let length = request.length.min(crate::greeting::MAX_MESSAGE);
        let message = Message::from_datagram(&buffer[..length]);
        if !log.is_quiet() {
            log.line(format_args!(
                "{client}: {}",
                printable(&message.text),
                client = net::shown(client)
            ));
        }
        let (reply, _) = message.reply();
        // sendmsg(): back to the sender's address, from the address it wrote to.
        // A reply that could not be sent is not counted as answered.
        if datagram::reply_or_warn(socket, &reply, &request, log) {
            stats.datagram_from(client);
        }
    }
    stats.print_summary();
    Ok(())
}
