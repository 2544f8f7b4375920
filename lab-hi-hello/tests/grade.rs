//! `lab-hi-hello grade`: wired to this lab's `check`, its `--transport` passed on;
//! our own server graded as a class of one gets every point.
#![allow(missing_docs)]

use common::check::grade::testkit::assert_grade_passes_our_server;

const BIN: &str = env!("CARGO_BIN_EXE_lab-hi-hello");

#[test]
fn grade_passes_transport_on_and_gives_our_udp_server_every_point() {
    let server = format!("{BIN} server --transport udp --host {{host}} --port {{port}}");
    assert_grade_passes_our_server(BIN, &server, &["--transport", "udp"]);
}
