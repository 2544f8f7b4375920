//! lab-hi-hello's peer over IPv6 link-local addresses with their zone, between two
//! network namespaces joined by a veth pair (`common::netns`): two laptops on one
//! link with no router, each naming the other by its address and the interface the
//! packets leave by.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::netns::{Link, Side};
use common::testkit::{RunningProcess, WAIT};

const BIN: &str = env!("CARGO_BIN_EXE_lab-hi-hello");

/// Reads `peer`'s lines until `expected`; fails after [`WAIT`] per line.
fn expect_line(peer: &RunningProcess, expected: &str) {
    let mut seen = Vec::new();
    while let Some(line) = peer.next_line() {
        if line == expected {
            return;
        }
        seen.push(line);
    }
    panic!("no {expected:?} within {WAIT:?}; printed {seen:?}");
}

#[test]
fn peers_on_link_local_addresses_greet_and_talk_zone_by_name_and_by_number() {
    let Some(link) = Link::create() else { return };
    // Each namespace is the test's own: no other program holds a port in it.
    let a_bind = format!("[{}%{}]:5050", Side::A.ip(), Side::A.interface());
    let a_peer = format!("[{}]:5051", link.peer_host(Side::A));
    // b gives its zone as a number, for its own address and the other's.
    let b_index = link.index(Side::B);
    let b_bind = format!("[{}%{b_index}]:5051", Side::B.ip());
    let b_peer = format!("[{}%{b_index}]:5050", Side::A.ip());
    let peer = |side, bind: &str, other: &str| {
        let args = ["peer", "--bind", bind, "--peer", other, "--wait", "10"];
        RunningProcess::start("ip", &link.exec_args(side, BIN, &args))
    };
    let mut a = peer(Side::A, &a_bind, &a_peer);
    let b = peer(Side::B, &b_bind, &b_peer);
    // Each shows the other with the zone by name, whatever form it was given in.
    expect_line(&a, "connected to [fe80::b%vA]:5051");
    expect_line(&b, "connected to [fe80::a%vB]:5050");
    a.type_in(b"hello over the link\n");
    expect_line(&b, "[fe80::a%vB]:5050: hello over the link");
    // A line too long for one datagram is skipped, with the limit in words, and the
    // conversation goes on (the peer used to end on it without a word).
    a.type_in(format!("{}\nstill here\n", "x".repeat(70_000)).as_bytes());
    expect_line(&b, "[fe80::a%vB]:5050: still here");
    a.close_stdin();
    expect_line(&b, "[fe80::a%vB]:5050 said bye");
    let (status, _, stderr) = a.wait();
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stderr,
        "warning: line not sent: 70000 bytes, one datagram holds at most 65523 bytes of \
         text; split it into shorter lines\n"
    );
    let (status, _, stderr) = b.wait();
    assert!(status.success(), "{stderr}");
}
