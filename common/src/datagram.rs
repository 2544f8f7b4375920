//! A UDP server's receive and reply that keep track of *which* of the server's
//! addresses each request was sent to, so that the reply comes from that address
//! (Stevens, UNP section 22.2).
//!
//! A server bound to the wildcard address (`0.0.0.0` or `::`) receives datagrams sent
//! to any of the host's addresses. A plain `sendto` lets the kernel choose the reply's
//! source by route, which on a host with several addresses may not be the address the
//! client wrote to: a client with a connected UDP socket (ours, chrony, most resolvers)
//! then drops the reply as coming from a stranger. On Linux, every 127.x.y.z address is
//! the loopback, so a request to 127.0.0.2 is answered from 127.0.0.1 unless the server
//! says otherwise.
//!
//! The cure is three socket calls, which every lab's UDP server makes in plain sight:
//!
//! 1. `setsockopt(IP_PKTINFO)` (IPv4) or `setsockopt(IPV6_RECVPKTINFO)` (IPv6, and IPv4
//!    clients of a dual-stack socket): [`receive_destination`];
//! 2. `recvmsg()`, whose control message carries the datagram's destination
//!    address: [`recv_request`];
//! 3. `sendmsg()` with the same kind of control message, naming that address as the
//!    reply's source: [`send_reply`].
//!
//! This file makes the calls; which options and control messages carry the address
//! on Linux, macOS and FreeBSD (they differ for IPv4) is
//! [`crate::platform::destination`]'s business.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use crate::net;
pub use crate::platform::destination::receive_destination;
use crate::platform::destination::{ReplySource, destination_in};
use crate::report::Log;
use nix::sys::socket::{MsgFlags, SockaddrIn, SockaddrIn6, SockaddrStorage, recvmsg, sendmsg};

/// One datagram a server received: how long it is, who sent it, and the local address
/// it was sent to (`None` if the system did not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Bytes of the datagram, at the start of the buffer given to [`recv_request`].
    pub length: usize,
    /// The sender's address as people read it (plain IPv4 for an IPv4 client of a
    /// dual-stack socket: [`net::plain`]), for logs and counts.
    pub client: SocketAddr,
    /// The sender's address as the socket gave it (IPv4-mapped on a dual-stack
    /// socket): where [`send_reply`] sends, since an IPv6 socket cannot send to a
    /// plain IPv4 address.
    reply_to: SocketAddr,
    /// The address the datagram was sent to: where the reply comes from.
    pub destination: Option<Destination>,
}

/// The local end of a request: the server's address it was sent to, and for IPv6 the
/// interface it came in on (a link-local `fe80::` address means nothing without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// The server's address the client wrote to (IPv4-mapped for IPv4 clients of a
    /// dual-stack socket).
    pub ip: IpAddr,
    interface: u32,
}

/// `recvmsg()`: waits for the next datagram, copies it into `buffer` and says who sent
/// it and to which local address. `buffer` should hold 65,536 bytes, so that no
/// datagram is truncated.
///
/// # Errors
///
/// Those of `recvmsg`: `Interrupted` by a signal, `ConnectionRefused` for an ICMP error
/// about an earlier reply, ...
pub fn recv_request(socket: &UdpSocket, buffer: &mut [u8]) -> io::Result<Request> {
    let mut iov = [IoSliceMut::new(buffer)];
    // Room for either control message: in6_pktinfo is the larger.
    let mut control = nix::cmsg_space!(libc::in6_pktinfo);
    let message = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::empty(),
    )?;
    let client = message
        .address
        .as_ref()
        .and_then(socket_address)
        .ok_or_else(|| io::Error::other("a datagram without a sender address"))?;
    let destination = message
        .cmsgs()?
        .filter_map(|control_message| destination_in(&control_message))
        .last()
        .map(|(ip, interface)| Destination { ip, interface });
    Ok(Request {
        length: message.bytes,
        client: net::plain(client),
        reply_to: client,
        destination,
    })
}

/// `sendmsg()`: sends `reply` to the client that sent `request`, from the address the
/// request was sent to (from [`recv_request`]); when that is unknown, the kernel
/// chooses, as for `sendto`. A multicast or broadcast destination is not a source
/// address: the kernel chooses then too.
///
/// # Errors
///
/// Those of `sendmsg`: `EMSGSIZE` for a reply larger than a datagram, `ENOBUFS`, ...
pub fn send_reply(socket: &UdpSocket, reply: &[u8], request: &Request) -> io::Result<usize> {
    let iov = [IoSlice::new(reply)];
    let flags = MsgFlags::empty();
    let source = request
        .destination
        .filter(|local| !local.ip.is_multicast() && local.ip != IpAddr::from([255; 4]))
        .map(|local| ReplySource::new(local.ip, local.interface));
    let Some(source) = source else {
        return socket.send_to(reply, request.reply_to);
    };
    let control = [source.control_message()];
    let fd = socket.as_raw_fd();
    let sent = match request.reply_to {
        SocketAddr::V4(client) => {
            sendmsg(fd, &iov, &control, flags, Some(&SockaddrIn::from(client)))
        }
        SocketAddr::V6(client) => {
            sendmsg(fd, &iov, &control, flags, Some(&SockaddrIn6::from(client)))
        }
    };
    match sent {
        // Not an address of ours to send from (a subnet's broadcast address, which
        // macOS gives as the destination): the kernel chooses, as for `sendto`.
        Err(nix::errno::Errno::EADDRNOTAVAIL) => socket.send_to(reply, request.reply_to),
        sent => Ok(sent?),
    }
}

/// [`send_reply`], as a server does it: a reply that cannot be sent is lost, logged
/// as a `warning:` line that says why (`cannot reply to 127.0.0.1:5000: a reply of
/// 90000 bytes does not fit in one UDP datagram: at most 65507 bytes over IPv4`), and
/// the server goes on. Whether the reply was sent.
pub fn reply_or_warn(socket: &UdpSocket, reply: &[u8], request: &Request, log: Log) -> bool {
    let Err(error) = send_reply(socket, reply, request) else {
        return true;
    };
    let client = net::shown(request.client);
    match net::too_long(&error, request.reply_to, reply.len()) {
        Some(too_long) => log.warn(format_args!("cannot reply to {client}: a reply {too_long}")),
        None => log.warn(format_args!("cannot reply to {client}: {error}")),
    }
    false
}

fn socket_address(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn server(bind: &str) -> UdpSocket {
        let socket = UdpSocket::bind(bind).unwrap();
        receive_destination(&socket).unwrap();
        socket
    }

    /// Sends `message` from a client connected to `to` and answers it once through
    /// `recv_request`/`send_reply`; returns what the client got and the request.
    fn round_trip(server: &UdpSocket, client_bind: &str, to: SocketAddr) -> (Vec<u8>, Request) {
        let client = UdpSocket::bind(client_bind).unwrap();
        client.connect(to).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.send(b"hello").unwrap();
        let mut buffer = [0; 64];
        let request = recv_request(server, &mut buffer).unwrap();
        let reply = buffer[..request.length].to_ascii_uppercase();
        send_reply(server, &reply, &request).unwrap();
        let length = client.recv(&mut buffer).unwrap();
        (buffer[..length].to_vec(), request)
    }

    #[test]
    fn ipv4_wildcard_answers_from_127_0_0_2() {
        if crate::platform::second_loopback_address().is_none() {
            eprintln!("SKIPPED: 127.0.0.2 is not on this machine's loopback");
            return;
        }
        let server = server("0.0.0.0:0");
        let port = server.local_addr().unwrap().port();
        let to: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        let (reply, request) = round_trip(&server, "127.0.0.1:0", to);
        assert_eq!(reply, b"HELLO");
        assert_eq!(request.destination.unwrap().ip, to.ip());
    }

    #[test]
    fn dual_stack_answers_an_ipv4_client_from_127_0_0_2() {
        if crate::platform::second_loopback_address().is_none() {
            eprintln!("SKIPPED: 127.0.0.2 is not on this machine's loopback");
            return;
        }
        let socket =
            socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None).unwrap();
        socket.set_only_v6(false).unwrap();
        socket
            .bind(&"[::]:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let server = UdpSocket::from(socket);
        receive_destination(&server).unwrap();
        let port = server.local_addr().unwrap().port();
        let to: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        let (reply, request) = round_trip(&server, "127.0.0.1:0", to);
        assert_eq!(reply, b"HELLO");
        assert_eq!(
            request.destination.unwrap().ip,
            "::ffff:127.0.0.2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ipv6_wildcard_answers_from_loopback() {
        let Ok(server) = UdpSocket::bind("[::]:0") else {
            return; // no IPv6 on this machine
        };
        receive_destination(&server).unwrap();
        let port = server.local_addr().unwrap().port();
        let to: SocketAddr = format!("[::1]:{port}").parse().unwrap();
        let (reply, request) = round_trip(&server, "[::1]:0", to);
        assert_eq!(reply, b"HELLO");
        assert_eq!(request.destination.unwrap().ip, to.ip());
    }
}
