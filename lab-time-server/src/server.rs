//! The time server: each TCP connection or UDP datagram is answered with the time,
//! at once, and that is all. No session, no state: the simplest server there is,
//! and the reason it can stay iterative (one accept or recvfrom at a time) and still
//! serve hundreds of clients a second.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use common::connection::survive_accept_error;
use common::report::{Log, Stats};
use common::shutdown::Shutdown;
use common::{datagram, net};

use crate::protocol::{self, DaytimeFormat, NtpTimestamp};
use crate::{Endpoint, Protocol, Transport};

/// Command-line options of `lab-time-server server`.
#[derive(clap::Args, Debug)]
pub struct Options {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Which protocol to serve
    #[arg(long, value_enum, default_value = "daytime")]
    pub protocol: Protocol,
    /// tcp, udp, or both on the same port (SNTP: udp)
    #[arg(long, value_enum, default_value = "both")]
    pub transport: Transport,
    /// How daytime writes the time
    #[arg(long, value_enum, default_value = "ctime")]
    format: DaytimeFormat,
    /// Print only the listening lines, errors and the shutdown summary
    #[arg(short, long)]
    quiet: bool,
}

/// What the server answers, and how it reports.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The protocol served.
    pub protocol: Protocol,
    /// The daytime format.
    pub format: DaytimeFormat,
    /// The log.
    pub log: Log,
}

/// A TCP reply must leave at once: a client that never reads cannot hold the server
/// longer than this (a reply this small always fits in a new socket's buffer anyway).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The server's sockets.
#[derive(Debug)]
pub struct Sockets {
    /// The listening socket, if serving TCP.
    pub tcp: Option<TcpListener>,
    /// The datagram socket, if serving UDP.
    pub udp: Option<UdpSocket>,
}

/// `lab-time-server server`: bind, serve until Ctrl-C.
pub fn run(options: &Options) -> Result<ExitCode> {
    let shutdown = Shutdown::on_signals()?;
    let sockets = bind(&options.endpoint, options.protocol, options.transport)?;
    let service = Service {
        protocol: options.protocol,
        format: options.format,
        log: Log::new(options.quiet),
    };
    serve(sockets, service, &shutdown)?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the sockets the transport asks for; with `both`, UDP gets the TCP port.
pub fn bind(endpoint: &Endpoint, protocol: Protocol, transport: Transport) -> Result<Sockets> {
    let mut address = endpoint.bind_address()?;
    let wants_tcp = protocol != Protocol::Sntp && transport != Transport::Udp;
    let wants_udp = protocol == Protocol::Sntp || transport != Transport::Tcp;
    let tcp = if wants_tcp {
        // socket(SOCK_STREAM), bind(), listen(): a welcoming socket.
        let socket = net::tcp_socket(address)?;
        net::bind(&socket, address)?;
        let listener = net::listen(socket)?;
        address = listener.local_addr()?;
        net::announce(address, "tcp");
        Some(listener)
    } else {
        None
    };
    let udp = if wants_udp {
        // socket(SOCK_DGRAM), bind(): one socket for every client's datagrams.
        let socket = net::udp_socket(address)?;
        net::bind(&socket, address)?;
        let socket = UdpSocket::from(socket);
        // setsockopt(IP_PKTINFO): learn each datagram's destination, to reply from it.
        datagram::receive_destination(&socket)?;
        net::announce(socket.local_addr()?, "udp");
        Some(socket)
    } else {
        None
    };
    Ok(Sockets { tcp, udp })
}

/// Serves TCP on this thread and UDP on another, until shutdown.
pub fn serve(sockets: Sockets, service: Service, shutdown: &Arc<Shutdown>) -> Result<()> {
    let stats = Arc::new(Stats::default());
    let udp_thread = match sockets.udp {
        Some(socket) => {
            shutdown.wake_datagram_socket(&socket)?;
            let (shutdown, stats) = (Arc::clone(shutdown), Arc::clone(&stats));
            Some(thread::spawn(move || {
                serve_udp(&socket, service, &shutdown, &stats)
            }))
        }
        None => None,
    };
    if let Some(listener) = &sockets.tcp {
        shutdown.wake_listener(listener)?;
        serve_tcp(listener, service, shutdown, &stats);
    }
    if let Some(udp_thread) = udp_thread
        && udp_thread.join().is_err()
    {
        bail!("the UDP server thread crashed");
    }
    stats.print_summary();
    Ok(())
}

/// TCP: accept, send the time, close. The server never reads from the client.
fn serve_tcp(listener: &TcpListener, service: Service, shutdown: &Shutdown, stats: &Stats) {
    while !shutdown.is_requested() {
        // accept(): the next client's connection.
        let accepted = net::accept(listener);
        if shutdown.is_requested() {
            break;
        }
        let (mut connection, client) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                survive_accept_error(&error, service.log);
                continue;
            }
        };
        let reply = match service.protocol {
            Protocol::Daytime => protocol::daytime_now(service.format).into_bytes(),
            Protocol::Time => protocol::rfc868_seconds(SystemTime::now())
                .to_be_bytes()
                .to_vec(),
            Protocol::Sntp => continue, // never bound over TCP
        };
        // send(), then close() when `connection` is dropped: the client reads to EOF.
        let sent = connection
            .set_write_timeout(Some(SEND_TIMEOUT))
            .and_then(|()| connection.write_all(&reply));
        match sent {
            Ok(()) => service.log.line(format_args!(
                "{client}: sent the time (tcp)",
                client = net::shown(client)
            )),
            Err(error) => service.log.line(format_args!(
                "{client}: {error}",
                client = net::shown(client)
            )),
        }
        stats.client();
        stats.message();
    }
}

/// UDP: each datagram is answered with one datagram.
fn serve_udp(socket: &UdpSocket, service: Service, shutdown: &Shutdown, stats: &Stats) {
    let mut buffer = vec![0; 65_536];
    while !shutdown.is_requested() {
        // recvmsg(): any datagram (its content only matters to SNTP), its sender, and
        // which of our addresses it was sent to.
        let received = datagram::recv_request(socket, &mut buffer);
        // RFC 4330's receive timestamp: taken as soon as the request is in.
        let arrival = SystemTime::now();
        if shutdown.is_requested() {
            break;
        }
        let Ok(request) = received else {
            continue;
        };
        let client = request.client;
        let Some(reply) = udp_reply(&buffer[..request.length], arrival, service, client) else {
            continue;
        };
        // sendmsg(): the reply goes back to the sender, from the address it wrote to.
        if !datagram::reply_or_warn(socket, &reply, &request, service.log) {
            continue;
        }
        service.log.line(format_args!(
            "{client}: sent the time (udp)",
            client = net::shown(client)
        ));
        stats.datagram_from(client);
    }
}

/// The reply to one datagram; `None` for an SNTP request that is not one (dropped and
/// logged, never answered with garbage).
fn udp_reply(
    request: &[u8],
    arrival: SystemTime,
    service: Service,
    client: SocketAddr,
) -> Option<Vec<u8>> {
    match service.protocol {
        Protocol::Daytime => Some(protocol::daytime_now(service.format).into_bytes()),
        Protocol::Time => Some(
            protocol::rfc868_seconds(SystemTime::now())
                .to_be_bytes()
                .to_vec(),
        ),
        Protocol::Sntp => match protocol::parse_sntp_request(request) {
            Ok(parsed) => {
                let received = NtpTimestamp::from_system_time(arrival);
                // RFC 4330's transmit timestamp: as late as possible before sending.
                let transmit = NtpTimestamp::from_system_time(SystemTime::now());
                Some(protocol::sntp_reply(&parsed, received, transmit).to_vec())
            }
            Err(problem) => {
                service.log.warn(format_args!(
                    "dropped a request from {client}: {problem}",
                    client = net::shown(client)
                ));
                None
            }
        },
    }
}
