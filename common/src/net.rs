//! Addresses and sockets with errors a student can act on.
//!
//! In the manner of Stevens' wrappers (`Socket`, `Bind`, `Listen`), each function here
//! makes one socket call and turns its failure into one sentence that says what to do,
//! so a lab's `server.rs` reads like the course's Python and still handles every error.

use std::io::{self, ErrorKind, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket,
};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use socket2::{Domain, Protocol, Socket, Type};

/// How many connections may wait to be accepted. The kernel caps it at
/// `net.core.somaxconn` (4096 on current Linux).
pub const BACKLOG: i32 = 4096;

/// `--host` and `--port`, shared by every server and client; `PORT` is the lab's
/// default port.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct Endpoint<const PORT: u16> {
    /// Host name or IP address: the address a server binds (0.0.0.0 or :: for every
    /// interface), or the server a client talks to
    #[arg(short = 'H', long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port number (a server given 0 asks the operating system for a free one)
    #[arg(short, long, default_value_t = PORT)]
    pub port: u16,
}

impl<const PORT: u16> Endpoint<PORT> {
    /// Every address `--host` resolves to, in the resolver's order.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>> {
        resolve(&self.host, self.port)
    }

    /// The one address a server binds: the first that `--host` resolves to.
    pub fn bind_address(&self) -> Result<SocketAddr> {
        Ok(self.resolve()?[0])
    }
}

/// Resolves a host name or IP literal to every address it has, each in its plain
/// form ([`plain`]). An IPv6 literal may come in brackets (`[::1]`), as the programs
/// print it.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    let host = host
        .strip_prefix('[')
        .and_then(|inside| inside.strip_suffix(']'))
        .unwrap_or(host);
    let not_resolved = || {
        anyhow!(
            "cannot resolve host '{host}': check the name, or give an IP address such as 127.0.0.1"
        )
    };
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| not_resolved())?
        .map(plain)
        .collect();
    if addresses.is_empty() {
        return Err(not_resolved());
    }
    Ok(addresses)
}

/// `socket(family, SOCK_STREAM)`, with `SO_REUSEADDR` so that a restarted server can
/// bind its port while old connections linger in TIME_WAIT.
pub fn tcp_socket(address: SocketAddr) -> Result<Socket> {
    let socket = new_socket(address, Type::STREAM, Protocol::TCP)?;
    socket
        .set_reuse_address(true)
        .context("cannot set SO_REUSEADDR")?;
    Ok(socket)
}

/// `socket(family, SOCK_DGRAM)`.
pub fn udp_socket(address: SocketAddr) -> Result<Socket> {
    let socket = new_socket(address, Type::DGRAM, Protocol::UDP)?;
    crate::platform::hold_largest_datagram(&socket).context("cannot size the socket's buffers")?;
    Ok(socket)
}

fn new_socket(address: SocketAddr, kind: Type, protocol: Protocol) -> Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), kind, Some(protocol))
        .with_context(|| format!("cannot create a socket for {address}"))?;
    if address.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        // `--host ::` means every address, IPv4 ones included (dual stack), whatever
        // the system's default for IPV6_V6ONLY.
        socket
            .set_only_v6(false)
            .context("cannot turn on dual stack (IPV6_V6ONLY)")?;
    }
    Ok(socket)
}

/// `bind(socket, address)`: claims the port, with the SPEC's messages for the usual
/// failures (port in use, privileged port, address not on this machine).
pub fn bind(socket: &Socket, address: SocketAddr) -> Result<()> {
    socket
        .bind(&address.into())
        .map_err(|error| bind_error(&error, address))
}

/// Turns a failed `bind` into one sentence that says what to do.
pub fn bind_error(error: &io::Error, address: SocketAddr) -> anyhow::Error {
    let port = address.port();
    let ip = address.ip();
    match error.kind() {
        ErrorKind::AddrInUse => {
            anyhow!("port {port} on {ip} is already in use: try another --port, or --port 0")
        }
        ErrorKind::PermissionDenied => anyhow!(
            "no permission to use port {port} on {ip} (ports below 1024 need root): \
             use a port of 1024 or more"
        ),
        ErrorKind::AddrNotAvailable => {
            anyhow!("{ip} is not an address of this machine: use 127.0.0.1, 0.0.0.0 or ::")
        }
        _ => anyhow!("cannot bind {address}: {error}"),
    }
}

/// `listen(socket, BACKLOG)`: makes a bound TCP socket a listening ("welcoming") socket.
pub fn listen(socket: Socket) -> Result<TcpListener> {
    socket.listen(BACKLOG).context("cannot listen")?;
    Ok(socket.into())
}

/// Prints the listening line (`listening on 127.0.0.1:12000 (tcp)`) and flushes it at
/// once: tests and scripts wait for this line to learn the port.
pub fn announce(address: SocketAddr, transport: &str) {
    let mut stdout = io::stdout().lock();
    // A closed stdout must not stop a server from serving.
    let _ = writeln!(stdout, "{}", listening_line(address, transport));
    let _ = stdout.flush();
}

/// The listening line's text, exactly `listening on <address> (<tcp|udp>)`.
pub fn listening_line(address: SocketAddr, transport: &str) -> String {
    format!("listening on {address} ({transport})")
}

/// An address as people read it: an IPv4 address that reached an IPv6 socket as an
/// IPv4-mapped address (`[::ffff:127.0.0.1]:53422`, what a dual-stack server bound to
/// `::` learns of its IPv4 clients) becomes plain IPv4 (`127.0.0.1:53422`); any other
/// address is unchanged. Every address the labs print comes through here: [`resolve`]
/// and [`accept`] apply it, and the UDP servers apply it to each sender.
pub fn plain(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

/// `accept()`: the next connection from the listen queue (waiting for one if the
/// queue is empty), and the client's address in its [`plain`] form.
pub fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, client) = listener.accept()?;
    Ok((stream, plain(client)))
}

/// The address to give `connect` on a socket bound to `local`: an IPv4 address
/// becomes IPv4-mapped when the socket is IPv6 (a peer bound to `[::]` talking to
/// `127.0.0.1`), since an IPv6 socket cannot take an IPv4 address as such.
pub fn in_family_of(local: SocketAddr, address: SocketAddr) -> SocketAddr {
    match (local, address.ip()) {
        (SocketAddr::V6(_), IpAddr::V4(ip)) => {
            SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), address.port())
        }
        _ => address,
    }
}

/// The address to reach a socket bound to `local`: its loopback twin if it was bound
/// to every interface (you cannot send to 0.0.0.0 or ::).
pub fn reachable(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// `connect()` to each address in turn until one accepts, as `getaddrinfo`-based
/// clients do (`localhost` may be `::1` and `127.0.0.1`). Each attempt is bounded by
/// `timeout`. The error names the last address tried and what to do.
pub fn connect_any(addresses: &[SocketAddr], timeout: Duration) -> Result<TcpStream> {
    let mut last_error = anyhow!("no address to connect to");
    for &address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = connect_error(&error, address, timeout),
        }
    }
    Err(last_error)
}

/// Turns a failed `connect` into one sentence that says what to do.
pub fn connect_error(error: &io::Error, address: SocketAddr, timeout: Duration) -> anyhow::Error {
    match error.kind() {
        ErrorKind::ConnectionRefused => anyhow!(
            "connection refused by {address}: is the server running? Start it first, or check --host and --port"
        ),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => anyhow!(
            "no answer from {address} within {:.1} s: check the host, the port and any firewall",
            timeout.as_secs_f64()
        ),
        _ => anyhow!("cannot connect to {address}: {error}"),
    }
}

/// Parses a `HOST:PORT` target (`[::1]:12000` for IPv6) into every address it has.
pub fn resolve_target(target: &str) -> Result<Vec<SocketAddr>> {
    let (host, port) = split_target(target).map_err(|error| anyhow!(error))?;
    resolve(host, port)
}

/// A `HOST:PORT` argument, checked for its form without resolving the host (a clap
/// value parser: a malformed one is a usage error, exit status 2).
///
/// # Errors
///
/// The sentence to show when `text` is not `HOST:PORT` or its port is not a number
/// from 0 to 65535.
pub fn target_argument(text: &str) -> Result<String, String> {
    split_target(text).map(|_| text.to_owned())
}

/// `HOST:PORT` split at its last colon (an IPv6 host keeps its own colons).
fn split_target(target: &str) -> Result<(&str, u16), String> {
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| format!("'{target}' is not HOST:PORT, e.g. 127.0.0.1:12000"))?;
    let port = port
        .parse()
        .map_err(|_| format!("the port in '{target}' is not a number from 0 to 65535"))?;
    Ok((host, port))
}

/// The wildcard address with port 0 of `like`'s family: bind it to let the kernel
/// choose the local address and port.
pub fn any_address(like: SocketAddr) -> SocketAddr {
    match like {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// A UDP socket `connect`ed to `server`: the kernel then drops datagrams from anyone
/// else, and reports an ICMP "port unreachable" as `ConnectionRefused` on the next
/// `recv` instead of leaving the client to wait out its timeout.
pub fn udp_connected(server: SocketAddr) -> Result<UdpSocket> {
    let socket = UdpSocket::bind(any_address(server)).context("cannot create a UDP socket")?;
    crate::platform::hold_largest_datagram(&socket).context("cannot size the socket's buffers")?;
    socket
        .connect(server)
        .with_context(|| format!("cannot reach {server}"))?;
    Ok(socket)
}

/// The largest UDP payload over this address family: 65,507 bytes over IPv4
/// (65,535 - 20 IP header - 8 UDP header), 65,527 over IPv6.
pub fn max_udp_payload(address: SocketAddr) -> usize {
    match address {
        SocketAddr::V4(_) => 65_507,
        SocketAddr::V6(_) => 65_527,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_becomes_loopback() {
        assert_eq!(
            reachable("0.0.0.0:5".parse().unwrap()),
            "127.0.0.1:5".parse().unwrap()
        );
        assert_eq!(
            reachable("[::]:5".parse().unwrap()),
            "[::1]:5".parse().unwrap()
        );
        assert_eq!(
            reachable("10.0.0.1:5".parse().unwrap()),
            "10.0.0.1:5".parse().unwrap()
        );
    }

    #[test]
    fn mapped_addresses_are_shown_plain() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:53422".parse().unwrap();
        assert_eq!(plain(mapped), "127.0.0.1:53422".parse().unwrap());
        let v6: SocketAddr = "[::1]:5".parse().unwrap();
        assert_eq!(plain(v6), v6);
        assert_eq!(
            resolve("::ffff:127.0.0.1", 7).unwrap(),
            ["127.0.0.1:7".parse().unwrap()]
        );
        assert_eq!(in_family_of(v6, plain(mapped)), mapped);
        assert_eq!(
            in_family_of("127.0.0.1:1".parse().unwrap(), plain(mapped)),
            plain(mapped)
        );
    }

    #[test]
    fn targets_in_both_families() {
        assert_eq!(
            resolve_target("127.0.0.1:80").unwrap(),
            ["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(
            resolve_target("[::1]:80").unwrap(),
            ["[::1]:80".parse().unwrap()]
        );
        assert!(resolve_target("127.0.0.1").is_err());
        assert!(resolve_target("127.0.0.1:http").is_err());
    }

    #[test]
    fn ipv6_literal_in_brackets_resolves() {
        assert_eq!(resolve("[::1]", 80).unwrap(), ["[::1]:80".parse().unwrap()]);
    }

    #[test]
    fn bad_host_is_one_clear_sentence() {
        let error = resolve("no-such-host.invalid", 1).unwrap_err().to_string();
        assert!(
            error.starts_with("cannot resolve host 'no-such-host.invalid'"),
            "{error}"
        );
    }

    #[test]
    fn port_in_use_says_what_to_do() {
        let address: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = tcp_socket(address).unwrap();
        bind(&first, address).unwrap();
        let listener = listen(first).unwrap();
        // Without SO_REUSEADDR on the second socket, a listening port is in use.
        let taken = listener.local_addr().unwrap();
        let second = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let error = bind(&second, taken).unwrap_err().to_string();
        assert!(
            error.contains("already in use: try another --port, or --port 0"),
            "{error}"
        );
    }

    #[test]
    fn connect_any_skips_a_refused_address() {
        let live = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = crate::testkit::Refusing::new();
        let dead_address = dead.address();
        let addresses = [dead_address, live.local_addr().unwrap()];
        let stream = connect_any(&addresses, Duration::from_secs(2)).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), live.local_addr().unwrap());
    }

    #[test]
    fn connect_any_reports_refusal_of_the_last_address() {
        let dead = crate::testkit::Refusing::new();
        let address = dead.address();
        let error = connect_any(&[address], Duration::from_secs(2))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("connection refused by {address}")),
            "{error}"
        );
    }
}
