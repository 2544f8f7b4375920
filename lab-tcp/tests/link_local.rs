//! lab-tcp over IPv6 link-local addresses with their zone (`fe80::a%vB`), between two
//! network namespaces joined by a veth pair (`common::netns`): the zone, by name or
//! by number, must reach `connect()`, and every address printed keeps it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::netns::{Link, Side};
use common::testkit::{Signal, assert_error_line};

const BIN: &str = env!("CARGO_BIN_EXE_lab-tcp");

#[test]
fn client_and_check_reach_a_link_local_server_by_its_zone_and_the_log_shows_theirs() {
    let Some(link) = Link::create() else { return };
    // The server in namespace a, on every address (dual stack).
    let server = link.server(Side::A, BIN, &["--host", "::"]);
    let port = server.address().port().to_string();
    // From namespace b, the zone as a name, then as a number.
    let by_number = format!("{}%{}", Side::A.ip(), link.index(Side::B));
    for host in [link.peer_host(Side::B), by_number] {
        let client = ["client", "--host", &host, "--port", &port];
        let output = link.run(Side::B, BIN, &[&client[..], &["hi"]].concat(), b"");
        assert!(output.status.success(), "{host}: {output:?}");
        assert_eq!(output.stdout, b"HI\n", "{host}");
        // The server names its link-local client with its zone, by name.
        let connected = server.wait_for_line("New client connected from");
        assert!(
            connected.starts_with("New client connected from [fe80::b%vA]:"),
            "{connected}"
        );
        // Piped input: batch mode, over the same zone.
        let output = link.run(Side::B, BIN, &client, b"one\ntwo\n");
        assert!(output.status.success(), "{host}: {output:?}");
        assert_eq!(output.stdout, b"ONE\nTWO\n", "{host}");
    }

    // The grader, with the zone in --target.
    let target = format!("[{}]:{port}", link.peer_host(Side::B));
    let output = link.run(Side::B, BIN, &["check", "--target", &target], b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Without its zone, a link-local address is a mistake said in words (the kernel
    // says only "Invalid argument").
    let zoneless = Side::A.ip().to_string();
    let client = ["client", "--host", &zoneless, "--port", &port, "hi"];
    let output = link.run(Side::B, BIN, &client, b"");
    assert_error_line(
        &output,
        "fe80::a is a link-local address: add the interface",
    );
    server.assert_stops_cleanly(Signal::SIGINT);
}

#[test]
fn a_server_bound_to_a_link_local_address_says_so_and_stops_on_ctrl_c() {
    let Some(link) = Link::create() else { return };
    let server = link.server_on_link(Side::A, BIN, &[]);
    let port = server.address().port().to_string();
    let client = [
        "client",
        "--host",
        &link.peer_host(Side::B),
        "--port",
        &port,
        "hi",
    ];
    let output = link.run(Side::B, BIN, &client, b"");
    assert_eq!(output.stdout, b"HI\n", "{output:?}");
    // Ctrl-C wakes its accept() by connecting to it: to the zoned address.
    server.assert_stops_cleanly(Signal::SIGINT);
}
