//! Where Linux, macOS and FreeBSD differ, in one place. Every lab runs on all three
//! (students' laptops; instructors grade on Linux); Windows students use WSL2, which is
//! Linux. What differs, who does what, and where each system documents it:
//!
//! | what | Linux | macOS | FreeBSD | here |
//! |---|---|---|---|---|
//! | a UDP datagram's destination address | `IP_PKTINFO`, filled in `ipi_spec_dst` (ip(7)) | `IP_PKTINFO`, filled in `ipi_addr` only (ip(4), `netinet/in.h`) | no `IP_PKTINFO` for IPv4: `IP_RECVDSTADDR` in, `IP_SENDSRCADDR` out (ip(4)) | [`destination`] |
//! | the largest datagram a socket sends | the send buffer (`net.core.wmem_default`, 208 KiB) holds it | refused over 9,216 bytes (`net.inet.udp.maxdgram`, the default send buffer) | the same, and a receive buffer of 42,080 bytes (`net.inet.udp.recvspace`) drops larger datagrams | [`hold_largest_datagram`] |
//! | the open-files soft limit | up to the hard limit | at most `OPEN_MAX` (10,240), whatever the hard limit: setrlimit(2), COMPATIBILITY | up to the hard limit (`kern.maxfilesperproc`) | [`raise_open_files_limit`] |
//! | the ephemeral port range | `/proc/sys/net/ipv4/ip_local_port_range` (ip(7)) | sysctl `net.inet.ip.portrange.first`/`.last` | the same sysctls (ip(4)) | [`ephemeral_port_range`] |
//! | 127.0.0.2 | every 127.x.y.z is the loopback (ip(7)) | only 127.0.0.1 on `lo0`, unless `ifconfig lo0 alias 127.0.0.2` | the same | [`second_loopback_address`] |
//! | a close-on-exec pipe | `pipe2(O_CLOEXEC)`, atomic | no `pipe2`: `pipe`, then `FD_CLOEXEC` | `pipe2` | [`cloexec_pipe`] |
//! | ICMP errors on an unconnected UDP socket | reported with `IP_RECVERR`/`IPV6_RECVERR` (ip(7), ipv6(7)) | never: only a connected socket hears them (UNP 8.11) | the same | [`hear_refusals_unconnected`] |
//! | `MSG_NOSIGNAL` | yes | no (`SO_NOSIGPIPE` instead) | yes | not needed: Rust programs ignore SIGPIPE from the start |
//!
//! What only Linux has (`/proc`, network namespaces) is used by the grader and the
//! tests alone; each says what it does without it.

pub mod destination;
mod limits;

pub use limits::{
    DATAGRAM_BUFFER, ephemeral_port_range, hold_largest_datagram, open_files_target,
    raise_open_files_limit,
};

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::OwnedFd;

/// 127.0.0.2, if this machine has it: a second address on the loopback, for testing a
/// server that answers at several addresses. Linux's loopback is the whole of
/// 127.0.0.0/8 (ip(7)); macOS's and FreeBSD's `lo0` has 127.0.0.1 only, until an
/// administrator adds an alias (`sudo ifconfig lo0 alias 127.0.0.2`). Found out by
/// binding it, so an alias counts.
pub fn second_loopback_address() -> Option<Ipv4Addr> {
    let address = Ipv4Addr::new(127, 0, 0, 2);
    UdpSocket::bind((address, 0)).ok().map(|_| address)
}

/// Asks the kernel to report ICMP errors (port unreachable: a refusal) on `socket`,
/// an unconnected UDP socket of `family_of`'s family, as it does on a connected one;
/// whether it can. Linux can (`IP_RECVERR`, `IPV6_RECVERR`: the error is returned by
/// the next `recv`); macOS and FreeBSD cannot, and tell only a connected socket.
///
/// # Errors
///
/// Those of `setsockopt`.
pub fn hear_refusals_unconnected(
    socket: &UdpSocket,
    family_of: std::net::SocketAddr,
) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        match family_of {
            std::net::SocketAddr::V4(_) => setsockopt(socket, sockopt::Ipv4RecvErr, &true)?,
            std::net::SocketAddr::V6(_) => setsockopt(socket, sockopt::Ipv6RecvErr, &true)?,
        }
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (socket, family_of);
        Ok(false)
    }
}

/// A pipe, (read end, write end), both ends close-on-exec, so that a program started
/// later does not inherit them: atomically with `pipe2(O_CLOEXEC)` (Linux, FreeBSD);
/// macOS has no `pipe2`, so there `pipe`, then `fcntl(FD_CLOEXEC)` on each end, as
/// Rust's standard library does (`std::io::pipe`, from Rust 1.87, past this
/// workspace's `rust-version`): a program started by another thread in between may
/// inherit them.
///
/// # Errors
///
/// Those of `pipe`: out of file descriptors.
pub fn cloexec_pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(target_vendor = "apple"))]
    return nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC);
    #[cfg(target_vendor = "apple")]
    {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        let (read_end, write_end) = nix::unistd::pipe()?;
        for end in [&read_end, &write_end] {
            fcntl(end, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        }
        Ok((read_end, write_end))
    }
}
