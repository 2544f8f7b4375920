//! The system's limits a lab meets: the largest datagram a socket may send and
//! receive, the open-files limit, the ephemeral port range.

use std::io;
use std::ops::RangeInclusive;
use std::os::fd::AsFd;

use anyhow::{Context, Result};
use nix::sys::resource::{Resource, getrlimit, rlim_t, setrlimit};
use nix::sys::socket::{getsockopt, setsockopt, sockopt};

/// The send and receive buffer, in bytes, a UDP socket needs to send and receive the
/// largest datagram (65,527 bytes of payload over IPv6, 65,507 over IPv4) with its
/// sender address and control messages: twice 64 KiB, for room.
pub const DATAGRAM_BUFFER: usize = 128 * 1024;
const _: () = assert!(
    DATAGRAM_BUFFER > 65_527 + 28 + 64,
    "payload, address, control"
);

/// `setsockopt(SO_SNDBUF)` and `setsockopt(SO_RCVBUF)`, where needed: makes `socket`'s
/// buffers hold the largest UDP datagram. macOS and FreeBSD refuse to send a datagram
/// larger than the send buffer (`EMSGSIZE`), whose default is 9,216 bytes
/// (`net.inet.udp.maxdgram`); FreeBSD drops a received datagram larger than the
/// receive buffer, 42,080 bytes by default (`net.inet.udp.recvspace`). Linux's
/// defaults (`net.core.wmem_default`, `rmem_default`: 208 KiB) are larger: nothing
/// changes there.
///
/// # Errors
///
/// If the system refuses the size (over `kern.ipc.maxsockbuf`, which is 2 MiB or more).
pub fn hold_largest_datagram(socket: &impl AsFd) -> io::Result<()> {
    if let Some(size) = raised_buffer(getsockopt(socket, sockopt::SndBuf)?) {
        setsockopt(socket, sockopt::SndBuf, &size)?;
    }
    if let Some(size) = raised_buffer(getsockopt(socket, sockopt::RcvBuf)?) {
        setsockopt(socket, sockopt::RcvBuf, &size)?;
    }
    Ok(())
}

/// The size a socket buffer of `current` bytes must be raised to, if it cannot hold
/// the largest datagram: [`DATAGRAM_BUFFER`]; `None` if it can. Never lowers a buffer.
fn raised_buffer(current: usize) -> Option<usize> {
    (current < DATAGRAM_BUFFER).then_some(DATAGRAM_BUFFER)
}

/// The highest soft limit on open files the system takes, whatever the hard limit:
/// macOS refuses a soft limit above `OPEN_MAX` (10,240, `sys/syslimits.h`), even when
/// the hard limit is `RLIM_INFINITY` (setrlimit(2), COMPATIBILITY: "use
/// rlim_cur = min(OPEN_MAX, rlim_max)"). Linux and FreeBSD take up to the hard limit.
const SOFT_LIMIT_CEILING: Option<rlim_t> = if cfg!(target_vendor = "apple") {
    Some(10_240)
} else {
    None
};

/// The soft limit on open files to raise `soft` to, given the hard limit `hard`: the
/// hard limit, or on macOS `OPEN_MAX` if that is lower; `None` if `soft` is there
/// already.
pub fn open_files_target(soft: rlim_t, hard: rlim_t) -> Option<rlim_t> {
    target_under(SOFT_LIMIT_CEILING, soft, hard)
}

fn target_under(ceiling: Option<rlim_t>, soft: rlim_t, hard: rlim_t) -> Option<rlim_t> {
    let target = ceiling.map_or(hard, |ceiling| hard.min(ceiling));
    (soft < target).then_some(target)
}

/// `setrlimit(RLIMIT_NOFILE)`: raises the soft limit on open files as far as the system
/// takes it ([`open_files_target`]). Every connection is a file descriptor, and the
/// usual soft limit (1,024 on Linux, 256 on macOS) caps a server at fewer clients.
///
/// # Errors
///
/// If the limits cannot be read or the system refuses the new one.
pub fn raise_open_files_limit() -> Result<()> {
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).context("cannot read the open-files limit")?;
    if let Some(target) = open_files_target(soft, hard) {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard).with_context(|| {
            format!("cannot raise the open-files limit from {soft} to {target}")
        })?;
    }
    Ok(())
}

/// The system's ephemeral port range: the ports `bind` to port 0 and `connect` hand
/// out. Linux shows it in `/proc/sys/net/ipv4/ip_local_port_range` (ip(7)); macOS and
/// FreeBSD in the sysctls `net.inet.ip.portrange.first` and `.last` (ip(4)). If it
/// cannot be read, the system's default: 32768-60999 on Linux, 49152-65535 on macOS,
/// 10000-65535 on FreeBSD.
pub fn ephemeral_port_range() -> RangeInclusive<u16> {
    read_ephemeral_port_range().unwrap_or(DEFAULT_EPHEMERAL_PORTS)
}

#[cfg(target_os = "linux")]
const DEFAULT_EPHEMERAL_PORTS: RangeInclusive<u16> = 32768..=60999;
#[cfg(target_os = "freebsd")]
const DEFAULT_EPHEMERAL_PORTS: RangeInclusive<u16> = 10000..=65535;
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
const DEFAULT_EPHEMERAL_PORTS: RangeInclusive<u16> = 49152..=65535;

#[cfg(target_os = "linux")]
fn read_ephemeral_port_range() -> Option<RangeInclusive<u16>> {
    parse_port_range(&std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?)
}

#[cfg(not(target_os = "linux"))]
fn read_ephemeral_port_range() -> Option<RangeInclusive<u16>> {
    // sysctl(8) is in /usr/sbin on macOS, /sbin on FreeBSD: not always on a user's PATH.
    ["sysctl", "/usr/sbin/sysctl", "/sbin/sysctl"]
        .into_iter()
        .find_map(|sysctl| {
            let output = std::process::Command::new(sysctl)
                .args([
                    "-n",
                    "net.inet.ip.portrange.first",
                    "net.inet.ip.portrange.last",
                ])
                .output()
                .ok()?;
            output.status.success().then_some(output.stdout)
        })
        .and_then(|stdout| parse_port_range(&String::from_utf8_lossy(&stdout)))
}

/// Two port numbers separated by white space, as both `ip_local_port_range` ("32768
/// TAB 60999") and `sysctl -n` (one per line) show them.
fn parse_port_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut numbers = text.split_whitespace().map(str::parse::<u16>);
    let (first, last) = (numbers.next()?.ok()?, numbers.next()?.ok()?);
    (first <= last).then_some(first..=last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn a_small_buffer_is_raised_to_hold_the_largest_datagram() {
        // macOS's and FreeBSD's default send buffer, FreeBSD's receive buffer.
        assert_eq!(raised_buffer(9_216), Some(DATAGRAM_BUFFER));
        assert_eq!(raised_buffer(42_080), Some(DATAGRAM_BUFFER));
        // Linux's default (getsockopt shows it doubled), macOS's receive buffer.
        assert_eq!(raised_buffer(212_992), None);
        assert_eq!(raised_buffer(786_896), None);
    }

    #[test]
    fn a_socket_with_small_buffers_sends_and_receives_the_largest_datagram() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for socket in [&receiver, &sender] {
            // As macOS and FreeBSD make them (Linux doubles what it is given).
            setsockopt(socket, sockopt::SndBuf, &9_216).unwrap();
            setsockopt(socket, sockopt::RcvBuf, &9_216).unwrap();
            hold_largest_datagram(socket).unwrap();
            assert!(getsockopt(socket, sockopt::SndBuf).unwrap() >= DATAGRAM_BUFFER);
            assert!(getsockopt(socket, sockopt::RcvBuf).unwrap() >= DATAGRAM_BUFFER);
        }
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let largest = vec![b'x'; 65_507];
        sender
            .send_to(&largest, receiver.local_addr().unwrap())
            .unwrap();
        let mut buffer = vec![0; 65_536];
        assert_eq!(receiver.recv(&mut buffer).unwrap(), 65_507);
    }

    #[test]
    fn the_open_files_limit_goes_to_the_hard_limit_or_open_max_on_macos() {
        // Linux, FreeBSD: the hard limit.
        assert_eq!(target_under(None, 1_024, 1_048_576), Some(1_048_576));
        assert_eq!(target_under(None, 4_096, 4_096), None);
        // macOS: a hard limit of RLIM_INFINITY, a soft limit of 256.
        let infinity = nix::sys::resource::RLIM_INFINITY;
        assert_eq!(target_under(Some(10_240), 256, infinity), Some(10_240));
        assert_eq!(target_under(Some(10_240), 256, 2_048), Some(2_048));
        assert_eq!(target_under(Some(10_240), 10_240, infinity), None);
    }

    #[test]
    fn port_ranges_read_as_linux_and_sysctl_show_them() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("49152\n65535\n"), Some(49152..=65535));
        assert_eq!(parse_port_range("49152\n"), None);
        assert_eq!(parse_port_range("65535 49152"), None);
        let range = ephemeral_port_range();
        assert!(range.start() >= &1024, "{range:?}");
    }
}
