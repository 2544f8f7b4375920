//! A UDP datagram's destination address, as each system tells it to `recvmsg` and
//! takes it from `sendmsg` (Stevens, UNP sections 22.2 and 22.8; RFC 3542 section 6
//! for IPv6). IPv6 is the same everywhere: `IPV6_RECVPKTINFO` in, `IPV6_PKTINFO` out.
//! IPv4 is not:
//!
//! - Linux: `IP_PKTINFO` (ip(7)); a received `in_pktinfo` holds the local address in
//!   `ipi_spec_dst` (for a broadcast, the interface's own address) and the header's
//!   destination in `ipi_addr`; a sent one names the source in `ipi_spec_dst`.
//! - macOS: `IP_PKTINFO` too (ip(4), `netinet/in.h`), but a received `in_pktinfo`
//!   leaves `ipi_spec_dst` zero and holds the destination in `ipi_addr` only; a sent one
//!   names the source in `ipi_spec_dst`, as on Linux.
//! - FreeBSD: no `IP_PKTINFO` for IPv4 (ip(4)): `IP_RECVDSTADDR` gives the destination
//!   as an `in_addr`, and `IP_SENDSRCADDR` with an `in_addr` names the source, on a
//!   socket bound to the wildcard address only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use anyhow::{Context, Result};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, setsockopt, sockopt};

/// `setsockopt(IP_PKTINFO)` (`IP_RECVDSTADDR` on FreeBSD) or
/// `setsockopt(IPV6_RECVPKTINFO)`: from now on, `recvmsg` on `socket` also tells each
/// datagram's destination address. On a dual-stack socket the IPv6 option covers the
/// IPv4 clients too (as IPv4-mapped addresses).
///
/// # Errors
///
/// If the system refuses the option.
pub fn receive_destination(socket: &UdpSocket) -> Result<()> {
    match socket.local_addr()? {
        SocketAddr::V4(local) => receive_ipv4_destination(socket, *local.ip()).with_context(|| {
            format!("cannot ask for each datagram's destination address ({IPV4_OPTION})")
        }),
        SocketAddr::V6(_) => setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)
            .context("cannot ask for each datagram's destination address (IPV6_RECVPKTINFO)"),
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
const IPV4_OPTION: &str = "IP_PKTINFO";
#[cfg(target_os = "freebsd")]
const IPV4_OPTION: &str = "IP_RECVDSTADDR";

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn receive_ipv4_destination(socket: &UdpSocket, _local: Ipv4Addr) -> nix::Result<()> {
    setsockopt(socket, sockopt::Ipv4PacketInfo, &true)
}

#[cfg(target_os = "freebsd")]
fn receive_ipv4_destination(socket: &UdpSocket, local: Ipv4Addr) -> nix::Result<()> {
    // IP_SENDSRCADDR names a source only on a socket bound to the wildcard address; a
    // socket bound to one address answers from it anyway.
    if local.is_unspecified() {
        setsockopt(socket, sockopt::Ipv4RecvDstAddr, &true)
    } else {
        Ok(())
    }
}

/// The destination address a control message from `recvmsg` tells, with the interface
/// the datagram came in on (IPv6 only; 0 for IPv4); `None` for other control messages.
pub(crate) fn destination_in(message: &ControlMessageOwned) -> Option<(IpAddr, u32)> {
    match message {
        #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
        ControlMessageOwned::Ipv4PacketInfo(info) => Some((
            IpAddr::V4(pktinfo_destination(
                ipv4(info.ipi_spec_dst),
                ipv4(info.ipi_addr),
            )),
            0,
        )),
        #[cfg(target_os = "freebsd")]
        ControlMessageOwned::Ipv4RecvDstAddr(address) => Some((IpAddr::V4(ipv4(*address)), 0)),
        ControlMessageOwned::Ipv6PacketInfo(info) => {
            Some((IpAddr::from(info.ipi6_addr.s6_addr), info.ipi6_ifindex))
        }
        _ => None,
    }
}

/// Which field of a received `in_pktinfo` is the local address a reply comes from:
/// `ipi_spec_dst` where the system fills it (Linux; for a broadcast it is the
/// interface's own address, which a reply may come from), else `ipi_addr`, the
/// header's destination (macOS leaves `ipi_spec_dst` zero).
#[cfg(any(
    test,
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple"
))]
fn pktinfo_destination(spec_dst: Ipv4Addr, header_destination: Ipv4Addr) -> Ipv4Addr {
    if spec_dst.is_unspecified() {
        header_destination
    } else {
        spec_dst
    }
}

fn ipv4(address: libc::in_addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from_be(address.s_addr))
}

fn in_addr(ip: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from(ip).to_be(),
    }
}

/// The control message `sendmsg` takes to send from a given address, kept here so
/// that it outlives the call.
pub(crate) enum ReplySource {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    V4(libc::in_pktinfo),
    #[cfg(target_os = "freebsd")]
    V4(libc::in_addr),
    V6(libc::in6_pktinfo),
}

impl ReplySource {
    /// A reply from `ip`; `interface` names the interface for an IPv6 link-local `ip`
    /// (meaningless without it) and is ignored otherwise.
    pub(crate) fn new(ip: IpAddr, interface: u32) -> ReplySource {
        match ip {
            #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
            IpAddr::V4(ip) => ReplySource::V4(libc::in_pktinfo {
                // Interface 0: the route decides, from the source address we name.
                ipi_ifindex: 0,
                ipi_spec_dst: in_addr(ip),
                ipi_addr: in_addr(Ipv4Addr::UNSPECIFIED),
            }),
            #[cfg(target_os = "freebsd")]
            IpAddr::V4(ip) => ReplySource::V4(in_addr(ip)),
            IpAddr::V6(ip) => ReplySource::V6(libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: ip.octets(),
                },
                ipi6_ifindex: if ip.is_unicast_link_local() {
                    interface
                } else {
                    0
                },
            }),
        }
    }

    /// `IP_PKTINFO` (`IP_SENDSRCADDR` on FreeBSD) or `IPV6_PKTINFO`, for `sendmsg`.
    pub(crate) fn control_message(&self) -> ControlMessage<'_> {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
            ReplySource::V4(info) => ControlMessage::Ipv4PacketInfo(info),
            #[cfg(target_os = "freebsd")]
            ReplySource::V4(address) => ControlMessage::Ipv4SendSrcAddr(address),
            ReplySource::V6(info) => ControlMessage::Ipv6PacketInfo(info),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pktinfo_destination_is_spec_dst_on_linux_and_ipi_addr_on_macos() {
        let local = Ipv4Addr::new(127, 0, 0, 2);
        // Linux, unicast: both fields hold the address.
        assert_eq!(pktinfo_destination(local, local), local);
        // Linux, a broadcast: the interface's address, not the broadcast address.
        let interface = Ipv4Addr::new(192, 168, 1, 7);
        let broadcast = Ipv4Addr::new(192, 168, 1, 255);
        assert_eq!(pktinfo_destination(interface, broadcast), interface);
        // macOS: ipi_spec_dst left zero.
        assert_eq!(pktinfo_destination(Ipv4Addr::UNSPECIFIED, local), local);
    }
}
