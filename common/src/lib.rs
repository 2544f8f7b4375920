//! What every socket lab shares, and nothing lab-specific.
//!
//! # Layout
//!
//! - [`admission`]: `--max-clients`: at most N sessions at once, freed on drop.
//! - [`net`]: `--host`/`--port`, resolving, Stevens-style `socket`/`bind`/`listen`/
//!   `accept`/`connect` wrappers whose errors say what to do, the listening line,
//!   addresses as people read them (IPv4-mapped shown plain).
//! - [`upper`]: uppercasing bytes exactly like Python's `str.upper()`, streaming.
//! - [`session`]: the uppercase protocol of one TCP connection as a state machine
//!   with no I/O (bare messages, lines, `quit`), driven by every TCP server.
//! - [`connection`]: one client's session over a blocking socket (recv, protocol, send).
//! - [`tcp_checks`]: the conformance checks of a TCP uppercase server.
//! - [`shutdown`]: Ctrl-C / SIGTERM that really wakes a blocked `accept` or `recv`;
//!   Ctrl-C in a client: exit 130 at once, whatever it waits for.
//! - [`report`]: the server log and the shutdown summary.
//! - [`input`]: a client's messages, from arguments or standard input.
//! - [`line_client`]: a TCP client's exchange of one line for one reply.
//! - [`datagram`]: a UDP server's recvmsg/sendmsg that answer from the address each
//!   request was sent to (`IP_PKTINFO`, UNP 22.2).
//! - [`udp_client`]: a UDP client's request with timeout and retries.
//! - [`check`]: the runner behind every lab's `check` and `check-client`: running a
//!   submission in its own process group, scripted servers, text/JSON/JUnit/Gradescope reports.
//! - [`cli`]: durations in seconds, printing results (`outln!`: a closed stdout ends
//!   the program as SIGPIPE would), `error: ...` and exit codes.
//! - `testkit` (feature `testkit`): spawning lab binaries in end-to-end tests.
//! - `netns` (feature `testkit`): two network namespaces joined by a veth pair, for
//!   tests over IPv6 link-local addresses.

pub mod admission;
pub mod check;
pub mod cli;
pub mod connection;
pub mod datagram;
pub mod input;
pub mod line_client;
pub mod net;
#[cfg(feature = "testkit")]
pub mod netns;
pub mod report;
pub mod session;
pub mod shutdown;
pub mod tcp_checks;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod udp_client;
pub mod upper;
