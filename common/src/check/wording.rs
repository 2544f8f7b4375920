//! Socket errors in a check's detail, in plain words that say what happened and what
//! to do, never a raw OS text such as `Resource temporarily unavailable (os error 11)`
//! (a read timeout, as Linux reports it: `EAGAIN`, Stevens UNP 14.2).
//!
//! The checks wrap their own connects and reads with [`connect_failed`] and
//! [`reply_failed`]; [`detail`] renders whatever else reached the runner (a `?` on a
//! `send`) the same way.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::anyhow;

/// A failed `connect()` to the server under check at `target`.
pub fn connect_failed(error: &io::Error, target: SocketAddr, timeout: Duration) -> anyhow::Error {
    match error.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => anyhow!(
            "no answer to a connection to {target} within {:.1} s: the server is not \
             accepting, and its listen backlog is full (it calls accept() too seldom, or \
             listen() got a small backlog), or a firewall drops the connection",
            timeout.as_secs_f64(),
            target = crate::net::shown(target)
        ),
        _ => anyhow!("cannot connect: {}", in_words(error, Some(target))),
    }
}

/// A failed `recv()` of a reply from `target`, each read bounded by `timeout`.
pub fn reply_failed(error: &io::Error, target: SocketAddr, timeout: Duration) -> anyhow::Error {
    match error.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            anyhow!("no reply within {:.1} s", timeout.as_secs_f64())
        }
        _ => anyhow!("no reply: {}", in_words(error, Some(target))),
    }
}

/// What `error`, met on a socket talking to `target` (when known), means, in a few
/// words.
pub fn in_words(error: &io::Error, target: Option<SocketAddr>) -> String {
    let server = target.map_or_else(
        || "the server".to_owned(),
        |target| crate::net::shown(target).to_string(),
    );
    match error.kind() {
        // TCP: a RST to our SYN; UDP: an ICMP port unreachable for an earlier datagram.
        ErrorKind::ConnectionRefused => match target {
            Some(target) => format!(
                "connection refused: is the server running on {target}?",
                target = crate::net::shown(target)
            ),
            None => "connection refused: is the server running?".to_owned(),
        },
        ErrorKind::ConnectionReset => "the server reset the connection".to_owned(),
        ErrorKind::ConnectionAborted => "the connection was aborted".to_owned(),
        ErrorKind::BrokenPipe => {
            "the server closed the connection while we were still sending".to_owned()
        }
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "no answer within the timeout".to_owned(),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            format!("{server} is unreachable: check the host and the network")
        }
        ErrorKind::AddrNotAvailable => {
            format!("{server} is not at an address this machine can reach")
        }
        _ => without_os_code(error),
    }
}

/// The rest: the OS's sentence without its ` (os error N)` tail.
fn without_os_code(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_lowercase(),
        None => text,
    }
}

/// A check's error as its detail: the chain of causes joined by `: ` (as `{:#}`
/// would), each I/O error among them in plain words.
pub fn detail(error: &anyhow::Error, target: Option<SocketAddr>) -> String {
    error
        .chain()
        .map(|cause| match cause.downcast_ref::<io::Error>() {
            Some(io) => in_words(io, target),
            None => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    #[test]
    fn a_read_timeout_is_no_reply_within_the_timeout() {
        let eagain = io::Error::from_raw_os_error(nix::libc::EAGAIN);
        let text = reply_failed(&eagain, target(), Duration::from_secs(2)).to_string();
        assert_eq!(text, "no reply within 2.0 s");
    }

    #[test]
    fn a_refusal_is_not_a_timeout_and_names_the_server() {
        let refused = io::Error::from_raw_os_error(nix::libc::ECONNREFUSED);
        let text = reply_failed(&refused, target(), Duration::from_secs(2)).to_string();
        assert_eq!(
            text,
            "no reply: connection refused: is the server running on 127.0.0.1:1?"
        );
        let text = connect_failed(&refused, target(), Duration::from_secs(2)).to_string();
        assert!(!text.contains("os error"), "{text}");
    }

    #[test]
    fn any_io_error_in_a_chain_loses_its_os_code() {
        let error = anyhow::Error::from(io::Error::from_raw_os_error(nix::libc::EPIPE))
            .context("cannot send");
        assert_eq!(
            detail(&error, Some(target())),
            "cannot send: the server closed the connection while we were still sending"
        );
        let odd = anyhow::Error::from(io::Error::from_raw_os_error(nix::libc::EMSGSIZE));
        assert_eq!(detail(&odd, None), "message too long");
    }
}
