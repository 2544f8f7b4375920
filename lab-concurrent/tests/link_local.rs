//! `bench --target` with an IPv6 link-local address and its zone, between two network
//! namespaces joined by a veth pair (`common::netns`): the zone must reach each
//! load connection's `connect()`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use common::netns::{Link, Side};
use common::testkit::Signal;

const BIN: &str = env!("CARGO_BIN_EXE_lab-concurrent");

#[test]
fn bench_loads_a_link_local_target_by_its_zone() {
    let Some(link) = Link::create() else { return };
    let server = link.server(
        Side::A,
        BIN,
        &["--model", "thread", "--host", "::", "--quiet"],
    );
    let target = format!("[{}]:{}", link.peer_host(Side::B), server.address().port());
    let bench = [
        "bench",
        "--target",
        &target,
        "--clients",
        "2",
        "--messages",
        "10",
        "--json",
    ];
    let output = link.run(Side::B, BIN, &bench, b"");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["messages"], 20, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    server.assert_stops_cleanly(Signal::SIGINT);
}
