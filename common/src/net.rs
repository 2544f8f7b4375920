//! Addresses and sockets with errors a student can act on.
//!
//! In the manner of Stevens' wrappers (`Socket`, `Bind`, `Listen`), each function here
//! makes one socket call and turns its failure into one sentence that says what to do,
//! so a lab's `server.rs` reads like the course's Python and still handles every error.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream, ToSocketAddrs,
    UdpSocket,
};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use nix::net::if_::{if_indextoname, if_nametoindex};
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
    ///
    /// # Errors
    ///
    /// As [`resolve`]; and a `--host` that carries a port (`127.0.0.1:12000`, a
    /// habit from URLs) is told to give it with `--port`.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>> {
        if let Some((host, port)) = host_with_port(&self.host) {
            bail!(
                "--host '{}' carries a port: give the host alone and the port with --port \
                 (--host {host} --port {port})",
                self.host
            );
        }
        resolve(&self.host, self.port)
    }

    /// The one address a server binds: the first that `--host` resolves to.
    pub fn bind_address(&self) -> Result<SocketAddr> {
        Ok(self.resolve()?[0])
    }
}

/// `HOST:PORT` given where only a host belongs: the host and the port, if `text` is
/// one (an IPv6 literal such as `::1` or `fe80::1:2` is a host, not a port).
fn host_with_port(text: &str) -> Option<(&str, u16)> {
    if text.parse::<Ipv6Addr>().is_ok() || zoned(text).is_some() {
        return None;
    }
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|inside| inside.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some((host, port))
}

/// Resolves a host name or IP literal to every address it has, each in its plain
/// form ([`plain`]). An IPv6 literal may come in brackets (`[::1]`), as the programs
/// print it, and a link-local one carries its zone, the interface it is reached by
/// (`fe80::1%eth0` or `fe80::1%2`, RFC 4007 section 11): without it the kernel cannot
/// tell which link is meant, and `connect`, `bind` and `sendto` fail with `EINVAL`.
///
/// # Errors
///
/// One sentence saying what to change: a name that does not resolve, a zone that
/// names no interface of this machine, a link-local address without its zone.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    let host = host
        .strip_prefix('[')
        .and_then(|inside| inside.strip_suffix(']'))
        .unwrap_or(host);
    if let Some((ip, zone)) = zoned(host) {
        let scope_id = zone_index(ip, zone)?;
        return Ok(vec![SocketAddrV6::new(ip, port, 0, scope_id).into()]);
    }
    if let Some((ip, zone)) = host.split_once('%')
        && ip.parse::<Ipv4Addr>().is_ok()
    {
        bail!("{host}: a zone (%{zone}) belongs to an IPv6 link-local address, not to IPv4");
    }
    if let Ok(ip) = host.parse::<Ipv6Addr>()
        && ip.is_unicast_link_local()
    {
        bail!(
            "{ip} is a link-local address: add the interface it is reached by, as in \
             {ip}%eth0 (`ip -6 addr` shows the interfaces and their addresses)"
        );
    }
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

/// An IPv6 literal with a zone, split at the `%`: `fe80::1%eth0` is `fe80::1` and
/// `eth0`. `None` if `host` is anything else.
fn zoned(host: &str) -> Option<(Ipv6Addr, &str)> {
    let (ip, zone) = host.split_once('%')?;
    Some((ip.parse().ok()?, zone))
}

/// The interface index (the `sin6_scope_id` that `connect`, `bind` and `sendto` take)
/// of the zone of `ip`: an interface name (`eth0`, looked up with
/// `if_nametoindex(3)`) or an index (`2`), which must be an interface of this machine.
///
/// # Errors
///
/// The zone is empty, or no interface of this machine has that name or index.
pub fn zone_index(ip: Ipv6Addr, zone: &str) -> Result<u32> {
    let no_interface = |what: String| {
        anyhow!(
            "{ip}%{zone}: {what} on this machine: the zone after % is the interface the \
             packets leave by (`ip link` lists them)"
        )
    };
    if zone.is_empty() {
        bail!("{ip}%: the zone after % is empty: give the interface, as in {ip}%eth0");
    }
    if let Ok(index) = zone.parse::<u32>() {
        return match interface_name(index) {
            Some(_) => Ok(index),
            None => Err(no_interface(format!(
                "there is no interface number {index}"
            ))),
        };
    }
    if_nametoindex(zone).map_err(|_| no_interface(format!("there is no interface '{zone}'")))
}

/// The zone of an interface index as people write it: the interface's name where it
/// has one (`eth0`, as `ip`, `ping` and `ss` show it), else the number.
pub fn zone_name(scope_id: u32) -> String {
    interface_name(scope_id).unwrap_or_else(|| scope_id.to_string())
}

/// if_indextoname(3): the name of the interface with that index, if there is one.
fn interface_name(index: u32) -> Option<String> {
    // nix 0.30 misses the NULL that says "no such interface" and returns an empty
    // name instead: an empty name is no interface.
    if_indextoname(index)
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
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
        .with_context(|| format!("cannot create a socket for {}", shown(address)))?;
    if address.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        // `--host ::` means every address, IPv4 ones included (dual stack), whatever
        // the system's default for IPV6_V6ONLY.
        socket
            .set_only_v6(false)
            .context("cannot turn on dual stack (IPV6_V6ONLY)")?;
    }
    Ok(socket)
}

/// `bind(socket, address)`: claims the port, with the usual failures (port in use,
/// privileged port, address not on this machine) said in words that say what to do.
pub fn bind(socket: &Socket, address: SocketAddr) -> Result<()> {
    let transport = match socket.r#type() {
        Ok(Type::DGRAM) => "udp",
        _ => "tcp",
    };
    socket
        .bind(&address.into())
        .map_err(|error| bind_error(&error, address, transport))
}

/// Turns a failed `bind` of a `transport` (`tcp` or `udp`) socket into one sentence
/// that says what to do. It names the transport: a server on both holds the port
/// twice, once for each.
pub fn bind_error(error: &io::Error, address: SocketAddr, transport: &str) -> anyhow::Error {
    let port = address.port();
    let ip = shown_ip(address);
    match error.kind() {
        ErrorKind::AddrInUse => anyhow!(
            "port {port} on {ip} is already in use ({transport}): try another --port, or --port 0"
        ),
        ErrorKind::PermissionDenied => anyhow!(
            "no permission to use port {port} on {ip} ({transport}; ports below 1024 need \
             root): use a port of 1024 or more"
        ),
        ErrorKind::AddrNotAvailable => {
            anyhow!("{ip} is not an address of this machine: use 127.0.0.1, 0.0.0.0 or ::")
        }
        _ => anyhow!("cannot bind {} ({transport}): {error}", shown(address)),
    }
}

/// `listen(socket, BACKLOG)`: makes a bound TCP socket a listening ("welcoming") socket.
pub fn listen(socket: Socket) -> Result<TcpListener> {
    if let Err(error) = socket.listen(BACKLOG) {
        let address = socket.local_addr().ok().and_then(|local| local.as_socket());
        let on = address.map(|address| format!(" on {}", shown(address)));
        bail!("cannot listen{} (tcp): {error}", on.unwrap_or_default());
    }
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

/// The listening line's text, exactly `listening on <address> (<tcp|udp>)`, the
/// address in Rust's `SocketAddr` form, which scripts and tests parse back: a zone
/// is its number there (`[fe80::1%2]:12000`), as `SocketAddr`'s parser takes no
/// interface names.
pub fn listening_line(address: SocketAddr, transport: &str) -> String {
    format!("listening on {address} ({transport})")
}

/// An address in its plain form: an IPv4 address that reached an IPv6 socket as an
/// IPv4-mapped address (`[::ffff:127.0.0.1]:53422`, what a dual-stack server bound to
/// `::` learns of its IPv4 clients) becomes plain IPv4 (`127.0.0.1:53422`); any other
/// address is unchanged, the zone of a link-local one included. [`resolve`] and
/// [`accept`] apply it, and the UDP servers apply it to each sender; [`shown`] prints it.
pub fn plain(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::new(IpAddr::V4(ip), v6.port()),
            None => address,
        },
        SocketAddr::V4(_) => address,
    }
}

/// An address as people read it, to print: [`plain`], and a link-local address with
/// its zone by name, `[fe80::1%eth0]:12000`, the form `--host` takes back and `ping`,
/// `ssh` and `ss` show (the number only if the interface has no name here).
pub fn shown(address: SocketAddr) -> Shown {
    Shown(plain(address))
}

/// The IP address of `address` as [`shown`] prints it, without the port:
/// `127.0.0.1`, `::1`, `fe80::1%eth0`.
pub fn shown_ip(address: SocketAddr) -> String {
    match plain(address) {
        SocketAddr::V6(v6) if v6.scope_id() != 0 => {
            format!("{}%{}", v6.ip(), zone_name(v6.scope_id()))
        }
        plain => plain.ip().to_string(),
    }
}

/// A socket address ready to print: see [`shown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown(SocketAddr);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SocketAddr::V6(v6) if v6.scope_id() != 0 => {
                write!(f, "[{}]:{}", shown_ip(self.0), v6.port())
            }
            address => address.fmt(f),
        }
    }
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
    let mut address = local;
    match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => address.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpAddr::V6(ip) if ip.is_unspecified() => address.set_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        // Any other address, a link-local one's zone included, is reachable as it is.
        _ => {}
    }
    address
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
    let address = shown(address);
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
    let socket = UdpSocket::bind(any_address(server))
        .with_context(|| format!("cannot create a UDP socket to reach {}", shown(server)))?;
    crate::platform::hold_largest_datagram(&socket).context("cannot size the socket's buffers")?;
    socket
        .connect(server)
        .with_context(|| format!("cannot reach {}", shown(server)))?;
    Ok(socket)
}

/// Turns a failed `send` of a `length`-byte datagram to `to` into one sentence. A
/// message too long for one datagram (`EMSGSIZE`, which the system words as
/// `Message too long (os error 90)`) gets the limit, in bytes.
pub fn send_error(error: &io::Error, to: SocketAddr, length: usize) -> anyhow::Error {
    match too_long(error, to, length) {
        Some(too_long) => anyhow!("a message {too_long}; send less"),
        None => anyhow!("cannot send to {}: {error}", shown(to)),
    }
}

/// If a `send` of `length` bytes to `to` failed because the datagram is larger than
/// the protocol allows (`EMSGSIZE`; nothing was sent, a shorter one would be): "of
/// 70000 bytes does not fit in one UDP datagram: at most 65507 bytes over IPv4".
pub fn too_long(error: &io::Error, to: SocketAddr, length: usize) -> Option<String> {
    if error.raw_os_error() != Some(libc::EMSGSIZE) {
        return None;
    }
    let limit = max_udp_payload(to);
    let family = if to.is_ipv4() { "IPv4" } else { "IPv6" };
    Some(format!(
        "of {length} bytes does not fit in one UDP datagram: at most {limit} bytes over \
         {family}"
    ))
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

    /// The index of the loopback interface, there in every network namespace.
    fn loopback_index() -> u32 {
        if_nametoindex("lo").unwrap()
    }

    #[test]
    fn a_zone_is_parsed_by_name_and_by_number() {
        let lo = loopback_index();
        let zoned =
            |scope_id| -> SocketAddr { SocketAddrV6::new(ip6("fe80::1"), 7, 0, scope_id).into() };
        assert_eq!(resolve("fe80::1%lo", 7).unwrap(), [zoned(lo)]);
        assert_eq!(resolve(&format!("fe80::1%{lo}"), 7).unwrap(), [zoned(lo)]);
        assert_eq!(resolve("[fe80::1%lo]", 7).unwrap(), [zoned(lo)]);
        assert_eq!(resolve_target("[fe80::1%lo]:7").unwrap(), [zoned(lo)]);
        // Kept through `plain`, and shown by name, as `--host` takes it back.
        assert_eq!(plain(zoned(lo)), zoned(lo));
        assert_eq!(shown(zoned(lo)).to_string(), "[fe80::1%lo]:7");
        assert_eq!(shown_ip(zoned(lo)), "fe80::1%lo");
        // The listening line keeps Rust's own form, which `SocketAddr` parses back.
        let line = listening_line(zoned(lo), "tcp");
        assert_eq!(line, format!("listening on [fe80::1%{lo}]:7 (tcp)"));
        // Addresses without a zone are shown as ever.
        assert_eq!(shown("[::1]:7".parse().unwrap()).to_string(), "[::1]:7");
        assert_eq!(
            shown("[::ffff:127.0.0.1]:7".parse().unwrap()).to_string(),
            "127.0.0.1:7"
        );
    }

    fn ip6(text: &str) -> Ipv6Addr {
        text.parse().unwrap()
    }

    #[test]
    fn a_zone_that_is_no_interface_here_says_so() {
        let error = resolve("fe80::1%nosuch0", 7).unwrap_err().to_string();
        assert!(
            error.starts_with("fe80::1%nosuch0: there is no interface 'nosuch0' on this machine"),
            "{error}"
        );
        for (host, says) in [
            ("fe80::1%4000000", "no interface number 4000000"),
            ("127.0.0.1%lo", "a zone (%lo) belongs to an IPv6"),
            ("fe80::1%", "the zone after % is empty"),
            (
                "fe80::1",
                "fe80::1 is a link-local address: add the interface",
            ),
        ] {
            let error = resolve(host, 7).unwrap_err().to_string();
            assert!(error.contains(says), "{host}: {error}");
        }
    }

    #[test]
    fn a_host_with_a_port_is_told_to_use_port() {
        let endpoint = |host: &str| Endpoint::<9> {
            host: host.to_owned(),
            port: 9,
        };
        for (host, alone) in [
            ("127.0.0.1:12000", "127.0.0.1"),
            ("localhost:12000", "localhost"),
            ("[::1]:12000", "::1"),
        ] {
            let error = endpoint(host).resolve().unwrap_err().to_string();
            assert_eq!(
                error,
                format!(
                    "--host '{host}' carries a port: give the host alone and the port with \
                     --port (--host {alone} --port 12000)"
                )
            );
        }
        for host in ["::1", "[::1]", "fe80::1:2%lo", "127.0.0.1"] {
            assert!(endpoint(host).resolve().is_ok(), "{host}");
        }
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
            error.contains("already in use (tcp): try another --port, or --port 0"),
            "{error}"
        );
        let udp = udp_socket(address).unwrap();
        bind(&udp, address).unwrap();
        let udp = UdpSocket::from(udp);
        let taken = udp.local_addr().unwrap();
        let again = udp_socket(taken).unwrap();
        let error = bind(&again, taken).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "port {} on 127.0.0.1 is already in use (udp): try another --port, or --port 0",
                taken.port()
            )
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
