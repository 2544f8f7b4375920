//! lab-udp over IPv6 link-local addresses with their zone (`fe80::a%vB`), between two
//! network namespaces joined by a veth pair (`common::netns`): the zone, by name or
//! by number, must reach `connect()`/`sendto()`, and every address printed keeps it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::netns::{Link, Side};
use common::testkit::Signal;

const BIN: &str = env!("CARGO_BIN_EXE_lab-udp");

#[test]
fn the_client_reaches_a_link_local_server_by_its_zone_and_the_log_shows_the_clients() {
    let Some(link) = Link::create() else { return };
    // The server bound to its own link-local address, zone included.
    let server = link.server_on_link(Side::A, BIN, &[]);
    let port = server.address().port().to_string();
    let by_number = format!("{}%{}", Side::A.ip(), link.index(Side::B));
    for host in [link.peer_host(Side::B), by_number] {
        let client = ["client", "--host", &host, "--port", &port];
        let args = [&client[..], &["hi"]].concat();
        let output = link.run(Side::B, BIN, &args, b"");
        assert!(output.status.success(), "{host}: {output:?}");
        assert_eq!(output.stdout, b"HI\n", "{host}");
        // The server's log names the client with its zone, by name.
        let logged = server.wait_for_line(": hi");
        assert!(logged.starts_with("[fe80::b%vA]:"), "{logged}");
        let output = link.run(Side::B, BIN, &client, b"one\ntwo\n");
        assert_eq!(output.stdout, b"ONE\nTWO\n", "{host}: {output:?}");
    }
    server.assert_stops_cleanly(Signal::SIGINT);
}
