//! The system's socket table, as `netstat` / `ss` read it: on Linux, `/proc/net/tcp`,
//! `tcp6`, `udp` and `udp6` (one line per socket of this network namespace). The
//! grader reads it to learn about a server without sending it anything: whether its
//! port is listened on or bound (it is ready), whether another program already holds
//! the port, and what became of one connection's two ends. Elsewhere there is no
//! table: every function returns `None` and the callers fall back (see each).

use std::net::SocketAddr;

/// TCP or UDP: which tables to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `/proc/net/tcp` and `tcp6`.
    Tcp,
    /// `/proc/net/udp` and `udp6`.
    Udp,
}

/// One line of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The local port.
    pub local_port: u16,
    /// The remote port (0 if none).
    pub remote_port: u16,
    /// The state: for TCP, as the kernel numbers them (include/net/tcp_states.h),
    /// 0x01 ESTABLISHED, 0x02 SYN_SENT, 0x06 TIME_WAIT, 0x0A LISTEN.
    pub state: u8,
    /// Bytes sent and not yet acknowledged (TCP), or queued to send (UDP).
    pub tx_queue: u64,
    /// Bytes received and not yet read by the socket's owner (for a TCP listener:
    /// connections waiting to be accepted).
    pub rx_queue: u64,
    /// The socket's inode; 0 once no process holds it (closed, the kernel finishing
    /// the connection alone: FIN_WAIT_2, TIME_WAIT).
    pub inode: u64,
}

impl Row {
    /// TCP's ESTABLISHED.
    pub const ESTABLISHED: u8 = 0x01;
    /// TCP's SYN_SENT: a `connect` waiting for the server's answer.
    pub const SYN_SENT: u8 = 0x02;
    /// TCP's TIME_WAIT (RFC 793).
    pub const TIME_WAIT: u8 = 0x06;
    /// TCP's LISTEN.
    pub const LISTEN: u8 = 0x0A;

    /// One line: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...",
    /// numbers in hex but the inode; `None` for the header or a line cut short.
    pub fn parse(line: &str) -> Option<Row> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |field: &str| u16::from_str_radix(field.rsplit_once(':')?.1, 16).ok();
        let (tx, rx) = fields.get(4)?.split_once(':')?;
        Some(Row {
            local_port: port(fields.get(1)?)?,
            remote_port: port(fields.get(2)?)?,
            state: u8::from_str_radix(fields.get(3)?, 16).ok()?,
            tx_queue: u64::from_str_radix(tx, 16).ok()?,
            rx_queue: u64::from_str_radix(rx, 16).ok()?,
            inode: fields.get(9)?.parse().ok()?,
        })
    }
}

/// Every socket of `transport` (IPv4 and IPv6); `None` where there is no table.
fn rows(transport: Transport) -> Option<Vec<Row>> {
    let tables = match transport {
        Transport::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
        Transport::Udp => ["/proc/net/udp", "/proc/net/udp6"],
    };
    let mut found = false;
    let mut rows = Vec::new();
    for table in tables {
        // A kernel without IPv6 has no tcp6: one table is enough to know.
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        found = true;
        rows.extend(text.lines().skip(1).filter_map(Row::parse));
    }
    found.then_some(rows)
}

/// Is a server ready on `port`: a TCP socket listening on it, or a UDP socket bound
/// to it (a connected UDP socket of a client has a remote port; a server's has none)?
pub fn serving(transport: Transport, port: u16) -> Option<bool> {
    Some(rows(transport)?.iter().any(|row| {
        row.local_port == port
            && match transport {
                Transport::Tcp => row.state == Row::LISTEN,
                Transport::Udp => row.remote_port == 0,
            }
    }))
}

/// Is any TCP socket on this machine bound to `port` (listening, connected, or left by
/// a closed one: FIN_WAIT_2, TIME_WAIT)? Any of them stops a server without
/// `SO_REUSEADDR` from binding it.
pub fn port_taken(port: u16) -> Option<bool> {
    Some(
        rows(Transport::Tcp)?
            .iter()
            .any(|row| row.local_port == port),
    )
}

/// Connections on `port` left in TIME_WAIT (they stop a server without
/// `SO_REUSEADDR` from binding it, for a minute on Linux).
pub fn time_waits(port: u16) -> Option<usize> {
    Some(
        rows(Transport::Tcp)?
            .iter()
            .filter(|row| row.local_port == port && row.state == Row::TIME_WAIT)
            .count(),
    )
}

/// The kernel's queues of the TCP socket on this machine with local port `local` and
/// remote port `remote` (a connection's end, not a listener nor a TIME_WAIT): (bytes
/// sent and not yet acknowledged, bytes received and not yet read). `None` if there
/// is no such socket, or no table.
pub fn tcp_queues(local: u16, remote: u16) -> Option<(u64, u64)> {
    rows(Transport::Tcp)?
        .into_iter()
        .find(|row| {
            row.local_port == local
                && row.remote_port == remote
                && row.state != Row::LISTEN
                && row.state != Row::TIME_WAIT
        })
        .map(|row| (row.tx_queue, row.rx_queue))
}

/// Has the peer read everything we sent on our connection `ours` to `theirs`: our
/// socket has nothing left unacknowledged (it reached the peer's socket) and the
/// peer's socket nothing left unread? The peer must be on this machine (loopback),
/// its end in the same table. `None` where it cannot be seen: no table (not Linux),
/// or either end gone.
pub fn peer_has_read(ours: SocketAddr, theirs: SocketAddr) -> Option<bool> {
    let (unacknowledged, _) = tcp_queues(ours.port(), theirs.port())?;
    let (_, unread) = tcp_queues(theirs.port(), ours.port())?;
    Some(unacknowledged == 0 && unread == 0)
}

/// Has the peer's process let go of its end of our connection `ours` (it closed the
/// socket, and the kernel finishes the connection alone), rather than only shut down
/// its sending side while it still reads? `Some(true)` also when its end is gone;
/// `None` where there is no table, or the peer is not on loopback (its end is then
/// not in our table).
pub fn peer_let_go(ours: SocketAddr, peer: SocketAddr) -> Option<bool> {
    if !peer.ip().is_loopback() {
        return None;
    }
    let rows = rows(Transport::Tcp)?;
    Some(!rows.iter().any(|row| {
        row.local_port == peer.port()
            && row.remote_port == ours.port()
            && row.inode != 0
            && row.state != Row::LISTEN
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_os = "linux")]
    use std::net::{TcpListener, TcpStream, UdpSocket};

    #[test]
    fn a_line_of_the_table_is_read_field_by_field() {
        let line = "   3: 0100007F:2EE0 0100007F:D431 06 00000001:00000002 03:00000F6F \
                    00000000     0        0 0 3 0000000000000000";
        let row = Row::parse(line).unwrap();
        assert_eq!(
            row,
            Row {
                local_port: 12000,
                remote_port: 54321,
                state: Row::TIME_WAIT,
                tx_queue: 1,
                rx_queue: 2,
                inode: 0,
            }
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn listeners_and_bound_datagram_sockets_are_seen_serving() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(serving(Transport::Tcp, port), Some(true));
        drop(listener);
        assert_eq!(serving(Transport::Tcp, port), Some(false));
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        assert_eq!(serving(Transport::Udp, port), Some(true));
        // A client's connected socket is not a server.
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(socket.local_addr().unwrap()).unwrap();
        let client_port = client.local_addr().unwrap().port();
        assert_eq!(serving(Transport::Udp, client_port), Some(false));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_peer_that_closed_has_let_go_and_one_that_shut_down_has_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        let (local, peer) = (ours.local_addr().unwrap(), ours.peer_addr().unwrap());
        assert_eq!(peer_let_go(local, peer), Some(false));
        theirs.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(peer_let_go(local, peer), Some(false));
        drop(theirs);
        // The close takes effect once no process holds the socket: a child another
        // test forks holds it until its exec (close-on-exec); bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while peer_let_go(local, peer) != Some(true) {
            assert!(std::time::Instant::now() < deadline, "never let go");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
